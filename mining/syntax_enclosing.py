"""What encloses each added line of a change: a collection, a statement block or a container.

Why: "one more entry of an existing pattern" (a name added to a list, a key to a dict, a command
to a registry call) and new behaviour (statements added to a function body) look alike to line
counts and definition counts; the syntax node around the added lines tells them apart. Read from
the trees the structure features already parse (`syntax`), never from a parse of its own; the
node types per language are data (`syntax_enclosing.toml`). Measured in
experiments/enclosing_node.md.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from functools import cache
from importlib.resources import files
from typing import Any

#: the categories, in the order of their `share_added_*` columns
CATEGORIES = ("collection", "block", "container", "unknown")


@cache
def _tables() -> dict[str, dict[str, str]]:
    """Node type (or "parent>child") -> category, per language of `syntax_enclosing.toml`."""
    data = tomllib.loads(files("mining").joinpath("syntax_enclosing.toml").read_text("utf-8"))
    langs = data["languages"]
    return {
        name: dict(langs[t["same_as"]]["nodes"] if "same_as" in t else t["nodes"])
        for name, t in langs.items()
    }


def table(lang: str) -> dict[str, str]:
    """The node-type table of one language (empty for a language without one)."""
    return _tables().get(lang, {})


def added_lines(old: bytes, new: bytes, hunks: list[Any]) -> list[int]:
    """0-based line numbers in `new` of the lines the hunks add: within each hunk's new span, the
    lines not matched by an equal line of its old span (a multiset difference: a hunk's context
    lines appear on both sides). At most `len(hunk.added)` per hunk (the kept lines)."""
    old_lines = old.split(b"\n")
    new_lines = new.split(b"\n")
    out: list[int] = []
    for h in hunks:
        if not h.added:
            continue
        o0 = h.old_start if h.old_count == 0 else h.old_start - 1
        n0 = h.new_start if h.new_count == 0 else h.new_start - 1
        left = Counter(old_lines[o0 : o0 + h.old_count])
        found = 0
        for k in range(n0, min(n0 + h.new_count, len(new_lines))):
            line = new_lines[k]
            if left[line] > 0:
                left[line] -= 1
            elif found < len(h.added):
                out.append(k)
                found += 1
    return out


def line_spans(src: bytes, lines: list[int]) -> list[tuple[int, int]]:
    """Byte range of each line's text from its first to its last non-space byte; blank lines
    are left out."""
    starts = [0]
    pos = src.find(b"\n")
    while pos >= 0:
        starts.append(pos + 1)
        pos = src.find(b"\n", pos + 1)
    out = []
    for k in lines:
        if k >= len(starts):
            continue
        a = starts[k]
        b = starts[k + 1] - 1 if k + 1 < len(starts) else len(src)
        text = src[a:b]
        stripped = text.lstrip()
        if not stripped.strip():
            continue
        out.append((a + len(text) - len(stripped), a + len(text.rstrip())))
    return out


def category(node: Any, start: int, nodes: dict[str, str]) -> str:
    """The category of the line whose text starts at byte `start` and whose smallest spanning
    named node is `node`: the first mapped node from it (from its parent when the line opens it)
    up to the root, which is a container."""
    if node.start_byte == start and node.parent is not None:
        node = node.parent
    while node.parent is not None:
        parent = node.parent
        cat = nodes.get(f"{parent.type}>{node.type}") or nodes.get(node.type)
        if cat is not None:
            return cat
        node = parent
    return "container"


def count(lang: str, tree: Any, spans: list[tuple[int, int]], into: Counter[str]) -> None:
    """Add the category of each line span (byte ranges in the tree's source) to `into`."""
    nodes = table(lang)
    root = tree.root_node
    for a, b in spans:
        node = root.named_descendant_for_byte_range(a, b)
        into[category(node, a, nodes) if node is not None else "container"] += 1


def snippet_spans(
    spans: list[tuple[int, int]], blocks: list[tuple[int, int]]
) -> list[tuple[int, int]] | None:
    """`spans` (offsets in a file) moved to the offsets of the file's `blocks` joined into one
    snippet; None if a span lies outside every block."""
    out = []
    for a, b in spans:
        at = 0
        for lo, hi in blocks:
            if lo <= a and b <= hi:
                out.append((at + a - lo, at + b - lo))
                break
            at += hi - lo
        else:
            return None
    return out
