"""Code structure of a change: definitions added, removed and re-signed, read with tree-sitter.

Why parse both blobs: line diffs cannot tell a renamed parameter (an API change) from an edited
body (a local change). We parse the old and the new version of each changed source file, list
its definitions (functions, methods, classes, interfaces, structs, traits, ...) with their
signatures and whether they are public, and compare the two lists. Blobs come from one
persistent `git cat-file --batch-command` process per repository.

The language tables and grammars live in `syntax_languages`, the cut of a file into the blocks
a hunk touches in `syntax_blocks`; this module reads definitions and compares them.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mining.errors import GitError
from mining.gitcmd import git_argv, git_env
from mining.syntax_blocks import (
    apply_edits,
    common_ends,
    edit_blocks,
    hunk_edits,
    reversed_hunks,
    touched_blocks,
)
from mining.syntax_languages import LANGUAGES, Language, parser_for, scripts_only
from mining.syntax_languages import language_for as language_for  # callers use syntax.language_for

#: blobs larger than this are not parsed (generated or data files; parsing cost grows with size)
MAX_BLOB_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class Definition:
    kind: str  # function | type | module
    signature: str
    public: bool
    body_hash: str


def _text(node: Any) -> str:
    return " ".join(node.text.decode("utf-8", "replace").split())


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
    parser, query = parser_for(lang)
    if tree is None:
        tree = parser.parse(scripts_only(source) if spec.scripts else source)
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
        #: whether commits come newest first, as far as `_whole_pair` has seen (rev-list's order)
        self.newest_first = True
        #: names git died on (`infos`): asked no more
        self.unreadable: set[str] = set()
        self.proc = self._start()

    def _restart(self) -> None:
        self.close()
        self.proc = self._start()

    def _start(self) -> subprocess.Popen[bytes]:
        return subprocess.Popen(
            git_argv(self.git_dir, ["cat-file", "--batch-command"]),
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
        """(type, size) of each object name (`<oid>` or `<rev>:<path>`); None where missing.

        In a partial clone with a promisor remote (`clone --filter=blob:none`) git dies on a
        missing blob instead of answering "missing": the batch is then asked again name by name,
        in a restarted git, and a name git dies on counts as missing (`unreadable`).
        """
        out: list[tuple[str, int] | None] = []
        for i in range(0, len(specs), self.PIPELINE):
            chunk = specs[i : i + self.PIPELINE]
            try:
                out.extend(self._ask_infos(chunk))
            except GitError:
                out.extend(self._infos_one_by_one(chunk))
        return out

    def _ask_infos(self, chunk: list[str]) -> list[tuple[str, int] | None]:
        ok = [s for s in chunk if "\n" not in s and s not in self.unreadable]
        self._send([f"info {s}" for s in ok])
        answers = dict(zip(ok, [self._meta(self._header()) for _ in ok], strict=True))
        return [answers.get(s) for s in chunk]

    def _infos_one_by_one(self, chunk: list[str]) -> list[tuple[str, int] | None]:
        out: list[tuple[str, int] | None] = []
        self._restart()  # git died part-way through the batch
        for spec in chunk:
            if self.proc.poll() is not None:
                self._restart()
            try:
                out.extend(self._ask_infos([spec]))
            except GitError:
                self.unreadable.add(spec)
                out.append(None)
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
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse(
    reader: BlobReader,
    path: str | None,
    lang: str,
    source: bytes,
    change: tuple[bytes, list[Any]] | None = None,
) -> Any:
    """Parse `source`, incrementally from the last tree parsed at the same path when there is
    one: consecutive versions of a file differ in a few places, and tree-sitter then re-parses
    only around the edit (the tree is the same as a full parse's). `change`: (the other side's
    source, the hunks read from that side to `source`); when that source is the path's last
    tree's, the tree is told one edit per hunk instead of one from the first difference to the
    last."""
    parser, _ = parser_for(lang)
    source = scripts_only(source) if LANGUAGES[lang].scripts else source
    prev = reader.trees.pop(path, None) if path is not None else None
    if prev is not None:
        reader.held -= len(prev[1])
    if prev is not None and prev[0] == lang and reader.incremental:
        old_src, old_tree = prev[1], prev[2]
        edits = hunk_edits(old_src, source, change[1]) if change and change[0] == old_src else None
        if edits is None:
            pre, suf = common_ends(old_src, source)
            edits = [(pre, len(old_src) - suf, source[pre : len(source) - suf])]
        tree = parser.parse(source, apply_edits(old_tree, old_src, edits))
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


#: parse the whole file when the touched blocks are more than this share of it
_WHOLE_SHARE = 0.6


def _snippet_definitions(
    lang: str,
    src: bytes,
    blocks: list[tuple[int, int]],
    base: tuple[list[bytes], Any] | None = None,
) -> tuple[dict[str, Definition] | None, tuple[list[bytes], Any] | None]:
    """Definitions of the given top-level blocks parsed on their own; None if that parse has a
    syntax error (a block cut inside a multi-line string, say): then the caller parses all.
    Also the blocks' texts and tree, as the `base` of the other side's parse: that parse starts
    from this tree, told where each block changed (`syntax_blocks.edit_blocks`), and re-parses only there."""
    parser, _ = parser_for(lang)
    pieces = [src[a:b] for a, b in blocks]
    snippet = b"".join(pieces)
    tree = parser.parse(snippet, edit_blocks(*base, pieces)) if base else parser.parse(snippet)
    if tree.root_node.has_error:
        return None, None
    return definitions(lang, snippet, tree), (pieces, tree)


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
    if LANGUAGES[lang].snippets:  # else the blocks would be cut only to be thrown away
        pair = _snippet_pair(lang, old_oid, new_oid, old_src, new_src, hunks)
        if pair is not None:
            return pair
    return _whole_pair(
        reader, lang, (old_oid, old_path, old_src), (new_oid, new_path, new_src), hunks
    )


def _whole_pair(
    reader: BlobReader,
    lang: str,
    old: tuple[str | None, str, bytes],
    new: tuple[str | None, str, bytes],
    hunks: list[Any],
) -> tuple[dict[str, Definition] | None, dict[str, Definition] | None]:
    """Both sides' definitions from whole files, each re-parsed from the other's tree with the
    hunks as edits. The side parsed last stays the path's tree, so it should be the side that
    the path's next pair shares: the old side when commits come newest first, the new side when
    oldest first (the back of a shared run). The way they come shows when the path's tree is
    one side of this pair; a path not seen before takes the way seen last."""
    (old_oid, old_path, old_src), (new_oid, new_path, new_src) = old, new
    last = reader.trees.get(new_path)
    if last is not None and old_src != new_src and last[1] in (old_src, new_src):
        reader.newest_first = last[1] == new_src
    if reader.newest_first:
        n = _whole(reader, new_oid, lang, new_path, new_src, (old_src, hunks))
        return _whole(reader, old_oid, lang, old_path, old_src, (new_src, reversed_hunks(hunks))), n
    o = _whole(reader, old_oid, lang, old_path, old_src, (new_src, reversed_hunks(hunks)))
    return o, _whole(reader, new_oid, lang, new_path, new_src, (old_src, hunks))


def _snippet_pair(
    lang: str,
    old_oid: str | None,
    new_oid: str | None,
    old_src: bytes,
    new_src: bytes,
    hunks: list[Any],
) -> tuple[dict[str, Definition] | None, dict[str, Definition] | None] | None:
    """`pair_definitions` from the touched blocks alone, or None when only whole files can
    tell (see `pair_definitions`)."""
    old_blocks = touched_blocks(old_src, [(h.old_start, h.old_count) for h in hunks], lang)
    new_blocks = touched_blocks(new_src, [(h.new_start, h.new_count) for h in hunks], lang)
    size = sum(b - a for a, b in old_blocks) + sum(b - a for a, b in new_blocks)
    if size <= _WHOLE_SHARE * (len(old_src) + len(new_src)):
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
    return None


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
