"""Named errors: every failure a user can cause names the bad input in one line.

The CLI prints `str(error)` and exits non-zero; no traceback for these.
"""


class StrataError(Exception):
    """Base class: a failure caused by input, not by a bug in ai-strata."""

    exit_code = 2


class SourceError(StrataError):
    """A repository source (path, bare repo, mirror or URL) cannot be read."""


class CorpusError(StrataError):
    """The corpus manifest is missing, malformed or inconsistent."""


class GitError(StrataError):
    """git itself failed on a repository (corrupt object, unknown revision, ...)."""


class DatabaseError(StrataError):
    """The DuckDB file is locked, from another schema, or lacks a stage's tables."""


class QueryError(StrataError):
    """A user query failed or tried to write."""


class StageError(StrataError):
    """A stage cannot run: its input tables are empty or missing."""


class LabelError(StrataError):
    """An annotation, key or adjudication file of the labelled dev set is malformed or incomplete."""


class PrivacyError(StrataError):
    """A release would contain message text, names, emails, code or local paths."""


class OutputError(StrataError):
    """An output path would destroy data the command did not create (use --force), or is unwritable."""


class ToolError(StrataError):
    """ai-strata itself (or the machine: disk full, a worker killed) failed, not the input."""

    exit_code = 1


#: errno values that mean "the path the user named is wrong" (exit 2); any other OSError is the
#: machine's (disk full, I/O error: exit 1)
INPUT_ERRNOS = frozenset(
    {
        "ENOENT",
        "ENOTDIR",
        "EISDIR",
        "EACCES",
        "EPERM",
        "ELOOP",
        "EROFS",
        "EEXIST",
        "ENAMETOOLONG",
        "ENOTEMPTY",
    }
)


def describe(exc: BaseException) -> tuple[int, str] | None:
    """(exit code, one line) for an error a user can meet, None for a bug.

    Exit 2: the input named in the line is wrong. Exit 1: the tool or the machine failed.
    """
    import errno

    if isinstance(exc, StrataError):
        return exc.exit_code, str(exc)
    if isinstance(exc, OSError) and exc.errno is not None:
        name = errno.errorcode.get(exc.errno, "")
        what = exc.filename if exc.filename is not None else "strata"
        reason = "symlink loop" if name == "ELOOP" else (exc.strerror or str(exc)).lower()
        if exc.filename2 is not None:
            what = f"{what} -> {exc.filename2}"
        return (2 if name in INPUT_ERRNOS else 1), f"{what}: {reason}"
    try:
        import duckdb
    except ImportError:  # pragma: no cover
        return None
    if isinstance(exc, duckdb.Error):
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        bad_input = isinstance(exc, duckdb.IOException) and any(
            s in text.lower()
            for s in ("permission denied", "read-only", "no such file", "is a directory")
        )
        return (2 if bad_input else 1), f"database: {text}"
    if isinstance(exc, MemoryError):
        return 1, "out of memory (try fewer --jobs)"
    if isinstance(exc, UnicodeDecodeError):
        return 2, f"an input file is not UTF-8 text ({exc.reason} at byte {exc.start})"
    from concurrent.futures.process import BrokenProcessPool
    from subprocess import TimeoutExpired

    if isinstance(exc, BrokenProcessPool):
        return (
            1,
            "a worker process died (killed, or out of memory); rerun to resume, perhaps with fewer --jobs",
        )
    if isinstance(exc, TimeoutExpired):
        return (
            1,
            f"{exc.cmd[0] if isinstance(exc.cmd, list | tuple) else exc.cmd}: timed out after {exc.timeout:.0f} s",
        )
    return None
