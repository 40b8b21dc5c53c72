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
