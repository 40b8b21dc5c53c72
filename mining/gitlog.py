"""Read a repository's history: the one place that resolves heads, lists and streams commits,
and finds the blobs a partial clone lacks (crawl, build and blame read git through it).

Why one module: every reader must agree on what a commit is (the same `git log` options and
parser, mining.logparse), on the repository's .mailmap (named explicitly: we read git dirs, not
work trees), and on what an unreadable object means (absent by design in a partial clone,
damage otherwise). `mining.gitcmd` runs git safely; this module decides what to ask it.
"""

from __future__ import annotations

import os
import queue
import re
import threading
from collections.abc import Callable, Generator, Iterator, Sequence
from concurrent.futures import Future
from pathlib import Path
from typing import TypeVar

from mining.errors import GitError, SourceError
from mining.gitcmd import common_dir, run_git, stream_git, validate_rev
from mining.logparse import LOG_ARGS, LOG_FORMAT, CommitRecord, LogParseError, parse_log

#: a tree-only diff of each commit: the paths and blob ids it touches, no blob read
_TREE_DIFF = ["log", "-z", "--raw", "--no-renames", "--no-abbrev", "--diff-merges=off"]
#: the same commits, without line counts or rename detection: needs no blob, only trees.
RAW_ARGS = [*_TREE_DIFF, "--no-use-mailmap", "--date=raw", f"--format={LOG_FORMAT}"]
#: each commit's id and the blobs its diff reads, nothing else (trees only, no blob is read)
BLOB_ARGS = [*_TREE_DIFF, "--format=%x1e%H"]
NULL_OID = "0" * 40
GITLINK_MODE = "160000"  # a submodule entry names a commit of another repository, never a blob
#: commit metadata only (no diff): what attribution reads of a commit
META_ARGS = ["log", "-z", "--no-use-mailmap", "--date=raw", f"--format={LOG_FORMAT}"]
T = TypeVar("T")
#: below this many commits one git process is faster than splitting the list
PARALLEL_MIN_COMMITS = 2000
#: what git says when it cannot read an object (absent from a partial clone, or damaged)
_UNREADABLE_RE = re.compile(
    r"unable to read|could not read|cannot read|missing blob|bad object|invalid object"
    r"|loose object .* is corrupt|packfile .* cannot be accessed",
    re.IGNORECASE,
)


#: what git says when an object it has is damaged (never absent by design)
_DAMAGED_RE = re.compile(r"corrupt|inflate|unable to unpack", re.IGNORECASE)


def unreadable_object(stderr: str) -> bool:
    """Whether git failed because it could not read an object (the caller decides whether that
    object is absent by design or damaged)."""
    return bool(_UNREADABLE_RE.search(stderr))


def damaged_object(stderr: str) -> bool:
    """Whether git's message says an object is there but damaged (never a partial clone's
    absent blob, so never something to stub or skip)."""
    return bool(_DAMAGED_RE.search(stderr))


# --- heads and commit lists -----------------------------------------------------------------


def resolve_head(git_dir: Path, rev: str) -> str:
    """The commit `rev` names; SourceError for an empty repository or unknown revision."""
    validate_rev(rev)
    proc = run_git(
        git_dir,
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
        check=False,
    )
    if proc.returncode != 0:
        if rev == "HEAD":
            has_any = run_git(
                git_dir, ["for-each-ref", "--count=1", "refs/"], check=False
            ).stdout.strip()
            if not has_any:
                raise SourceError(f"{git_dir}: empty repository (no commits)")
            raise SourceError(
                f"{git_dir}: HEAD does not point to a commit (no default branch?); pass --rev"
            )
        raise SourceError(f"{git_dir}: unknown revision {rev!r}")
    return proc.stdout.decode().strip()


def list_commits(git_dir: Path, head: str, *, first_parent: bool = False) -> list[str]:
    """All commits reachable from `head`, newest first (git rev-list order)."""
    args = ["rev-list", *(["--first-parent"] if first_parent else []), head]
    out = run_git(git_dir, args).stdout
    return out.decode().split()


def topo_graph(git_dir: Path, head: str) -> tuple[dict[str, tuple[str, ...]], dict[str, int]]:
    """({sha: parents}, {sha: position}) of the history of `head` in topological order (0 =
    newest, parents after their children): what agent-branch credit walks."""
    listing = run_git(git_dir, ["rev-list", "--topo-order", "--parents", head, "--"]).stdout
    parents: dict[str, tuple[str, ...]] = {}
    order: dict[str, int] = {}
    for i, line in enumerate(listing.decode().splitlines()):
        parts = line.split()
        parents[parts[0]] = tuple(parts[1:])
        order[parts[0]] = i
    return parents, order


def shallow_cuts(git_dir: Path) -> set[str]:
    """Commits whose parents a shallow clone cut off (empty for a full clone)."""
    shallow = common_dir(git_dir) / "shallow"
    if not shallow.is_file():
        return set()
    return set(shallow.read_text(encoding="ascii", errors="replace").split())


def check_not_shallow(git_dir: Path, shas: Sequence[str]) -> None:
    """Refuse a shallow clone whose cut-off commits are in the history: git shows them as root
    commits that add every file, which would silently inflate their size and hide their parents."""
    cut = shallow_cuts(git_dir) & set(shas)
    if cut:
        raise SourceError(
            f"{git_dir}: shallow clone ({len(cut)} commits have their parents cut off); "
            "crawl a full clone (git fetch --unshallow)"
        )


def mailmap_config(rev: str | None) -> list[str]:
    """git applies a repository's .mailmap only from a work tree; we read git dirs, so name the
    blob explicitly (read from the crawled revision; a missing .mailmap is silently empty)."""
    return ["-c", f"mailmap.blob={rev}:.mailmap"] if rev else []


# --- commit metadata (no diffs) ---------------------------------------------------------------


def commit_metadata(
    git_dir: Path, revs: Sequence[str], *, mailmap_rev: str | None = None, merges_only: bool = False
) -> Iterator[CommitRecord]:
    """Commits of `revs` (e.g. ["to", "^from"]) with the crawl's identities and messages, no
    file rows: the fields attribution reads, as the crawl stores them."""
    args = [
        *mailmap_config(mailmap_rev),
        *META_ARGS,
        *(["--merges"] if merges_only else []),
        *revs,
        "--",
    ]
    return parse_log(stream_git(git_dir, args))


def paths_touched(git_dir: Path, to: str, from_rev: str) -> set[str]:
    """Paths any commit in from..to changed (merges against every parent)."""
    out = run_git(
        git_dir,
        ["log", "-m", "--no-renames", "--name-only", "-z", "--format=", to, f"^{from_rev}", "--"],
    ).stdout
    return {
        p.strip(b"\n").decode("utf-8", "surrogateescape")
        for p in out.split(b"\x00")
        if p.strip(b"\n")
    }


# --- the crawl's stream -----------------------------------------------------------------------


def iter_commits(
    git_dir: Path,
    shas: Sequence[str],
    *,
    streams: int = 2,
    mailmap_rev: str | None = None,
    absent_check: Future[tuple[set[str], set[str]]] | None = None,
) -> Iterator[CommitRecord]:
    """Stream the given commits with their file rows (in no particular order).

    Large lists are split into `streams` contiguous parts read by parallel `git log` processes:
    git's line counting is most of the cost and uses one core per process (mining-notes: two
    streams take about half the time of one). Each part is read by `_read_part`. `absent_check`
    is a `start_absent_check` begun earlier over a history holding `shas` (else it runs here).
    """
    shas = list(shas)
    cfg = mailmap_config(mailmap_rev)
    if absent_check is None:
        absent_check = start_absent_check(git_dir, shas, walk=False) if shas else None
    absent, bad = absent_check.result() if absent_check is not None else (set(), set())
    if streams <= 1 or len(shas) < PARALLEL_MIN_COMMITS:
        yield from _read_part(git_dir, shas, absent, bad, cfg)
        return
    size = -(-len(shas) // streams)
    parts = [shas[i : i + size] for i in range(0, len(shas), size)]
    yield from _parallel(parts, lambda part: _read_part(git_dir, part, absent, bad, cfg))


def start_absent_check(
    git_dir: Path, revs: Sequence[str], *, walk: bool = True
) -> Future[tuple[set[str], set[str]]]:
    """`commits_needing_absent_blobs` in the background (done at once for a full clone), so a
    caller can list commits meanwhile. `walk`: the history of `revs`, else those commits only."""
    if not is_partial_clone(git_dir):
        done: Future[tuple[set[str], set[str]]] = Future()
        done.set_result((set(), set()))
        return done
    return in_background(lambda: commits_needing_absent_blobs(git_dir, revs, walk=walk))


def in_background(fn: Callable[[], T]) -> Future[T]:
    """Run `fn` in a daemon thread; the future holds its result or its error (git processes
    run beside the caller's work: the GIL is released while waiting on them)."""
    fut: Future[T] = Future()

    def run() -> None:
        try:
            fut.set_result(fn())
        except BaseException as exc:  # handed to whoever asks for the result
            fut.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    return fut


def _parallel(
    parts: list[list[str]], read: Callable[[list[str]], Generator[CommitRecord]]
) -> Iterator[CommitRecord]:
    """Run `read` on each part in its own thread and yield records as batches arrive.

    Closing this generator (an error downstream, Ctrl-C) stops the threads, which close their
    git processes; an error in a thread is re-raised here.
    """
    out: queue.Queue = queue.Queue(maxsize=32)
    stop = threading.Event()
    done = object()

    def work(part: list[str]) -> None:
        try:
            batch: list[CommitRecord] = []
            gen = read(part)
            try:
                for rec in gen:
                    batch.append(rec)
                    if len(batch) >= 256:
                        _put(out, batch, stop)
                        batch = []
                    if stop.is_set():
                        return
            finally:
                gen.close()  # kills git if we stop early
            _put(out, batch, stop)
        except BaseException as exc:  # handed to the consumer
            _put(out, exc, stop)
        finally:
            _put(out, done, stop)

    threads = [threading.Thread(target=work, args=(p,), daemon=True) for p in parts]
    for t in threads:
        t.start()
    try:
        pending = len(threads)
        while pending:
            item = out.get()
            if item is done:
                pending -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield from item
    finally:
        stop.set()
        while any(t.is_alive() for t in threads):
            try:
                out.get(timeout=0.05)
            except queue.Empty:
                pass
        for t in threads:
            t.join()


def _put(q: queue.Queue, item: object, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return
        except queue.Full:
            continue


def _read_part(
    git_dir: Path, shas: list[str], absent: set[str], bad: set[str], cfg: list[str]
) -> Generator[CommitRecord]:
    """One streamed `git log` over `shas`, surviving absent blobs.

    Partial clones lack some blobs, and `git log --numstat` dies at the first commit that needs
    one. So commits whose diff needs an absent blob (`bad`, found before streaming) are left out
    of the stream and read one by one without those blobs (rows flagged `blob_missing`). If git
    still dies on an unreadable object (a repository not marked as partial), what is left is
    checked the same way and streaming resumes. Nothing is lost.
    """
    done = 0
    try:
        for rec in _stream(git_dir, [s for s in shas if s not in bad], cfg):
            done += 1
            yield rec
    except GitError as exc:
        if absent or not unreadable_object(str(exc)):
            raise
        # git's buffered output for the last few commits was lost, so resume from `done`.
        rest = [s for s in shas if s not in bad][done:]
        absent, bad = commits_needing_absent_blobs(git_dir, rest)
        if not bad:
            raise
        yield from _stream(git_dir, [s for s in rest if s not in bad], cfg)
    for sha in shas:
        if sha in bad:
            yield recover_commit(git_dir, sha, absent, cfg)


def _stream(git_dir: Path, shas: Sequence[str], cfg: Sequence[str] = ()) -> Iterator[CommitRecord]:
    if not shas:
        return iter(())
    stdin = "\n".join(shas).encode() + b"\n"
    return parse_log(
        stream_git(git_dir, [*cfg, *LOG_ARGS, "--no-walk=unsorted", "--stdin"], stdin_data=stdin)
    )


def fill_dates(git_dir: Path, rec: CommitRecord) -> None:
    """git < 2.4x prints no date for timestamps before 1970: read them from the commit object."""
    raw = run_git(git_dir, ["cat-file", "commit", rec.sha]).stdout
    for line in raw.split(b"\n\n", 1)[0].split(b"\n"):
        key, _, rest = line.partition(b" ")
        m = re.search(rb"> (-?\d+) ([+-]\d{4})$", rest)
        if m and key == b"author":
            rec.author_date = m.group(1) + b" " + m.group(2)
        elif m and key == b"committer":
            rec.committer_date = m.group(1) + b" " + m.group(2)


# --- absent blobs (partial clones) ----------------------------------------------------------


def is_partial_clone(git_dir: Path) -> bool:
    """A promisor pack (or partialClone config) means blobs may be absent by design."""
    pack = common_dir(git_dir) / "objects" / "pack"
    if pack.is_dir() and any(p.suffix == ".promisor" for p in pack.iterdir()):
        return True
    proc = run_git(git_dir, ["config", "--get", "extensions.partialClone"], check=False)
    return proc.returncode == 0 and bool(proc.stdout.strip())


def absent_objects(git_dir: Path, revs: Sequence[str]) -> set[str]:
    """Objects reachable from `revs` that the repository lacks, without trying to fetch them
    (`rev-list --missing=print` never contacts a promisor; `cat-file` would)."""
    if not revs:
        return set()
    out = run_git(
        git_dir,
        ["rev-list", "--objects", "--missing=print", "--stdin"],
        input="\n".join(revs).encode() + b"\n",
    ).stdout
    return {line[1:].decode() for line in out.split(b"\n") if line.startswith(b"?")}


def missing_objects(git_dir: Path, oids: Sequence[str]) -> set[str]:
    """Which of `oids` the repository does not have (git is told never to fetch them)."""
    if not oids:
        return set()
    out = run_git(
        git_dir, ["cat-file", "--batch-check"], input="\n".join(oids).encode() + b"\n"
    ).stdout
    return {ln.split()[0] for ln in out.decode().splitlines() if ln.endswith(" missing")}


def commits_needing_absent_blobs(
    git_dir: Path, revs: Sequence[str], *, walk: bool = False
) -> tuple[set[str], set[str]]:
    """(absent blobs, the commits whose diff needs one of them), among `revs` or, with `walk`,
    in their history.

    A raw pass (trees only) lists the blobs each diff reads; `cat-file --batch-check` says which
    are absent, unless a promisor remote is configured: older gits would fetch them then, so
    `rev-list --missing=print` (which never fetches) walks the history beside the raw pass.
    """
    if not revs:
        return set(), set()
    scan = (
        in_background(lambda: absent_objects(git_dir, revs)) if promisor_remote(git_dir) else None
    )
    blobs = diff_blobs(git_dir, revs, walk=walk)
    if scan is not None:
        absent = scan.result()
    else:
        absent = missing_objects(git_dir, sorted({oid for oids in blobs.values() for oid in oids}))
    return absent, {sha for sha, oids in blobs.items() if not absent.isdisjoint(oids)}


def promisor_remote(git_dir: Path) -> bool:
    """Whether git could fetch an absent object (a promisor remote is configured): fetched
    mirrors keep their promisor packs but have no remote, so nothing can be fetched there."""
    proc = run_git(
        git_dir,
        ["config", "--get-regexp", r"^(remote\..*\.promisor|extensions\.partialclone)$"],
        check=False,
    )
    return any(
        line.split(b" ", 1)[-1].strip().lower() not in (b"", b"false", b"no", b"off", b"0")
        for line in proc.stdout.splitlines()
    )


def diff_blobs(git_dir: Path, revs: Sequence[str], *, walk: bool = False) -> dict[str, list[str]]:
    """{commit: blob ids its diff against the first parent reads} (added and deleted sides
    included, submodule entries and the null id left out) for `revs` or, with `walk`, their
    history, from one `--raw --no-renames` pass that reads trees only."""
    out = run_git(
        git_dir,
        [*BLOB_ARGS, *([] if walk else ["--no-walk=unsorted"]), "--stdin"],
        input="\n".join(revs).encode() + b"\n",
    ).stdout
    blobs: dict[str, list[str]] = {}
    current: list[str] = []
    tokens = iter(out.split(b"\0"))
    for tok in tokens:
        head = tok.lstrip(b"\n")
        if head[:1] == b"\x1e":
            current = blobs.setdefault(head[1:].decode(), [])
        elif head[:1] == b":":
            old_mode, new_mode, old, new, status = head[1:].decode().split(" ")
            next(tokens, None)  # the path
            if status[:1] in "RC":
                next(tokens, None)  # the second path of a rename or copy
            if old != NULL_OID and old_mode != GITLINK_MODE:
                current.append(old)
            if new != NULL_OID and new_mode != GITLINK_MODE:
                current.append(new)
        elif head:
            raise LogParseError(f"unexpected token in a raw diff {head[:40]!r}")
    return blobs


def recover_commit(
    git_dir: Path, sha: str, absent: set[str], cfg: Sequence[str] = ()
) -> CommitRecord:
    """Read one commit whose diff needs absent blobs: the rows that need them are kept without
    line counts (`blob_missing`), the others are read normally with those paths excluded."""
    raw = run_git(git_dir, [*cfg, *RAW_ARGS, "--no-walk", sha]).stdout
    recs = list(parse_log([raw]))
    if len(recs) != 1:
        raise GitError(f"{git_dir}: cannot read commit {sha}")
    rec = recs[0]
    missing = [f for f in rec.files if f.old_blob in absent or f.new_blob in absent]
    excludes = [":(exclude,literal)" + os.fsdecode(f.path) for f in missing]
    full = run_git(git_dir, [*cfg, *LOG_ARGS, "--no-walk", sha, "--", ".", *excludes]).stdout
    readable = list(parse_log([full]))
    rec.files = readable[0].files if readable else []
    for f in missing:
        f.blob_missing = True
        rec.files.append(f)
    return rec
