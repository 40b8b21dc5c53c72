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

from mining.syntax_blocks import _line_offsets

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


def added_spans(
    old: bytes, new: bytes, hunks: list[Any], text: bytes | None = None
) -> list[tuple[int, int]]:
    """Byte ranges of the lines the hunks add, each from its first to its last non-space byte
    of `text` (`new`, or a text with the same offsets: a component's scripts), blank lines left
    out. Which lines: within each hunk's new span, those not matched by an equal line of its old
    span (a multiset difference: the patch's context lines appear on both sides), at most
    `len(hunk.added)` per hunk (the kept lines)."""
    text = new if text is None else text
    old_at, new_at = _line_offsets(old), _line_offsets(new)
    out: list[tuple[int, int]] = []
    for h in hunks:
        if not h.added:
            continue
        o0 = h.old_start if h.old_count == 0 else h.old_start - 1
        n0 = h.new_start if h.new_count == 0 else h.new_start - 1
        left = Counter(
            _line(old, old_at, k) for k in range(o0, min(o0 + h.old_count, len(old_at) - 1))
        )
        found = 0
        for k in range(n0, min(n0 + h.new_count, len(new_at) - 1)):
            line = _line(new, new_at, k)
            if left[line] > 0:
                left[line] -= 1
                continue
            if found == len(h.added):
                break
            found += 1
            a, b = new_at[k], new_at[k] + len(line)
            body = text[a:b]
            head = body.lstrip()
            if head.strip():
                out.append((a + len(body) - len(head), a + len(body.rstrip())))
    return out


def _line(src: bytes, at: list[int], k: int) -> bytes:
    """Line `k` of `src` (offsets `at`, `syntax_blocks._line_offsets`) without its line end."""
    a, b = at[k], at[k + 1]
    return src[a : b - 1] if b > a and src[b - 1] == 10 else src[a:b]


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
