"""Commit-message trailers and whole lines, read the way git reads them (plus squash bodies).

Why not a regex over the message: a `Co-authored-by:` line quoted in prose, indented as an
example, or inside a code fence is not a trailer, and counting it would attribute a commit to a
tool it only talks about. git's rule (`git interpret-trailers`): the trailer block is the last
paragraph of the message (never the title), and it counts when all of its lines are trailers, or
when at least 25% are and one is "recognized" (git-generated such as Signed-off-by, or a key the
user configured; we configure the catalog's keys). Squash merges concatenate the messages of
several commits, so their trailers also stand in earlier paragraphs: such a paragraph counts
only when every line of it is a trailer.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

# git's find_separator: a token of letters, digits and '-', optional blanks, then ':'.
_TRAILER_RE = re.compile(r"([A-Za-z0-9][A-Za-z0-9-]*)[ \t]*:[ \t]*(.*)")
_FENCE_RE = re.compile(r"^\s*(```|~~~)")
#: prefixes git itself generates and always recognizes as trailers
GIT_RECOGNIZED = ("signed-off-by",)
_CHERRY_PICK = "(cherry picked from commit "
_CHERRY_KEY = "(cherry picked from commit"


@dataclass(frozen=True, slots=True)
class Trailer:
    """One `key: value` trailer; `key` is lowercased, `raw_key` as written."""

    key: str
    value: str
    raw_key: str

    @property
    def text(self) -> str:
        """`Key: value` as evidence (folded continuation lines)."""
        return f"{self.raw_key}: {self.value}"


@dataclass(slots=True)
class _Line:
    text: str
    kind: str  # "trailer" | "cont" | "other" | "comment"
    key: str = ""
    raw_key: str = ""
    value: str = ""


def _classify(text: str, fenced: bool) -> _Line:
    if fenced:
        return _Line(text, "other")
    if text.startswith("#"):
        return _Line(text, "comment")
    if text[:1] in (" ", "\t"):
        return _Line(text, "cont")
    if text.startswith(_CHERRY_PICK):
        return _Line(text, "trailer", _CHERRY_KEY, _CHERRY_KEY, "")
    m = _TRAILER_RE.fullmatch(text)
    if m is None:
        return _Line(text, "other")
    return _Line(text, "trailer", m.group(1).lower(), m.group(1), m.group(2).strip())


def _paragraphs(message: str) -> list[list[_Line]]:
    """Body paragraphs (title dropped), each a list of classified lines; fences masked."""
    lines = message.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    paras: list[list[_Line]] = []
    current: list[_Line] = []
    fenced = False
    in_title = True
    for raw in lines:
        text = raw.rstrip()
        if not text.strip():
            if current and not in_title:
                paras.append(current)
            current = []
            in_title = False
            continue
        is_fence = bool(_FENCE_RE.match(text))
        line = _classify(text, fenced or is_fence)
        if is_fence:
            fenced = not fenced
        if not in_title:
            current.append(line)
    if current and not in_title:
        paras.append(current)
    return paras


def _counts(para: list[_Line]) -> tuple[int, int]:
    """(trailer lines, other lines) as git's trailer.c counts them: a continuation of a trailer
    counts as neither, any other continuation (after prose, a comment, or first) as other."""
    n_trailer = n_other = 0
    attached = False  # the lines above, up to a trailer, are its continuations
    for ln in para:
        if ln.kind == "comment":
            attached = False
        elif ln.kind == "trailer":
            n_trailer += 1
            attached = True
        elif ln.kind == "cont":
            n_other += not attached
        else:
            n_other += 1
            attached = False
    return n_trailer, n_other


def _extract(para: list[_Line]) -> list[Trailer]:
    out: list[Trailer] = []
    cur: _Line | None = None
    for ln in para:
        if ln.kind == "trailer":
            if cur is not None:
                out.append(Trailer(cur.key, cur.value, cur.raw_key))
            cur = _Line(ln.text, "trailer", ln.key, ln.raw_key, ln.value)
        elif ln.kind == "cont" and cur is not None:
            cur.value = f"{cur.value} {ln.text.strip()}".strip()
        else:  # prose, a stray continuation, or a comment (git continues no trailer past it)
            if cur is not None:
                out.append(Trailer(cur.key, cur.value, cur.raw_key))
            cur = None
    if cur is not None:
        out.append(Trailer(cur.key, cur.value, cur.raw_key))
    return out


def parse_trailers(message: str, known_keys: Iterable[str] = ()) -> list[Trailer]:
    """All trailers of `message`: git's trailer block plus all-trailer paragraphs of squash bodies.

    `known_keys` (lowercase) act like git's configured trailer keys: one of them in the last
    paragraph makes it a trailer block at 25% trailer lines (git-generated keys always do).
    """
    if ":" not in message:
        return []
    paras = _paragraphs(message)
    if not paras:
        return []
    recognized = {*GIT_RECOGNIZED, _CHERRY_KEY} | {k.lower() for k in known_keys}
    out: list[Trailer] = []
    last = len(paras) - 1
    for i, para in enumerate(paras):
        n_trailer, n_other = _counts(para)
        if n_trailer == 0:
            continue
        if n_other == 0:
            out.extend(_extract(para))
        elif i == last:
            has_known = any(ln.kind == "trailer" and ln.key in recognized for ln in para)
            if has_known and n_trailer * 3 >= n_other:
                out.extend(_extract(para))
    return [t for t in out if t.key != _CHERRY_KEY]


def whole_lines(message: str) -> Iterator[str]:
    """Lines that stand on their own: not indented, not quoted (`>`), not inside a code fence.

    Markers such as `Generated with [Claude Code](...)` are matched only against these lines.
    """
    fenced = False
    for raw in message.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if _FENCE_RE.match(raw):
            fenced = not fenced
            continue
        if fenced or not raw.strip() or raw[:1] in (" ", "\t", ">"):
            continue
        yield raw.rstrip()


def subject(message: str) -> str:
    """The first line of the message (git's %s folds the title paragraph; the first line is
    what tools prefix)."""
    return message.lstrip("\n").split("\n", 1)[0].strip()
