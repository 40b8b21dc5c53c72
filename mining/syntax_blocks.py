"""The parts of a source file that a change can affect, and the edits that re-parse them.

Why a module of its own: parsing two whole files per changed file is the cost of the structure
features; cutting each side into the top-level blocks (or class members) that a hunk touches,
and telling tree-sitter where the other side's blocks changed, parses a fraction of the bytes
for the same definitions. This module does that cutting on bytes and line offsets (numpy
tables, no parse), and turns hunks or block pairs into tree-sitter edits; `syntax` decides when
the cut is safe and falls back to whole files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from mining.syntax_languages import LANGUAGES

#: bytes that open a top-level block when they start a line: git's default "funcname" rule (a
#: letter, `_` or `$` in column 0), which in every language we parse starts a top-level
#: declaration or statement
_BLOCK_START = np.zeros(256, dtype=bool)
for _c in b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_$":
    _BLOCK_START[_c] = True
#: the bytes that open a line leading into the next declaration (`lead` in
#: syntax_languages.toml): Rust attributes (`#[derive]`) and doc comments, decorators and
#: annotations (`@dataclass`), C# attributes (`[Fact]`). A run of such lines right before a block
#: (or member) start belongs to that block: left with the block before, it dangles at the end of
#: a snippet, which then fails to parse and sends the file to the whole-file fallback. Other
#: comments parse anywhere (Go's, Python's): no need to move them


@cache
def _lead(lang: str | None) -> Any:
    """The lead bytes of a language as a byte table (all of the usual ones for no language)."""
    table = np.zeros(256, dtype=bool)
    for c in LANGUAGES[lang].lead if lang else b"#/@":
        table[c] = True
    return table


#: blocks larger than this are cut further into their members (methods of a class, ...)
_REFINE_BYTES = 2048
#: words that may precede the keyword of a container declaration on its first line
_MODIFIERS = frozenset(
    b"export default abstract public private protected internal static final "
    b"sealed pub crate unsafe declare partial data open".split()
)
#: keywords of declarations whose members are definitions and whose own body is not compared
#: (kind "type"): only these blocks are cut into members, never a function's statements
_CONTAINERS = frozenset(b"class interface impl trait enum record struct".split())
_WORD = re.compile(rb"[A-Za-z_]+")
#: bytes after a member's indentation that do not start a member: more indentation, a line
#: end, a closing bracket
_NOT_MEMBER = np.zeros(256, dtype=bool)
for _c in b" \t\r\n)]}":
    _NOT_MEMBER[_c] = True
#: a non-blank line: its indentation and first character
_LINE_HEAD = re.compile(rb"^([ \t]*)([^ \t\r\n])", re.MULTILINE)


def touched_blocks(
    src: bytes, spans: list[tuple[int, int]], lang: str | None = None
) -> list[tuple[int, int]]:
    """Byte ranges of `src` that hold every definition the line spans (first line, count;
    1-based, as in a hunk header) touch: the touched top-level blocks, and of a large block
    (a class) only its header, the touched members and its closing lines. In order, merged."""
    if not spans or not src:
        return []
    arr = np.frombuffer(src, dtype=np.uint8)
    n = len(src)
    line_starts = np.flatnonzero(arr == 10) + 1  # start of line k + 2 at index k
    heads = line_starts[line_starts < n]
    lead = _lead(lang)
    blocks = _block_starts(arr, heads, lead)
    spec = LANGUAGES[lang] if lang else None
    if spec is not None and spec.closers:  # `end` in column 0 closes a block, opens none
        blocks = blocks[[not _closes(src, int(p), spec.closers) for p in blocks]]
    touched: list[tuple[int, int]] = []
    out: list[tuple[int, int]] = []
    for first, count in sorted(spans):
        first = max(first, 1)
        last = first + max(count, 1) - 1
        a = 0 if first == 1 else int(line_starts[first - 2]) if first - 2 < len(line_starts) else n
        b = int(line_starts[last - 1]) if last - 1 < len(line_starts) else n
        touched.append((a, max(b, a + 1)))
        lo = int(blocks[np.searchsorted(blocks, a, side="right") - 1])
        k = int(np.searchsorted(blocks, max(b, lo + 1), side="left"))
        hi = int(blocks[k]) if k < len(blocks) else n
        if out and lo < out[-1][1]:  # the same block again (adjacent blocks stay apart)
            out[-1] = (out[-1][0], max(hi, out[-1][1]))
        else:
            out.append((lo, hi))
    pieces: list[tuple[int, int]] = []
    for lo, hi in out:
        eol = src.find(b"\n", lo, hi)
        big = (
            hi - lo > _REFINE_BYTES
            and (spec is None or spec.refine)
            and _is_container(src[lo : eol if eol >= 0 else hi])
        )
        pieces.extend(_members(src, arr, heads, lo, hi, touched, lead) if big else [(lo, hi)])
    return pieces


def _block_starts(arr: Any, heads: Any, lead_bytes: Any) -> Any:
    """Start offsets of the top-level blocks: 0 and each line opening a declaration, moved back
    over the run of lead lines (`_lead`: attributes, doc comments, decorators) right before it."""
    if not lead_bytes.any():
        return np.concatenate(([0], heads[_BLOCK_START[arr[heads]]]))
    starts = np.concatenate(([0], heads))
    first = arr[starts]
    opens = np.flatnonzero(_BLOCK_START[first[1:]]) + 1  # line numbers (0-based) after the first
    lead = lead_bytes[first]
    led = lead[opens - 1]
    if led.any():  # move those back to the first line of their run of lead lines
        last_plain = np.maximum.accumulate(np.where(lead, -1, np.arange(len(starts))))
        opens[led] = last_plain[opens[led] - 1] + 1
        opens = opens[opens > 0]  # a run from the first line: the block at 0
    return np.concatenate(([0], starts[opens]))


def _closes(src: bytes, pos: int, closers: tuple[bytes, ...]) -> bool:
    """Whether the line at `pos` starts with a closing word (`end`, not `ending = 1`)."""
    return any(
        src.startswith(w, pos)
        and not src[pos + len(w) : pos + len(w) + 1].isalnum()
        and src[pos + len(w) : pos + len(w) + 1] != b"_"
        for w in closers
    )


#: a member line that continues the one before (a Rust `where` clause, a body brace on its own
#: line): never the start of a member
_CONTINUATION = re.compile(rb"where\b|\{")


def _member_starts(src: bytes, lines: list[int], k: int, lead: Any) -> list[int]:
    """The lines (offsets) at member indentation `k` that start a member: not a continuation,
    and a run of lead lines (`_lead`) starts the member that follows it. Only ever fewer cuts than one
    per line, so each member is a union of whole members of the one-per-line cut."""
    out: list[int] = []
    run: int | None = None
    for pos in lines:
        if lead[src[pos + k]]:
            run = pos if run is None else run
        elif _CONTINUATION.match(src, pos + k):
            run = None
        else:
            out.append(pos if run is None else run)
            run = None
    return out


def _is_container(first_line: bytes) -> bool:
    """Whether a block's first line declares a class, interface, impl, trait, enum, ..."""
    for word in _WORD.findall(first_line):
        if word in _CONTAINERS:
            return True
        if word not in _MODIFIERS:
            return False
    return False


def _members(
    src: bytes,
    arr: Any,
    heads: Any,
    lo: int,
    hi: int,
    touched: list[tuple[int, int]],
    lead: Any,
) -> list[tuple[int, int]]:
    """A large block cut to its header (up to the first line indented one level), the members
    that a touched range overlaps (one per line at that indentation) and its closing lines;
    the whole block when a touched range reaches into the header (a renamed class renames
    every member).
    `arr`: `src` as a uint8 array; `heads`: start offsets of its lines after the first; `lead`:
    the language's lead-line table (`_lead`)."""
    starts = heads[(heads > lo) & (heads < hi)]
    indent = None
    for pos in starts[:50].tolist():  # the first indented line sets the members' indentation
        m = _LINE_HEAD.match(src, pos)  # None for a blank line
        if m is not None and m.group(1):
            indent = m.group(1)
            break
    if indent is None:
        return [(lo, hi)]
    k = len(indent)
    cand = starts[starts + k < len(src)]
    ok = np.ones(len(cand), dtype=bool)
    for j, byte in enumerate(indent):
        ok &= arr[cand + j] == byte
    nxt = arr[cand[ok] + k]
    members = _member_starts(src, cand[ok][~_NOT_MEMBER[nxt]].tolist(), k, lead)
    if not members:
        return [(lo, hi)]
    foot = hi
    for pos in reversed(starts.tolist()):
        if pos <= members[-1]:
            break
        m = _LINE_HEAD.match(src, pos)
        if m is None:
            continue
        if len(m.group(1)) < k:
            foot = pos
        break
    head = members[0]
    near = [(a, b) for a, b in touched if a < hi and lo < b]
    if any(a < head for a, _ in near):
        return [(lo, hi)]
    bounds = [*members, foot]
    keep = [
        (s, e)
        for s, e in zip(bounds, bounds[1:], strict=False)
        if any(a < e and s < b for a, b in near)
    ]
    return [(lo, head), *keep, *([(foot, hi)] if foot < hi else [])]


def _line_offsets(src: bytes) -> list[int]:
    """Offset of each line's start, and len(src) after the last (as a final line would start)."""
    starts = (np.flatnonzero(np.frombuffer(src, dtype=np.uint8) == 10) + 1).tolist()
    if not starts or starts[-1] != len(src):
        starts.append(len(src))
    return [0, *starts]


def hunk_edits(old: bytes, new: bytes, hunks: list[Any]) -> list[tuple[int, int, bytes]] | None:
    """The edits (old start, old end, new text) that the hunks' line spans describe, or None
    when spliced into `old` they do not give `new` (then the caller takes the common ends)."""
    olines, nlines = _line_offsets(old), _line_offsets(new)
    edits: list[tuple[int, int, bytes]] = []
    for h in hunks:
        # a span of 0 lines sits after line `start` (git's convention), else starts at it
        o0 = h.old_start if h.old_count == 0 else h.old_start - 1
        n0 = h.new_start if h.new_count == 0 else h.new_start - 1
        o1, n1 = o0 + h.old_count, n0 + h.new_count
        if o1 >= len(olines) or n1 >= len(nlines):
            return None
        edits.append((olines[o0], olines[o1], new[nlines[n0] : nlines[n1]]))
    spliced, at = [], 0
    for start, end, text in edits:
        if start < at:
            return None
        spliced += [old[at:start], text]
        at = end
    return edits if b"".join([*spliced, old[at:]]) == new else None


@dataclass(frozen=True, slots=True)
class Span:
    """The line spans of a hunk (`diffs.Hunk`'s fields that `hunk_edits` reads)."""

    old_start: int
    old_count: int
    new_start: int
    new_count: int


def reversed_hunks(hunks: list[Any]) -> list[Span]:
    """The hunks read from the new side to the old: walking a history newest first, the path's
    last tree is the new side's, and the old side re-parses from it one edit per hunk."""
    return [Span(h.new_start, h.new_count, h.old_start, h.old_count) for h in hunks]


def apply_edits(tree: Any, src: bytes, edits: list[tuple[int, int, bytes]]) -> Any:
    """`tree` (of `src`) told of `edits`: (start, end, new text) replacing src[start:end], in
    order and apart. Applied from the last, so that each one's offsets and points are still
    those of `src` when it comes."""
    for start, old_end, text in reversed(edits):
        row, col = _point(src, start)
        lines = text.count(b"\n")
        end_col = len(text) - text.rfind(b"\n") - 1 if lines else col + len(text)
        tree.edit(
            start,
            old_end,
            start + len(text),
            (row, col),
            _point(src, old_end),
            (row + lines, end_col),
        )
    return tree


def edit_blocks(old: list[bytes], tree: Any, new: list[bytes]) -> Any:
    """`tree`, the tree of the blocks `old` joined, edited into the blocks `new` joined: one
    edit per pair of blocks (their common ends kept) when both sides have as many blocks, else
    one edit from the first to the last difference. Any split describes the change exactly, so
    the re-parse gives the tree a parse from scratch gives; a finer one re-parses fewer bytes
    (the hunks only, instead of everything from the first hunk to the last)."""
    if len(old) != len(new):
        old, new = [b"".join(old)], [b"".join(new)]
    edits = []
    at = 0  # where the block starts in the old text
    for a, b in zip(old, new, strict=True):
        pre, suf = common_ends(a, b)
        if pre < len(a) or len(a) != len(b):
            edits.append((at + pre, at + len(a) - suf, b[pre : len(b) - suf]))
        at += len(a)
    return apply_edits(tree, b"".join(old), edits)


def common_ends(a: bytes, b: bytes) -> tuple[int, int]:
    """Lengths of the longest common prefix and (not overlapping it) suffix of two sources."""
    n = min(len(a), len(b))
    lo, hi = 0, n  # invariant: a[:lo] == b[:lo]; the prefix is shorter than hi + 1
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid - 1
    prefix = lo
    lo, hi = 0, n - prefix
    la, lb = len(a), len(b)
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[la - mid : la - lo] == b[lb - mid : lb - lo]:
            lo = mid
        else:
            hi = mid - 1
    return prefix, lo


def _point(src: bytes, offset: int) -> tuple[int, int]:
    return src.count(b"\n", 0, offset), offset - (src.rfind(b"\n", 0, offset) + 1)
