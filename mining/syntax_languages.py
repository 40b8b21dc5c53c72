"""The languages whose code structure we read: `syntax_languages.toml` loaded, and their grammars.

Why a module of its own: which extensions, grammars and definition node types a language has is
data (the TOML next to this file); this module turns that data into `Language` records and
tree-sitter parsers and queries, so that the block cutting (`syntax_blocks`) and the definition
reading (`syntax`) share one table and neither loads grammars itself.
"""

from __future__ import annotations

import importlib
import re
import tomllib
from dataclasses import dataclass, fields
from functools import cache, lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

from mining.errors import ToolError


@dataclass(frozen=True, slots=True)
class Language:
    """How one language is read: one table of `syntax_languages.toml` with the defaults filled
    in (that file documents each field)."""

    name: str
    grammar: str  # "module:function", or "pack:<name>" for tree-sitter-language-pack
    definitions: dict[str, str]
    public: str
    signature: str
    signature_fields: tuple[str, ...]
    bodies: frozenset[str]
    body_sibling: str
    scopes: frozenset[str]
    lead: bytes
    closers: tuple[bytes, ...]
    refine: bool
    snippets: bool
    scripts: bool
    modifiers: frozenset[str]
    public_words: frozenset[str]
    private_words: frozenset[str]
    file_private_words: frozenset[str]
    default_public: bool
    public_in: frozenset[str]
    private_in: frozenset[str]
    sections: frozenset[str]
    private_prefix: str
    calls: dict[str, str]
    private_calls: frozenset[str]
    gate: str


def _load_languages() -> tuple[dict[str, Language], dict[str, str]]:
    """The languages of `syntax_languages.toml` by name, and the language of each extension."""
    data = tomllib.loads(files("mining").joinpath("syntax_languages.toml").read_text("utf-8"))
    langs: dict[str, Language] = {}
    exts: dict[str, str] = {}
    for name, table in data["languages"].items():
        t = {**data["defaults"], **table, "name": name}
        if "same_definitions_as" in t:
            t["definitions"] = data["languages"][t["same_definitions_as"]]["definitions"]
        if t["calls"]:  # definitions are calls whose keyword `calls` names
            t["definitions"] = {"call": "function"}
        if "pack" in t:
            t["grammar"] = f"pack:{t['pack']}"
        t["lead"] = t["lead"].encode()
        t["closers"] = tuple(w.encode() for w in t["closers"])
        t["signature_fields"] = tuple(t["signature_fields"])
        kw: dict[str, Any] = {
            f.name: frozenset(t[f.name]) if isinstance(t[f.name], list) else t[f.name]
            for f in fields(Language)
        }
        langs[name] = Language(**kw)
        exts.update(dict.fromkeys(t["extensions"], name))
    return langs, exts


LANGUAGES, _EXT_LANG = _load_languages()


@cache
def signature_gate(lang: str, binary: bool = False) -> re.Pattern[Any] | None:
    """The language's `gate` compiled (for bytes lines with `binary`), or None without one.

    Why one place: the features stage (which files need a parse at all) and the structure
    stage (which files may change a public interface) ask the same question of a changed line,
    and must keep asking it alike. Match it against one line at a time: its `\\s` and negated
    classes cross line breaks.
    """
    pattern = LANGUAGES[lang].gate
    if not pattern:
        return None
    return re.compile(pattern.encode() if binary else pattern, re.MULTILINE)


@cache
def parser_for(lang: str) -> tuple[Any, Any]:
    """The tree-sitter parser of a language and the query that captures its definitions (cached:
    a grammar is loaded and its query compiled once per process)."""
    import tree_sitter as ts

    spec = LANGUAGES[lang]
    module, _, function = spec.grammar.partition(":")
    try:  # a broken install must stop the run with its name, not count every file as unparsed
        if module == "pack":
            from tree_sitter_language_pack import get_language

            language = get_language(function)  # type: ignore[arg-type]  # a name from our TOML
        else:
            language = ts.Language(getattr(importlib.import_module(module), function)())
    except (ImportError, LookupError, ValueError, AttributeError, OSError) as exc:
        raise ToolError(
            f"{lang}: tree-sitter grammar {spec.grammar!r} cannot be loaded ({exc}); "
            "reinstall the dependencies pinned in pyproject.toml"
        ) from exc
    patterns = []
    for node_type in spec.definitions:
        try:
            ts.Query(language, f"({node_type}) @def")
        except Exception:  # grammar lacks this node type: skip it
            continue
        patterns.append(f"({node_type}) @def")
    query = ts.Query(language, "\n".join(patterns))
    return ts.Parser(language), query


@lru_cache(maxsize=65536)
def language_for(path: str) -> str | None:
    """tree-sitter language name for a path, or None when we do not parse it (cached: a history
    names the same paths again and again, and `Path` is slow to build)."""
    return _EXT_LANG.get(Path(path).suffix.lower())


_SCRIPT = re.compile(rb"(<script\b[^>]*>)(.*?)</script\s*>", re.DOTALL | re.IGNORECASE)
_NOT_NEWLINE = re.compile(rb"[^\n]")


def scripts_only(source: bytes) -> bytes:
    """A Svelte or Vue component with everything but its `<script>` blocks blanked out (spaces,
    newlines kept): the scripts parse as one TypeScript file at their own lines and offsets."""
    out = bytearray(_NOT_NEWLINE.sub(b" ", source))
    for m in _SCRIPT.finditer(source):
        out[m.start(2) : m.end(2)] = m.group(2)
    return bytes(out)
