"""Run git safely and reproducibly against a repository we must not modify.

Why a wrapper: user and system git config (diff.renames, log.showSignature, textconv drivers,
mailmap settings) would silently change what we measure, and mirrors from `fetch` have an empty
config that makes git guess a work tree. Every call here names the git directory explicitly,
ignores global/system config, never runs external diff or textconv programs, and never lazily
fetches missing blobs from a promisor remote.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

from mining.errors import GitError, SourceError

_SAFE_ENV = {
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
    "GIT_NO_LAZY_FETCH": "1",  # git >= 2.44; older gits have no promisor remote in our mirrors
    "GIT_OPTIONAL_LOCKS": "0",
    "LC_ALL": "C",
    "LANG": "C",
}
# Command-line config is "protected": it is the only way to trust repos owned by another user.
_SAFE_CONFIG = [
    "-c",
    "safe.directory=*",
    "-c",
    "core.quotepath=false",
    "-c",
    "log.showSignature=false",
]

_REV_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/@{}^~:+-]*$")


def git_env() -> dict[str, str]:
    """The environment every git child process gets."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_")}
    env.update(_SAFE_ENV)
    return env


def git_argv(git_dir: str | Path, args: Sequence[str]) -> list[str]:
    """Full argv for `git` against `git_dir` (never a work tree: we only read objects)."""
    return ["git", f"--git-dir={git_dir}", *_SAFE_CONFIG, *args]


def run_git(
    git_dir: str | Path,
    args: Sequence[str],
    *,
    input: bytes | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[bytes]:
    """Run git to completion and return bytes; raise GitError naming the repo on failure."""
    proc = subprocess.run(
        git_argv(git_dir, args), input=input, capture_output=True, env=git_env(), check=False
    )
    if check and proc.returncode != 0:
        raise GitError(f"{git_dir}: git {subcommand(args)} failed: {first_error_line(proc.stderr)}")
    return proc


def git_text(git_dir: str | Path, args: Sequence[str]) -> str:
    """Run git and return stdout as stripped text (for short answers: shas, ref names)."""
    return run_git(git_dir, args).stdout.decode("utf-8", "replace").strip()


def stream_git(
    git_dir: str | Path, args: Sequence[str], *, stdin_data: bytes | None = None
) -> Iterator[bytes]:
    """Yield git's stdout in chunks as it is produced (bounded memory for any history size).

    Raises GitError after the stream ends if git exited non-zero; the caller decides whether the
    partial output is usable (see crawl's missing-blob recovery).
    """
    proc = subprocess.Popen(
        git_argv(git_dir, args),
        stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=git_env(),
        bufsize=0,
    )
    import threading

    err_chunks: list[bytes] = []

    def _drain_stderr() -> None:
        assert proc.stderr is not None
        err_chunks.append(proc.stderr.read())

    def _feed_stdin() -> None:
        assert proc.stdin is not None
        try:
            proc.stdin.write(stdin_data or b"")
            proc.stdin.close()
        except BrokenPipeError:
            pass

    t_err = threading.Thread(target=_drain_stderr, daemon=True)
    t_err.start()
    t_in = None
    if stdin_data is not None:
        t_in = threading.Thread(target=_feed_stdin, daemon=True)
        t_in.start()
    assert proc.stdout is not None
    try:
        while True:
            chunk = proc.stdout.read(1 << 20)
            if not chunk:
                break
            yield chunk
    finally:
        if proc.poll() is None and proc.stdout is not None:
            # consumer stopped early (error or interrupt): do not leave git running
            proc.stdout.close()
            proc.kill()
        rc = proc.wait()
        t_err.join(timeout=5)
        if t_in is not None:
            t_in.join(timeout=5)
    if rc != 0:
        raise GitError(
            f"{git_dir}: git {subcommand(args)} failed: {first_error_line(b''.join(err_chunks))}"
        )


T = TypeVar("T")


def stream_each_commit(
    git_dir: str | Path,
    args: Sequence[str],
    shas: Sequence[str],
    parse: Callable[[Iterator[bytes]], Iterator[T]],
    alone: Callable[[str], T],
) -> Iterator[T]:
    """`parse` of one `git <args>` reading `shas` on stdin (`--stdin` in `args`), one item per
    commit in their order. If git stops part-way (a blob missing from a partial clone), the
    first commit not yet parsed is read by `alone(sha)` and the stream resumes after it: git
    prints a commit only once its diff is computed, so that is the commit it stopped at or the
    one it printed whole just before. Each commit's item thus never depends on its batch.
    """
    pending = list(shas)
    while pending:
        stdin = ("\n".join(pending) + "\n").encode()
        done = 0
        try:
            for item in parse(stream_git(git_dir, args, stdin_data=stdin)):
                done += 1
                yield item
            return
        except GitError:
            pass
        if done < len(pending):
            yield alone(pending[done])
        pending = pending[done + 1 :]


def full_commit_ids(git_dir: str | Path, shas: list[str]) -> list[str]:
    """The full ids of the listed commits, each once, in the listing's order; an annotated
    tag's id (what `git rev-parse TAG` prints) stands for its commit.

    Why: the readers stream the list through git, which itself prints a repeated commit
    once; when they resume after a commit a partial clone cannot read, they count positions in
    the list, so a repeat (or an abbreviation of a listed id) there would shift every row after it.
    """
    bad = [s for s in shas if not re.fullmatch(r"[0-9a-fA-F]{4,64}", s)]
    if bad:
        shown = bad[0] if len(bad[0]) <= 80 else bad[0][:80] + "…"  # a binary file is one line
        raise SourceError(f"{shown!r}: not a commit id (hex digits expected)")
    kinds = _object_kinds(git_dir, shas)
    tags = [oid for oid, kind in kinds if kind == "tag"]
    peeled = dict(zip(tags, _object_kinds(git_dir, [f"{t}^{{commit}}" for t in tags]), strict=True))
    full: list[str] = []
    for sha, (oid, kind) in zip(shas, kinds, strict=True):
        if kind == "tag":
            oid, kind = peeled[oid]
        if kind == "ambiguous":
            raise SourceError(f"{git_dir}: {sha} is ambiguous here (give more digits)")
        if kind != "commit":
            what = "not in this repository" if kind == "missing" else f"a {kind}"
            if kind == "missing" and (common_dir(git_dir) / "shallow").is_file():
                what += " (a shallow clone: git fetch --unshallow brings older commits)"
            raise SourceError(f"{git_dir}: {sha} is {what}, not a commit")
        full.append(oid)
    return list(dict.fromkeys(full))


def _object_kinds(git_dir: str | Path, names: list[str]) -> list[tuple[str, str]]:
    """(object id, type) of each name (`ambiguous` or `missing` as type when git says so)."""
    if not names:
        return []
    proc = run_git(git_dir, ["cat-file", "--batch-check"], input=("\n".join(names) + "\n").encode())
    parts = [ln.split() for ln in proc.stdout.decode("utf-8", "replace").splitlines()]
    return [
        (p[0], p[1]) if len(p) >= 2 else (name, "missing")
        for name, p in zip(names, parts, strict=True)
    ]


def subcommand(args: Sequence[str]) -> str:
    """The git subcommand in `args`, skipping leading `-c key=value` options (for messages)."""
    i = 0
    while i < len(args) and args[i].startswith("-"):
        i += 2 if args[i] == "-c" else 1
    return args[i] if i < len(args) else "?"


def first_error_line(stderr: bytes) -> str:
    """The most telling line of git's stderr (fatal/error lines first)."""
    lines = [ln.strip() for ln in stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
    for ln in lines:
        if ln.startswith(("fatal:", "error:")):
            return ln
    return lines[0] if lines else "(no message)"


def validate_rev(rev: str) -> str:
    """Reject revisions that git could read as options or that contain odd characters."""
    if not rev or rev.startswith("-") or not _REV_RE.fullmatch(rev) or ".." in rev:
        raise SourceError(
            f"{rev!r}: not an acceptable revision (letters, digits, ._/@{{}}^~:+- only)"
        )
    return rev


def common_dir(git_dir: str | Path) -> Path:
    """Where objects, shallow and packs live: the git dir itself, or a linked worktree's commondir."""
    g = Path(git_dir)
    link = g / "commondir"
    if link.is_file():
        target = Path(link.read_text(encoding="utf-8", errors="replace").strip())
        return target if target.is_absolute() else (g / target).resolve()
    return g


def resolve_git_dir(path: str | Path) -> Path:
    """Return the git directory for a work tree, a bare repo or a bare mirror with empty config.

    Raises SourceError naming the path when it does not exist or is no git repository.
    """
    p = Path(path).expanduser()
    if not p.exists():
        raise SourceError(f"{path}: no such file or directory")
    if not p.is_dir():
        raise SourceError(f"{path}: not a directory")
    candidates = []
    dotgit = p / ".git"
    if dotgit.is_dir():
        candidates.append(dotgit)
    elif dotgit.is_file():  # worktree or submodule: "gitdir: <path>"
        text = dotgit.read_text(encoding="utf-8", errors="replace").strip()
        if text.startswith("gitdir:"):
            target = Path(text.split(":", 1)[1].strip())
            candidates.append(target if target.is_absolute() else (p / target).resolve())
    candidates.append(p)
    for cand in candidates:
        # a linked worktree's git dir has its own HEAD and shares objects via `commondir`
        if (cand / "HEAD").is_file() and (
            (cand / "objects").is_dir() or (cand / "commondir").is_file()
        ):
            proc = subprocess.run(
                git_argv(cand, ["rev-parse", "--git-dir"]),
                capture_output=True,
                env=git_env(),
                check=False,
            )
            if proc.returncode == 0:
                return cand.resolve()
            raise SourceError(
                f"{path}: not a readable git repository: {first_error_line(proc.stderr)}"
            )
    raise SourceError(f"{path}: not a git repository (no HEAD and objects/ in it or in .git)")
