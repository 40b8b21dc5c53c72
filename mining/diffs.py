"""Streamed patch reading: one `git log -p` per batch of commits, split per commit and per file.

Why streamed and capped: a history's patches run to hundreds of MB and single commits can carry
a 50 MB generated file. We read git's output in chunks, keep at most a bounded number of changed
lines per file and per commit (the counts stay exact), and cut over-long lines, so memory stays
bounded whatever the history. Binary files are recognised from git's own "Binary files" line.
Commits whose patch git cannot produce (a blob missing from a partial clone) fall back to a
content-free file list and are flagged `incomplete`.
"""

from __future__ import annotations

import fnmatch
import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from pathlib import Path

from mining.gitcmd import run_git, stream_each_commit

#: changed lines kept per file / per commit; beyond that only the counts grow.
MAX_LINES_PER_FILE = 3000
MAX_LINES_PER_COMMIT = 20000
#: bytes kept of one line (minified files have multi-MB lines).
MAX_LINE_BYTES = 2000

_START = b"\x00\x00C"
_END = b"\x00\x00E"
_FORMAT = "--format=%x00%x00C%H %P%n%B%x00%x00E"
_PATCH_OPTS = [
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--diff-merges=off",
    "-M",
    "-p",
    "--full-index",
    "--submodule=short",
]
_HUNK_RE = re.compile(rb"^@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")
_ZERO_OID = "0" * 40


@dataclass(slots=True)
class Hunk:
    """Removed and added lines of one hunk, in order (capped; see `FileDiff.truncated`)."""

    removed: list[str] = field(default_factory=list)
    added: list[str] = field(default_factory=list)
    #: the hunk's span from its `@@ -a,b +c,d @@` header: first line and line count per side
    old_start: int = 0
    old_count: int = 0
    new_start: int = 0
    new_count: int = 0


@dataclass(slots=True)
class FileDiff:
    """One file's change in a commit, as git's patch describes it."""

    path: str
    old_path: str | None = None
    change_type: str = "M"  # A, M, D, R, C, T
    similarity: int | None = None
    old_blob: str | None = None
    new_blob: str | None = None
    old_mode: str | None = None
    new_mode: str | None = None
    is_binary: bool = False
    lines_added: int = 0
    lines_deleted: int = 0
    hunks: list[Hunk] = field(default_factory=list)
    truncated: bool = False  # some changed lines were not kept (counts are still exact)
    unread: bool = False  # test data (`is_unread_test_data`): lines counted, none kept


@dataclass(slots=True)
class CommitDiff:
    """A commit's parents, raw message and per-file changes."""

    sha: str
    parents: list[str]
    message: str
    files: list[FileDiff] = field(default_factory=list)
    incomplete: bool = False  # git could not produce the patch; files carry no lines
    #: a message line reached MAX_LINE_BYTES: `message` may lack the end of that line
    message_cut: bool = False

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1


# --- file kinds ----------------------------------------------------------------------------


def _globs(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    """One regex matching what any of the globs matches (fnmatchcase's own translation)."""
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


@dataclass(frozen=True)
class _Rule:
    kind: str
    names: tuple[str, ...]
    paths: tuple[str, ...]
    dirs: frozenset[str]
    name_re: re.Pattern[str] | None = field(default=None, compare=False)
    path_re: re.Pattern[str] | None = field(default=None, compare=False)

    def matches(self, path: str, base: str, dirs: list[str]) -> bool:
        if self.name_re is not None and self.name_re.match(base):
            return True
        if self.path_re is not None and self.path_re.match(path):
            return True
        return any(d in self.dirs for d in dirs)


@lru_cache(maxsize=1)
def kind_data() -> dict:
    """mining/file_kinds.toml parsed: file-kind rules, contracts, package markers, dependency lines."""
    text = (resources.files("mining") / "file_kinds.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


def _rule(kind: str, spec: dict) -> _Rule:
    names = tuple(p.lower() for p in spec.get("names", []))
    paths = tuple(p.lower() for p in spec.get("paths", []))
    dirs = frozenset(d.lower() for d in spec.get("dirs", []))
    return _Rule(kind, names, paths, dirs, _globs(names), _globs(paths))


@lru_cache(maxsize=1)
def _rules() -> tuple[tuple[_Rule, ...], _Rule, _Rule]:
    data = kind_data()
    rules = tuple(_rule(r["kind"], r) for r in data["rule"])
    return rules, _rule("contract", data["contracts"]), _rule("marker", data["package_markers"])


#: every kind a path can get, in the data file's order, plus the fallback.
def file_kinds() -> list[str]:
    """All kinds defined in file_kinds.toml (first-match order) plus "other"."""
    seen: list[str] = []
    for r in _rules()[0]:
        if r.kind not in seen:
            seen.append(r.kind)
    return [*seen, "other"]


def _split(path: str) -> tuple[str, str, list[str]]:
    low = path.lower()
    parts = low.split("/")
    return low, parts[-1], parts[:-1]


@lru_cache(maxsize=65536)
def file_kind(path: str) -> str:
    """The kind of a path per file_kinds.toml: first matching rule wins, else "other"."""
    low, base, dirs = _split(path)
    for rule in _rules()[0]:
        if rule.matches(low, base, dirs):
            return rule.kind
    return "other"


@lru_cache(maxsize=65536)
def is_contract(path: str) -> bool:
    """Schema or interface file: migration, SQL DDL file, .proto, OpenAPI, GraphQL, ..."""
    low, base, dirs = _split(path)
    return _rules()[1].matches(low, base, dirs)


@lru_cache(maxsize=65536)
def is_unread_test_data(path: str) -> bool:
    """Test data whose changed lines are counted but never kept (file_kinds.toml
    `[unread_test_data]`: recorded fixtures, snapshots, golden files)."""
    base = _split(path)[1]
    if "." not in base or file_kind(path) != "test":
        return False
    return base.rsplit(".", 1)[1] in _unread_extensions()


@lru_cache(maxsize=1)
def _unread_extensions() -> frozenset[str]:
    return frozenset(kind_data()["unread_test_data"]["extensions"])


def is_package_marker(path: str) -> bool:
    """A file whose creation makes a new module or package (`__init__.py`, `go.mod`, ...)."""
    low, base, dirs = _split(path)
    return _rules()[2].matches(low, base, dirs)


# --- patch stream --------------------------------------------------------------------------


def _line_batches(chunks: Iterable[bytes]) -> Iterator[list[bytes]]:
    """Split a byte stream into lists of lines (one list per chunk) without the newline; cut
    lines longer than MAX_LINE_BYTES. Lists, so that the parser loops over a chunk's lines
    without a generator step per line."""
    pending = b""
    overflow = False
    for chunk in chunks:
        parts = chunk.split(b"\n")
        if len(parts) == 1:
            if not overflow:
                pending += chunk
                if len(pending) > MAX_LINE_BYTES:
                    pending = pending[:MAX_LINE_BYTES]
                    overflow = True
            continue
        if overflow:
            parts[0] = pending
        elif pending:
            parts[0] = (pending + parts[0])[:MAX_LINE_BYTES]
        tail = parts.pop()
        yield [p if len(p) <= MAX_LINE_BYTES else p[:MAX_LINE_BYTES] for p in parts]
        pending = tail[:MAX_LINE_BYTES]
        overflow = len(tail) > MAX_LINE_BYTES
    if pending:
        yield [pending]


def stream_lines(chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Split a byte stream into lines without the newline; cut lines longer than MAX_LINE_BYTES."""
    for batch in _line_batches(chunks):
        yield from batch


_ESCAPES = {
    b"n": b"\n",
    b"t": b"\t",
    b'"': b'"',
    b"\\": b"\\",
    b"a": b"\a",
    b"b": b"\b",
    b"f": b"\f",
    b"r": b"\r",
    b"v": b"\v",
}


def unquote_path(raw: bytes) -> str:
    """Undo git's C-style path quoting; undecodable bytes become \\xNN (as in file_changes)."""
    if len(raw) >= 2 and raw[:1] == b'"' and raw[-1:] == b'"':
        body, out, i = raw[1:-1], bytearray(), 0
        while i < len(body):
            ch = body[i : i + 1]
            if ch == b"\\" and i + 1 < len(body):
                nxt = body[i + 1 : i + 2]
                if nxt.isdigit() and i + 3 < len(body) + 1:
                    out += bytes([int(body[i + 1 : i + 4], 8) & 0xFF])
                    i += 4
                    continue
                out += _ESCAPES.get(nxt, nxt)
                i += 2
                continue
            out += ch
            i += 1
        raw = bytes(out)
    return raw.decode("utf-8", "backslashreplace")


def _strip_prefix(raw: bytes, prefix: bytes) -> str | None:
    """Path from a `--- a/x` / `+++ b/x` / `rename from x` value; None for /dev/null."""
    raw = raw.rstrip(b"\t")  # git appends a tab to names with spaces in ---/+++ lines
    if raw == b"/dev/null":
        return None
    quoted = raw.startswith(b'"')
    text = unquote_path(raw)
    p = prefix.decode()
    if quoted or text.startswith(p):
        return text[len(p) :] if text.startswith(p) else text
    return text


def _paths_from_diff_line(rest: bytes) -> tuple[str, str]:
    """Old and new path from the part of `diff --git ` after the command (best effort)."""
    if rest.startswith(b'"'):
        end = rest.find(b'" ', 1)
        a, b = rest[: end + 1], rest[end + 2 :]
    else:
        # unquoted: "a/P b/P" where both halves are equal unless renamed (then later lines tell)
        half = (len(rest) - 1) // 2
        a, b = rest[:half], rest[half + 1 :]
        if b.startswith(b'"'):
            a, b = rest[: rest.find(b' "')], rest[rest.find(b' "') + 1 :]
    old = unquote_path(a)
    new = unquote_path(b)
    return (old[2:] if old.startswith("a/") else old, new[2:] if new.startswith("b/") else new)


class _Parser:
    """State machine over patch lines; yields CommitDiff objects as commits complete."""

    def __init__(self) -> None:
        self.commit: CommitDiff | None = None
        self.file: FileDiff | None = None
        self.hunk: Hunk | None = None
        self.old_rem = 0
        self.new_rem = 0
        self.kept_commit = 0
        self.kept_file = 0
        self.in_message = False
        self.msg_lines: list[bytes] = []

    def _finish_file(self) -> None:
        if self.file is not None and self.commit is not None:
            self.commit.files.append(self.file)
        self.file = None
        self.hunk = None
        self.old_rem = self.new_rem = 0

    def finish(self) -> CommitDiff | None:
        self._finish_file()
        done, self.commit = self.commit, None
        return done

    def feed(self, line: bytes) -> CommitDiff | None:
        """Consume one line; return a finished commit when a new one starts."""
        if self.in_message:
            if len(line) >= MAX_LINE_BYTES:
                assert self.commit is not None
                self.commit.message_cut = True
            if line.endswith(_END):
                self.in_message = False
                assert self.commit is not None
                self.msg_lines.append(line[: -len(_END)])
                text = b"\n".join(self.msg_lines)
                self.commit.message = text.decode("utf-8", "replace").rstrip("\n")
                self.msg_lines = []
            else:
                self.msg_lines.append(line)
            return None
        if self.old_rem > 0 or self.new_rem > 0:
            self._hunk_line(line)
            return None
        if line.startswith(_START):
            done = self.finish()
            head = line[len(_START) :].decode("ascii", "replace").split()
            self.commit = CommitDiff(sha=head[0], parents=head[1:], message="")
            self.kept_commit = 0
            self.in_message = True
            return done
        if self.commit is None:
            return None
        if line.startswith(b"diff --git "):
            self._finish_file()
            old, new = _paths_from_diff_line(line[11:])
            self.file = FileDiff(path=new, old_path=None)
            self.file.old_path = old if old != new else None
            self.kept_file = 0
            return None
        f = self.file
        if f is None:
            return None
        if line.startswith(b"@@"):
            m = _HUNK_RE.match(line)
            if m:
                self.old_rem = int(m.group(2)) if m.group(2) is not None else 1
                self.new_rem = int(m.group(4)) if m.group(4) is not None else 1
                self.hunk = Hunk(
                    old_start=int(m.group(1)),
                    old_count=self.old_rem,
                    new_start=int(m.group(3)),
                    new_count=self.new_rem,
                )
                if not f.hunks:  # the path is known by the first hunk (`+++`/`---`)
                    f.unread = is_unread_test_data(f.path)
                f.hunks.append(self.hunk)
        elif line.startswith(b"new file mode "):
            f.change_type, f.new_mode = "A", line[14:].decode()
        elif line.startswith(b"deleted file mode "):
            f.change_type, f.old_mode = "D", line[18:].decode()
        elif line.startswith(b"old mode "):
            f.old_mode = line[9:].decode()
        elif line.startswith(b"new mode "):
            f.new_mode = line[9:].decode()
        elif line.startswith(b"similarity index "):
            f.similarity = int(line[17:].rstrip(b"%") or 0)
        elif line.startswith(b"rename from ") or line.startswith(b"copy from "):
            f.change_type = "R" if line.startswith(b"rename") else "C"
            f.old_path = _strip_prefix(line.split(b" ", 2)[2], b"")
        elif line.startswith(b"rename to ") or line.startswith(b"copy to "):
            f.path = _strip_prefix(line.split(b" ", 2)[2], b"") or f.path
        elif line.startswith(b"index "):
            parts = line[6:].split(b" ")
            old_oid, _, new_oid = parts[0].partition(b"..")
            f.old_blob = None if old_oid.strip(b"0") == b"" else old_oid.decode()
            f.new_blob = None if new_oid.strip(b"0") == b"" else new_oid.decode()
            if len(parts) > 1 and f.new_mode is None:
                f.old_mode = f.old_mode or parts[1].decode()
                f.new_mode = parts[1].decode()
        elif line.startswith(b"Binary files ") or line == b"GIT binary patch":
            f.is_binary = True
        elif line.startswith(b"--- "):
            p = _strip_prefix(line[4:], b"a/")
            if p is not None and f.change_type not in ("R", "C"):
                f.path = p
        elif line.startswith(b"+++ "):
            p = _strip_prefix(line[4:], b"b/")
            if p is not None:
                f.path = p
        elif line.startswith(b"Submodule "):
            f.is_binary = True
        return None

    def feed_many(self, lines: list[bytes]) -> list[CommitDiff]:
        """Consume a list of lines; return the commits finished on the way. Hunk bodies, the
        bulk of a patch, go through `_hunk_lines` in one tight loop."""
        done: list[CommitDiff] = []
        i, n = 0, len(lines)
        while i < n:
            if (self.old_rem > 0 or self.new_rem > 0) and not self.in_message:
                i = self._hunk_lines(lines, i)
                continue
            c = self.feed(lines[i])
            i += 1
            if c is not None:
                done.append(c)
        return done

    def _hunk_lines(self, lines: list[bytes], i: int) -> int:
        """`_hunk_line` over lines[i:] until the hunk ends or the list does; the next index."""
        f, h = self.file, self.hunk
        assert f is not None and h is not None
        old_rem, new_rem = self.old_rem, self.new_rem
        kept_file, kept_commit = self.kept_file, self.kept_commit
        added, deleted = 0, 0
        n = len(lines)
        if f.unread:  # counted, never kept
            i, old_rem, new_rem, added, deleted = _count_lines(lines, i, old_rem, new_rem)
        while i < n and (old_rem > 0 or new_rem > 0):
            line = lines[i]
            i += 1
            tag = line[:1]
            if tag == b"+":
                new_rem -= 1
                added += 1
                target = h.added
            elif tag == b"-":
                old_rem -= 1
                deleted += 1
                target = h.removed
            elif tag == b"\\":
                continue  # "\ No newline at end of file"
            else:  # context line (" ") or an empty line git emitted for an empty context line
                old_rem -= 1
                new_rem -= 1
                continue
            if kept_file >= MAX_LINES_PER_FILE or kept_commit >= MAX_LINES_PER_COMMIT:
                f.truncated = True
                continue
            kept_file += 1
            kept_commit += 1
            target.append(line[1:].decode("utf-8", "replace"))
        self.old_rem, self.new_rem = old_rem, new_rem
        self.kept_file, self.kept_commit = kept_file, kept_commit
        f.lines_added += added
        f.lines_deleted += deleted
        return i

    def _hunk_line(self, line: bytes) -> None:
        self._hunk_lines([line], 0)


def _count_lines(
    lines: list[bytes], i: int, old_rem: int, new_rem: int
) -> tuple[int, int, int, int, int]:
    """Step over a hunk's lines from `lines[i]` on, counting them without reading them: (next
    index, old and new lines still due, lines added, lines removed).

    Why in runs: the next max(old_rem, new_rem) lines all belong to the hunk (a context line
    counts on both sides, `\\ No newline` on neither), so their first bytes are tallied by
    `bytes.count` instead of a Python step per line (crush's test data: 203k lines per 1,000
    commits)."""
    added = deleted = 0
    n = len(lines)
    while i < n and (old_rem > 0 or new_rem > 0):
        run = lines[i : i + max(old_rem, new_rem)]
        tags = b"".join([ln[:1] for ln in run])
        plus, minus, notes = tags.count(b"+"), tags.count(b"-"), tags.count(b"\\")
        context = len(run) - plus - minus - notes
        added += plus
        deleted += minus
        old_rem -= context + minus
        new_rem -= context + plus
        i += len(run)
    return i, old_rem, new_rem, added, deleted


def _parse(batches: Iterable[list[bytes]]) -> Iterator[CommitDiff]:
    parser = _Parser()
    for batch in batches:
        for done in parser.feed_many(batch):
            yield _finalise(done)
    last = parser.finish()
    if last is not None:
        yield _finalise(last)


def _finalise(c: CommitDiff) -> CommitDiff:
    for f in c.files:
        if f.change_type == "M" and f.old_mode and f.new_mode and f.old_mode[:2] != f.new_mode[:2]:
            f.change_type = "T"
    return c


def iter_commit_diffs(git_dir: str | Path, shas: list[str]) -> Iterator[CommitDiff]:
    """Yield one CommitDiff per sha, in the given order, from one streamed `git log -p`.

    Merges come back with no files (git's default). If git fails part-way (a missing blob in a
    partial clone), the commit it stopped at is read alone and the stream resumes after it
    (`gitcmd.stream_each_commit`); a commit that still fails is yielded with a content-free file
    list and `incomplete=True`.
    """
    args = ["log", "--no-walk=unsorted", "--stdin", _FORMAT, *_PATCH_OPTS]
    yield from stream_each_commit(
        git_dir,
        args,
        shas,
        lambda chunks: _parse(_line_batches(chunks)),
        lambda sha: _one_commit(git_dir, sha),
    )


def _one_commit(git_dir: str | Path, sha: str) -> CommitDiff:
    proc = run_git(git_dir, ["show", _FORMAT, *_PATCH_OPTS, sha], check=False)
    if proc.returncode == 0:
        commits = list(_parse(_line_batches([proc.stdout])))
        if commits:
            return commits[0]
    # content-free fallback: raw file list without rename detection needs no blob contents
    meta = run_git(
        git_dir, ["log", "--no-walk", "--no-patch", _FORMAT, sha]
    )  # `show -s` reads blobs
    commit = next(_parse(_line_batches([meta.stdout])))
    commit.incomplete = True
    raw = run_git(
        git_dir,
        ["diff-tree", "-r", "-z", "--no-renames", "--root", "--raw", "--no-commit-id", sha],
        check=False,
    )
    fields = raw.stdout.split(b"\x00")
    i = 0
    while i + 1 < len(fields):
        meta_f, path_f = fields[i], fields[i + 1]
        i += 2
        if not meta_f.startswith(b":"):
            continue
        old_mode, new_mode, old_oid, new_oid, status = meta_f[1:].decode().split(" ")
        commit.files.append(
            FileDiff(
                path=path_f.decode("utf-8", "backslashreplace"),
                change_type=status[:1],
                old_blob=None if old_oid == _ZERO_OID else old_oid,
                new_blob=None if new_oid == _ZERO_OID else new_oid,
                old_mode=old_mode,
                new_mode=new_mode,
            )
        )
    return commit
