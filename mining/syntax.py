"""Code structure of a change: definitions added, removed and re-signed, read with tree-sitter.

Why parse both blobs: line diffs cannot tell a renamed parameter (an API change) from an edited
body (a local change). We parse the old and the new version of each changed source file, list
its definitions (functions, methods, classes, interfaces, structs, traits, ...) with their
signatures and whether they are public, and compare the two lists. Blobs come from one
persistent `git cat-file --batch-command` process per repository.
"""

from __future__ import annotations

import hashlib
import importlib
import re
import subprocess
import tomllib
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, fields
from functools import cache, lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import numpy as np

from mining.errors import GitError
from mining.gitcmd import git_argv, git_env

#: blobs larger than this are not parsed (generated or data files; parsing cost grows with size)
MAX_BLOB_BYTES = 512 * 1024


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


@dataclass(frozen=True, slots=True)
class Definition:
    kind: str  # function | type | module
    signature: str
    public: bool
    body_hash: str


@cache
def _parser(lang: str) -> tuple[Any, Any]:
    import tree_sitter as ts

    spec = LANGUAGES[lang]
    module, _, function = spec.grammar.partition(":")
    if module == "pack":
        from tree_sitter_language_pack import get_language

        language = get_language(function)  # type: ignore[arg-type]  # a name from our TOML
    else:
        language = ts.Language(getattr(importlib.import_module(module), function)())
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


def _text(node: Any) -> str:
    return " ".join(node.text.decode("utf-8", "replace").split())


_SCRIPT = re.compile(rb"(<script\b[^>]*>)(.*?)</script\s*>", re.DOTALL | re.IGNORECASE)
_NOT_NEWLINE = re.compile(rb"[^\n]")


def _scripts(source: bytes) -> bytes:
    """A Svelte or Vue component with everything but its `<script>` blocks blanked out (spaces,
    newlines kept): the scripts parse as one TypeScript file at their own lines and offsets."""
    out = bytearray(_NOT_NEWLINE.sub(b" ", source))
    for m in _SCRIPT.finditer(source):
        out[m.start(2) : m.end(2)] = m.group(2)
    return bytes(out)


def _call_head(node: Any) -> Any:
    """What a definition call defines, with its parameters and guard: `name(args) when guard`
    of `def name(args) when guard, do: ...`, `Name` of `defmodule Name do`; None if absent."""
    args = next((c for c in node.children if c.type == "arguments"), None)
    return args.named_children[0] if args is not None and args.named_children else None


def _call_name(node: Any) -> str | None:
    """The name a definition call defines (`name` of `def name(args) when guard`)."""
    head = _call_head(node)
    if head is not None and head.type == "binary_operator":  # a guard: `f(x) when ...`
        head = head.child_by_field_name("left")
    if head is not None and head.type == "call":
        head = head.child_by_field_name("target")
    return _text(head) if head is not None else None


def _name(node: Any, spec: Language) -> str | None:
    n = node.child_by_field_name("name")
    if n is None:
        if node.type == "impl_item":
            t = node.child_by_field_name("type")
            tr = node.child_by_field_name("trait")
            return (f"{_text(tr)} for " if tr is not None else "") + (_text(t) if t else "?")
        if spec.calls and node.type == "call":
            return _call_name(node)
        if spec.signature == "header":  # grammars without a name field (Kotlin) or C's nested
            d = node.child_by_field_name("declarator")  # declarators: `*f(int a)` names f
            while d is not None and d.child_by_field_name("declarator") is not None:
                d = d.child_by_field_name("declarator")
            if d is not None:
                return _text(d)
            n = next((c for c in node.named_children if c.type.endswith("identifier")), None)
            return _text(n) if n is not None else None
        return None
    return _text(n)


def _call_kind(node: Any, spec: Language) -> str | None:
    """A call's definition kind (`def` -> function, `defmodule` -> type); None for other calls."""
    target = node.child_by_field_name("target")
    return spec.calls.get(target.text.decode("utf-8", "replace")) if target is not None else None


def _scope(node: Any, spec: Language) -> Any:
    """The nearest enclosing node that qualifies names (a class, a module, ...), or None."""
    p = node.parent
    while p is not None:
        if p.type in spec.scopes or (spec.calls and p.type == "call" and _call_kind(p, spec)):
            return p
        p = p.parent
    return None


def _public_modifiers(node: Any, spec: Language, name: str) -> bool:
    """Public by the words of the modifier children, else by the last access section before the
    member (C++ `private:`, Ruby `private`), else by the enclosing scope, else by default."""
    words = {
        w.split("[")[0].rstrip(":")
        for c in node.children
        if c.type in spec.modifiers
        for w in c.text.decode("utf-8", "replace").split()
    }
    s = node.prev_named_sibling if spec.sections else None
    while s is not None:
        if s.type in spec.sections:  # a bare `private` (Ruby), not any other identifier
            word = s.text.decode("utf-8", "replace").strip().rstrip(":")
            if word in spec.public_words | spec.private_words:
                words.add(word)
                break
        s = s.prev_named_sibling
    scope = _scope(node, spec)
    if words & spec.private_words or (scope is None and words & spec.file_private_words):
        return False
    if words & spec.public_words:
        return True
    if scope is not None and scope.type in spec.public_in | spec.private_in:
        return scope.type in spec.public_in
    return spec.default_public


def _public_exported(node: Any, spec: Language, name: str) -> bool:
    """javascript / typescript: exported, or a non-private member of an exported class."""
    p = node.parent
    while p is not None:
        if p.type == "export_statement":
            return True
        if p.type in ("class_body", "interface_body", "object_type"):
            if any(
                c.type == "accessibility_modifier" and c.text in (b"private", b"protected")
                for c in node.children
            ):
                return False
            if name.startswith("#"):
                return False
        if p.type in ("statement_block", "function_body"):
            return False
        p = p.parent
    return False


def _public_rust(node: Any, spec: Language, name: str) -> bool:
    if any(c.type == "visibility_modifier" for c in node.children):
        return True
    p = node.parent
    # trait items and trait-impl items are as public as the trait
    return (
        p is not None
        and p.type == "declaration_list"
        and p.parent is not None
        and (
            p.parent.type == "trait_item"
            or (p.parent.type == "impl_item" and p.parent.child_by_field_name("trait") is not None)
        )
    )


def _public_java(node: Any, spec: Language, name: str) -> bool:
    for c in node.children:
        if c.type == "modifiers":
            mods = c.text.decode("utf-8", "replace").split()
            return "public" in mods or "protected" in mods
    p = node.parent
    return p is not None and p.type == "interface_body"


#: the `public` rules of syntax_languages.toml: (node, language, name) -> is it public
_PUBLIC: dict[str, Callable[[Any, Language, str], bool]] = {
    "python": lambda node, spec, name: (
        not name.startswith("_") or (name.startswith("__") and name.endswith("__"))
    ),
    "go": lambda node, spec, name: name[:1].isupper(),
    "rust": _public_rust,
    "java": _public_java,
    "exported": _public_exported,
    "modifiers": _public_modifiers,
    "prefix": lambda node, spec, name: not name.startswith(spec.private_prefix),
    "calls": lambda node, spec, name: (
        node.child_by_field_name("target").text.decode() not in spec.private_calls
    ),
}


def _qualname(node: Any, spec: Language, name: str) -> str:
    parts = [name]
    if node.type == "method_declaration" and spec.name == "go":
        recv = node.child_by_field_name("receiver")
        if recv is not None:
            words = _text(recv).strip("()").replace("*", " ").split()
            parts.append(words[-1] if words else "?")
    p = _scope(node, spec)
    while p is not None:
        n = _name(p, spec)
        if n:
            parts.append(n)
        p = _scope(p, spec)
    return ".".join(reversed(parts))


def _signature(node: Any, sig_src: Any, kind: str, spec: Language) -> str:
    """`fields`: the node type and the text of its signature fields. `header`: the text before
    the body (modifiers, name, parameters, return type, bases), comments left out."""
    sig = [node.type]
    if spec.calls:  # the keyword and the head, not a `do:` body among the arguments
        head = _call_head(node)
        return " ".join([*sig, _text(node.child_by_field_name("target")), _text(head or node)])
    if spec.signature == "header":
        for i, c in enumerate(node.children):
            if node.field_name_for_child(i) == "body" or c.type in spec.bodies:
                break
            if "comment" not in c.type:
                sig.append(_text(c))
        return " ".join(sig)
    for fname in spec.signature_fields:
        child = sig_src.child_by_field_name(fname)
        if child is not None and not (kind == "type" and fname == "type" and spec.name == "go"):
            sig.append(f"{fname}={_text(child)}")
    if spec.name == "go" and node.type == "type_spec":
        t = node.child_by_field_name("type")
        sig.append(t.type if t is not None else "")
    return " ".join(sig)


def _body(node: Any, spec: Language) -> bytes:
    """The definition's text, with the body that follows it as a sibling (Dart's
    `function_body` after a signature, also after a `method_signature` wrapper)."""
    body = node.text or b""
    if spec.body_sibling:
        n = node if node.next_named_sibling is not None else node.parent
        nxt = n.next_named_sibling if n is not None else None
        if nxt is not None and nxt.type == spec.body_sibling:
            body += nxt.text or b""
    return body


def definitions(lang: str, source: bytes, tree: Any = None) -> dict[str, Definition]:
    """Definitions of one file by qualified name (`Class.method`, `impl Foo.bar`, ...).

    Walked in source order; a name defined again in the same scope (`def _(event)` five times
    in one function) gets `#2`, `#3`, ... so that every definition counts and the result does
    not depend on the order in which tree-sitter happens to return its captures.
    `tree`: a tree already parsed from `source` (incrementally, by `file_definitions`).
    """
    import tree_sitter as ts

    spec = LANGUAGES[lang]
    parser, query = _parser(lang)
    if tree is None:
        tree = parser.parse(_scripts(source) if spec.scripts else source)
    out: dict[str, Definition] = {}
    captures = ts.QueryCursor(query).captures(tree.root_node).get("def", [])
    captures.sort(key=lambda n: (n.start_byte, -n.end_byte, n.type))
    is_public = _PUBLIC[spec.public]
    for node in captures:
        kind = spec.definitions.get(node.type, "function")
        sig_src = node
        if node.type == "variable_declarator":
            value = node.child_by_field_name("value")
            if value is None or value.type not in (
                "arrow_function",
                "function_expression",
                "function",
            ):
                continue
            sig_src = value
        elif spec.calls:
            kind = _call_kind(node, spec) or ""
            if not kind:
                continue
        name = _name(node, spec)
        if not name:
            continue
        key = _qualname(node, spec, name)
        if key in out:
            k = 2
            while f"{key}#{k}" in out:
                k += 1
            key = f"{key}#{k}"
        out[key] = Definition(
            kind=kind,
            signature=_signature(node, sig_src, kind, spec),
            public=is_public(node, spec, name),
            body_hash=hashlib.blake2b(_body(node, spec), digest_size=8).hexdigest(),
        )
    return out


@dataclass(slots=True)
class StructureDelta:
    """Counts of definition changes between two versions of a set of files."""

    files_parsed: int = 0
    defs_added: int = 0
    defs_removed: int = 0
    defs_signature_changed: int = 0
    defs_body_changed: int = 0
    types_added: int = 0
    types_removed: int = 0
    public_added: int = 0
    public_removed: int = 0
    public_signature_changed: int = 0
    parse_errors: int = 0

    def add(self, old: dict[str, Definition], new: dict[str, Definition]) -> None:
        """Accumulate the comparison of one file's old and new definitions."""
        self.files_parsed += 1
        for name, d in new.items():
            o = old.get(name)
            if o is None:
                self.defs_added += 1
                self.types_added += d.kind == "type"
                self.public_added += d.public
            elif o.signature != d.signature or o.public != d.public:
                self.defs_signature_changed += 1
                self.public_signature_changed += o.public or d.public
            elif o.body_hash != d.body_hash and d.kind != "type":
                self.defs_body_changed += 1
        for name, o in old.items():
            if name not in new:
                self.defs_removed += 1
                self.types_removed += o.kind == "type"
                self.public_removed += o.public


class BlobReader:
    """A persistent `git cat-file --batch-command` process: blob contents and path existence.

    Questions go in batches (`infos`, `contents`): all commands are written, then all answers
    read, so a commit costs one round trip to git instead of two per blob. It also holds the
    caches of `file_definitions`: definitions by blob id, and the last parsed tree per path.
    """

    #: commands written before reading answers (keeps the commands within one pipe buffer)
    PIPELINE = 256

    def __init__(
        self,
        git_dir: str | Path,
        cache_size: int = 512,
        tree_bytes: int = 4 * 1024 * 1024,
        incremental: bool = True,
    ) -> None:
        self.git_dir = git_dir
        self.cache: OrderedDict[tuple[str, str], dict[str, Definition] | None] = OrderedDict()
        self.cache_size = cache_size
        #: path -> (language, source, tree) of the version of that path parsed last; at most
        #: `tree_bytes` of source in all (a tree takes about 25 times its source in memory)
        self.trees: OrderedDict[str, tuple[str, bytes, Any]] = OrderedDict()
        self.tree_bytes = tree_bytes
        self.held = 0
        self.incremental = incremental
        self.proc = subprocess.Popen(
            git_argv(git_dir, ["cat-file", "--batch-command"]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=git_env(),
        )

    def _send(self, commands: list[str]) -> None:
        assert self.proc.stdin is not None
        try:
            self.proc.stdin.write(
                b"".join(c.encode("utf-8", "surrogateescape") + b"\n" for c in commands)
            )
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise GitError(f"{self.git_dir}: git cat-file stopped") from exc

    def _header(self) -> list[bytes]:
        assert self.proc.stdout is not None
        header = self.proc.stdout.readline()
        if not header:
            raise GitError(f"{self.git_dir}: git cat-file stopped")
        return header.split()

    @staticmethod
    def _meta(head: list[bytes]) -> tuple[str, int] | None:
        # "<name> missing" / "<name> ambiguous": the name itself may contain spaces
        if len(head) < 3 or head[-1] in (b"missing", b"ambiguous") or not head[-1].isdigit():
            return None
        return head[-2].decode(), int(head[-1])

    def infos(self, specs: list[str]) -> list[tuple[str, int] | None]:
        """(type, size) of each object name (`<oid>` or `<rev>:<path>`); None where missing."""
        out: list[tuple[str, int] | None] = []
        for i in range(0, len(specs), self.PIPELINE):
            chunk = specs[i : i + self.PIPELINE]
            ok = [s for s in chunk if "\n" not in s]
            self._send([f"info {s}" for s in ok])
            answers = iter([self._meta(self._header()) for _ in ok])
            out.extend(None if "\n" in s else next(answers) for s in chunk)
        return out

    def info(self, spec: str) -> tuple[str, int] | None:
        """(type, size) of an object name like `<oid>` or `<rev>:<path>`; None if missing."""
        return self.infos([spec])[0]

    def contents(
        self,
        oids: list[str],
        max_bytes: int = MAX_BLOB_BYTES,
        metas: dict[str, tuple[str, int] | None] | None = None,
    ) -> list[bytes | None]:
        """Each blob's bytes, or None if it is missing, not a blob or larger than `max_bytes`.
        `metas`: the blobs' `infos`, when the caller already asked."""
        found = [metas[o] for o in oids] if metas is not None else self.infos(oids)
        wanted = [
            o
            for o, m in zip(oids, found, strict=True)
            if m is not None and m[0] == "blob" and m[1] <= max_bytes
        ]
        got: dict[str, bytes | None] = {}
        assert self.proc.stdout is not None
        for i in range(0, len(wanted), self.PIPELINE):
            chunk = wanted[i : i + self.PIPELINE]
            self._send([f"contents {o}" for o in chunk])
            for o in chunk:
                meta = self._meta(self._header())
                got[o] = None if meta is None else self.proc.stdout.read(meta[1] + 1)[:-1]
        return [got.get(o) for o in oids]

    def read(self, oid: str, max_bytes: int = MAX_BLOB_BYTES) -> bytes | None:
        """A blob's bytes, or None if it is missing or larger than `max_bytes`."""
        return self.contents([oid], max_bytes)[0]

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            try:
                self.proc.stdin.close()
            except BrokenPipeError:
                pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _common_ends(a: bytes, b: bytes) -> tuple[int, int]:
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


def _parse(
    reader: BlobReader,
    path: str | None,
    lang: str,
    source: bytes,
    change: tuple[bytes, list[Any]] | None = None,
) -> Any:
    """Parse `source`, incrementally from the last tree parsed at the same path when there is
    one: consecutive versions of a file differ in a few places, and tree-sitter then re-parses
    only around the edit (the tree is the same as a full parse's). `change`: (old source, hunks)
    of the commit that made `source`; when that old source is the path's last tree's, the tree
    is told one edit per hunk instead of one from the first difference to the last."""
    parser, _ = _parser(lang)
    source = _scripts(source) if LANGUAGES[lang].scripts else source
    prev = reader.trees.pop(path, None) if path is not None else None
    if prev is not None:
        reader.held -= len(prev[1])
    if prev is not None and prev[0] == lang and reader.incremental:
        old_src, old_tree = prev[1], prev[2]
        edits = _hunk_edits(old_src, source, change[1]) if change and change[0] == old_src else None
        if edits is None:
            pre, suf = _common_ends(old_src, source)
            edits = [(pre, len(old_src) - suf, source[pre : len(source) - suf])]
        tree = parser.parse(source, _apply_edits(old_tree, old_src, edits))
    else:
        tree = parser.parse(source)
    if path is not None and len(source) <= reader.tree_bytes:
        reader.trees[path] = (lang, source, tree)
        reader.held += len(source)
        while reader.held > reader.tree_bytes:
            reader.held -= len(reader.trees.popitem(last=False)[1][1])
    return tree


def prefetch_definitions(
    reader: BlobReader, wanted: list[tuple[str | None, str, str | None]]
) -> None:
    """Parse the not yet cached blobs of `wanted` ((oid, lang, path) triples) into the cache,
    reading them from git in one batch."""
    todo: dict[tuple[str, str], str | None] = {}
    for oid, lang, path in wanted:
        if oid is not None and (oid, lang) not in reader.cache:
            todo.setdefault((oid, lang), path)
    if not todo:
        return
    datas = reader.contents([oid for oid, _ in todo])
    for ((oid, lang), path), data in zip(todo.items(), datas, strict=True):
        try:
            result = (
                None if data is None else definitions(lang, data, _parse(reader, path, lang, data))
            )
        except (ValueError, RecursionError):
            result = None
        _remember(reader, (oid, lang), result)


def _remember(
    reader: BlobReader, key: tuple[str, str], result: dict[str, Definition] | None
) -> None:
    reader.cache[key] = result
    if len(reader.cache) > reader.cache_size:
        reader.cache.popitem(last=False)


def file_definitions(
    reader: BlobReader, oid: str | None, lang: str, path: str | None = None
) -> dict[str, Definition] | None:
    """Definitions of one blob (empty for an absent side); None if unreadable or too large.

    Cached by blob id: walking a history in order, a file's old blob is usually the new blob of
    the previous commit that touched it, so most blobs are parsed once, not twice. `path` lets
    the parse start from the tree of that path's previous version (see `_parse`).
    """
    if oid is None:
        return {}
    key = (oid, lang)
    cache = reader.cache
    if key not in cache:
        prefetch_definitions(reader, [(oid, lang, path)])
    cache.move_to_end(key)
    return cache[key]


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


#: parse the whole file when the touched blocks are more than this share of it
_WHOLE_SHARE = 0.6


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


def _snippet_definitions(
    lang: str,
    src: bytes,
    blocks: list[tuple[int, int]],
    base: tuple[list[bytes], Any] | None = None,
) -> tuple[dict[str, Definition] | None, tuple[list[bytes], Any] | None]:
    """Definitions of the given top-level blocks parsed on their own; None if that parse has a
    syntax error (a block cut inside a multi-line string, say): then the caller parses all.
    Also the blocks' texts and tree, as the `base` of the other side's parse: that parse starts
    from this tree, told where each block changed (`_edit_blocks`), and re-parses only there."""
    parser, _ = _parser(lang)
    pieces = [src[a:b] for a, b in blocks]
    snippet = b"".join(pieces)
    tree = parser.parse(snippet, _edit_blocks(*base, pieces)) if base else parser.parse(snippet)
    if tree.root_node.has_error:
        return None, None
    return definitions(lang, snippet, tree), (pieces, tree)


def _line_offsets(src: bytes) -> list[int]:
    """Offset of each line's start, and len(src) after the last (as a final line would start)."""
    starts = (np.flatnonzero(np.frombuffer(src, dtype=np.uint8) == 10) + 1).tolist()
    if not starts or starts[-1] != len(src):
        starts.append(len(src))
    return [0, *starts]


def _hunk_edits(old: bytes, new: bytes, hunks: list[Any]) -> list[tuple[int, int, bytes]] | None:
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


def _apply_edits(tree: Any, src: bytes, edits: list[tuple[int, int, bytes]]) -> Any:
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


def _edit_blocks(old: list[bytes], tree: Any, new: list[bytes]) -> Any:
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
        pre, suf = _common_ends(a, b)
        if pre < len(a) or len(a) != len(b):
            edits.append((at + pre, at + len(a) - suf, b[pre : len(b) - suf]))
        at += len(a)
    return _apply_edits(tree, b"".join(old), edits)


def pair_definitions(
    reader: BlobReader,
    lang: str,
    old: tuple[str | None, str, bytes | None],
    new: tuple[str | None, str, bytes | None],
    hunks: list[Any],
) -> tuple[dict[str, Definition] | None, dict[str, Definition] | None]:
    """Old and new definitions of one changed file, as far as the change can affect them.

    `old`/`new` are (blob id or None for an absent side, path, bytes or None if unreadable).
    Why only the touched blocks: definitions in top-level blocks that no hunk touches are the
    same text on both sides and cancel out in `StructureDelta.add`; parsing just the blocks a
    hunk touches costs a fraction of parsing two whole files. Falls back to whole files (cached
    by blob id) for languages whose blocks cannot be cut (`snippets = false` in
    syntax_languages.toml), when the blocks are most of the file, do not parse cleanly on their own, or show
    a definition on one side whose name the other side's text holds (see `_mentions`).
    """
    (old_oid, old_path, old_src), (new_oid, new_path, new_src) = old, new
    if (old_oid is not None and old_src is None) or (new_oid is not None and new_src is None):
        return None, None
    old_src, new_src = old_src or b"", new_src or b""
    old_blocks = touched_blocks(old_src, [(h.old_start, h.old_count) for h in hunks], lang)
    new_blocks = touched_blocks(new_src, [(h.new_start, h.new_count) for h in hunks], lang)
    size = sum(b - a for a, b in old_blocks) + sum(b - a for a, b in new_blocks)
    if LANGUAGES[lang].snippets and size <= _WHOLE_SHARE * (len(old_src) + len(new_src)):
        try:
            o: dict[str, Definition] | None = {}
            n: dict[str, Definition] | None = {}
            base = None
            if old_oid is not None:
                o, base = _snippet_definitions(lang, old_src, old_blocks)
            if new_oid is not None and o is not None:  # else whole files anyway
                n, _ = _snippet_definitions(lang, new_src, new_blocks, base)
        except (ValueError, RecursionError):
            o = n = None
        if (
            o is not None
            and n is not None
            and not any(_mentions(old_src, k) for k in n.keys() - o.keys())
            and not any(_mentions(new_src, k) for k in o.keys() - n.keys())
        ):
            return o, n
    return (
        _whole(reader, old_oid, lang, old_path, old_src),
        _whole(reader, new_oid, lang, new_path, new_src, (old_src, hunks)),
    )


def _mentions(src: bytes, qualname: str) -> bool:
    """Whether `src` might define `qualname`: its own name occurs in the text. A definition that
    the blocks show on one side only is added or removed for certain when the other side never
    spells its name; otherwise it may sit in a block of the other side that no hunk touched
    (code moved between blocks), and only whole files can tell."""
    own = qualname.rsplit(".", 1)[-1].split("#", 1)[0]
    if "\ufffd" in own:  # undecodable bytes: the text cannot be searched for it
        return True
    return all(word.encode("utf-8", "surrogateescape") in src for word in own.split())


def _whole(
    reader: BlobReader,
    oid: str | None,
    lang: str,
    path: str,
    src: bytes,
    change: tuple[bytes, list[Any]] | None = None,
) -> dict[str, Definition] | None:
    """Definitions of a whole blob, cached by blob id; `change` as in `_parse`."""
    if oid is None:
        return {}
    key = (oid, lang)
    if key not in reader.cache:
        try:
            result = definitions(lang, src, _parse(reader, path, lang, src, change))
        except (ValueError, RecursionError):
            result = None
        _remember(reader, key, result)
    reader.cache.move_to_end(key)
    return reader.cache[key]
