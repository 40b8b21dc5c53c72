"""Code structure of a change: definitions added, removed and re-signed, read with tree-sitter.

Why parse both blobs: line diffs cannot tell a renamed parameter (an API change) from an edited
body (a local change). We parse the old and the new version of each changed source file, list
its definitions (functions, methods, classes, interfaces, structs, traits, ...) with their
signatures and whether they are public, and compare the two lists. Blobs come from one
persistent `git cat-file --batch-command` process per repository.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections import OrderedDict
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from mining.errors import GitError
from mining.gitcmd import git_argv, git_env

#: blobs larger than this are not parsed (generated or data files; parsing cost grows with size)
MAX_BLOB_BYTES = 512 * 1024

_EXT_LANG = {
    ".py": "python", ".pyi": "python",
    ".js": "javascript", ".jsx": "javascript", ".mjs": "javascript", ".cjs": "javascript",
    ".ts": "typescript", ".mts": "typescript", ".cts": "typescript", ".tsx": "tsx",
    ".go": "go", ".rs": "rust", ".java": "java",
}  # fmt: skip

#: node types that define something, per language; the value is the definition's kind
_DEF_TYPES: dict[str, dict[str, str]] = {
    "python": {"function_definition": "function", "class_definition": "type"},
    "javascript": {
        "function_declaration": "function", "generator_function_declaration": "function",
        "class_declaration": "type", "method_definition": "function",
        "variable_declarator": "function",
    },
    "typescript": {
        "function_declaration": "function", "generator_function_declaration": "function",
        "class_declaration": "type", "abstract_class_declaration": "type",
        "method_definition": "function", "method_signature": "function",
        "abstract_method_signature": "function", "interface_declaration": "type",
        "type_alias_declaration": "type", "enum_declaration": "type",
        "variable_declarator": "function", "function_signature": "function",
    },
    "go": {
        "function_declaration": "function", "method_declaration": "function",
        "type_spec": "type", "method_elem": "function",
    },
    "rust": {
        "function_item": "function", "function_signature_item": "function",
        "struct_item": "type", "enum_item": "type", "trait_item": "type", "union_item": "type",
        "type_item": "type", "mod_item": "module",
    },
    "java": {
        "method_declaration": "function", "constructor_declaration": "function",
        "class_declaration": "type", "interface_declaration": "type", "enum_declaration": "type",
        "record_declaration": "type", "annotation_type_declaration": "type",
    },
}  # fmt: skip
_DEF_TYPES["tsx"] = _DEF_TYPES["typescript"]

#: fields whose text makes up a definition's signature
_SIG_FIELDS = ("type_parameters", "parameters", "receiver", "return_type", "result",
               "superclasses", "superclass", "interfaces", "type", "value_type")  # fmt: skip
#: enclosing node types that contribute to a qualified name
_SCOPE_TYPES = {
    "class_definition", "class_declaration", "abstract_class_declaration", "interface_declaration",
    "impl_item", "trait_item", "mod_item", "enum_declaration", "record_declaration",
    "function_definition", "function_declaration", "method_definition", "type_spec",
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Definition:
    kind: str  # function | type | module
    signature: str
    public: bool
    body_hash: str


@cache
def _parser(lang: str) -> tuple[Any, Any]:
    import tree_sitter as ts

    if lang == "python":
        import tree_sitter_python as mod

        raw = mod.language()
    elif lang == "javascript":
        import tree_sitter_javascript as mod

        raw = mod.language()
    elif lang in ("typescript", "tsx"):
        import tree_sitter_typescript as mod

        raw = mod.language_tsx() if lang == "tsx" else mod.language_typescript()
    elif lang == "go":
        import tree_sitter_go as mod

        raw = mod.language()
    elif lang == "rust":
        import tree_sitter_rust as mod

        raw = mod.language()
    elif lang == "java":
        import tree_sitter_java as mod

        raw = mod.language()
    else:  # pragma: no cover - guarded by language_for
        raise ValueError(lang)
    language = ts.Language(raw)
    patterns = []
    for node_type in _DEF_TYPES[lang]:
        try:
            ts.Query(language, f"({node_type}) @def")
        except Exception:  # noqa: BLE001 - grammar lacks this node type: skip it
            continue
        patterns.append(f"({node_type}) @def")
    query = ts.Query(language, "\n".join(patterns))
    return ts.Parser(language), query


def language_for(path: str) -> str | None:
    """tree-sitter language name for a path, or None when we do not parse it."""
    return _EXT_LANG.get(Path(path).suffix.lower())


def _text(node: Any) -> str:
    return " ".join(node.text.decode("utf-8", "replace").split())


def _name(node: Any, lang: str) -> str | None:
    n = node.child_by_field_name("name")
    if n is None:
        if node.type == "impl_item":
            t = node.child_by_field_name("type")
            tr = node.child_by_field_name("trait")
            return (f"{_text(tr)} for " if tr is not None else "") + (_text(t) if t else "?")
        return None
    return _text(n)


def _is_public(node: Any, lang: str, name: str) -> bool:
    if lang == "python":
        return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))
    if lang == "go":
        return name[:1].isupper()
    if lang == "rust":
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
                or (
                    p.parent.type == "impl_item"
                    and p.parent.child_by_field_name("trait") is not None
                )
            )
        )
    if lang == "java":
        for c in node.children:
            if c.type == "modifiers":
                mods = c.text.decode("utf-8", "replace").split()
                return "public" in mods or "protected" in mods
        p = node.parent
        return p is not None and p.type == "interface_body"
    # javascript / typescript: exported, or a non-private member of an exported class
    p = node.parent
    while p is not None:
        if p.type == "export_statement":
            return True
        if p.type in ("class_body", "interface_body", "object_type"):
            if any(c.type == "accessibility_modifier" and c.text in (b"private", b"protected")
                   for c in node.children):  # fmt: skip
                return False
            if name.startswith("#"):
                return False
        if p.type in ("statement_block", "function_body"):
            return False
        p = p.parent
    return False


def _qualname(node: Any, lang: str, name: str) -> str:
    parts = [name]
    if node.type == "method_declaration" and lang == "go":
        recv = node.child_by_field_name("receiver")
        if recv is not None:
            words = _text(recv).strip("()").replace("*", " ").split()
            parts.append(words[-1] if words else "?")
    p = node.parent
    while p is not None:
        if p.type in _SCOPE_TYPES:
            n = _name(p, lang)
            if n:
                parts.append(n)
        p = p.parent
    return ".".join(reversed(parts))


def definitions(lang: str, source: bytes) -> dict[str, Definition]:
    """Definitions of one file by qualified name (`Class.method`, `impl Foo.bar`, ...)."""
    parser, query = _parser(lang)
    tree = parser.parse(source)
    import tree_sitter as ts

    out: dict[str, Definition] = {}
    captures = ts.QueryCursor(query).captures(tree.root_node).get("def", [])
    kinds = _DEF_TYPES[lang]
    for node in captures:
        kind = kinds.get(node.type, "function")
        if node.type == "variable_declarator":
            value = node.child_by_field_name("value")
            if value is None or value.type not in ("arrow_function", "function_expression",
                                                   "function"):  # fmt: skip
                continue
            sig_src = value
        else:
            sig_src = node
        name = _name(node, lang)
        if not name:
            continue
        sig = [node.type]
        for fname in _SIG_FIELDS:
            child = sig_src.child_by_field_name(fname)
            if child is not None and not (kind == "type" and fname == "type" and lang == "go"):
                sig.append(f"{fname}={_text(child)}")
        if lang == "go" and node.type == "type_spec":
            t = node.child_by_field_name("type")
            sig.append(t.type if t is not None else "")
        body = node.text or b""
        out[_qualname(node, lang, name)] = Definition(
            kind=kind,
            signature=" ".join(sig),
            public=_is_public(node, lang, name),
            body_hash=hashlib.blake2b(body, digest_size=8).hexdigest(),
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
    """A persistent `git cat-file --batch-command` process: blob contents and path existence."""

    def __init__(self, git_dir: str | Path, cache_size: int = 2048) -> None:
        self.git_dir = git_dir
        self.cache: OrderedDict[tuple[str, str], dict[str, Definition] | None] = OrderedDict()
        self.cache_size = cache_size
        self.proc = subprocess.Popen(
            git_argv(git_dir, ["cat-file", "--batch-command"]),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=git_env(),
        )

    def _ask(self, command: str) -> list[bytes]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if "\n" in command:
            return [b"", b"missing"]
        try:
            self.proc.stdin.write(command.encode("utf-8", "surrogateescape") + b"\n")
            self.proc.stdin.flush()
        except BrokenPipeError as exc:
            raise GitError(f"{self.git_dir}: git cat-file stopped") from exc
        header = self.proc.stdout.readline()
        if not header:
            raise GitError(f"{self.git_dir}: git cat-file stopped")
        return header.split()

    def info(self, spec: str) -> tuple[str, int] | None:
        """(type, size) of an object name like `<oid>` or `<rev>:<path>`; None if missing."""
        head = self._ask(f"info {spec}")
        # "<name> missing" / "<name> ambiguous": the name itself may contain spaces
        if len(head) < 3 or head[-1] in (b"missing", b"ambiguous") or not head[-1].isdigit():
            return None
        return head[1].decode(), int(head[2])

    def read(self, oid: str, max_bytes: int = MAX_BLOB_BYTES) -> bytes | None:
        """A blob's bytes, or None if it is missing or larger than `max_bytes`."""
        meta = self.info(oid)
        if meta is None or meta[0] != "blob" or meta[1] > max_bytes:
            return None
        head = self._ask(f"contents {oid}")
        if len(head) < 3 or head[1] == b"missing":
            return None
        assert self.proc.stdout is not None
        data = self.proc.stdout.read(int(head[2]) + 1)
        return data[:-1]

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


def file_definitions(
    reader: BlobReader, oid: str | None, lang: str
) -> dict[str, Definition] | None:
    """Definitions of one blob (empty for an absent side); None if unreadable or too large.

    Cached by blob id: walking a history in order, a file's old blob is usually the new blob of
    the previous commit that touched it, so most blobs are parsed once, not twice.
    """
    if oid is None:
        return {}
    key = (oid, lang)
    cache = reader.cache
    if key in cache:
        cache.move_to_end(key)
        return cache[key]
    data = reader.read(oid)
    result = None if data is None else definitions(lang, data)
    cache[key] = result
    if len(cache) > reader.cache_size:
        cache.popitem(last=False)
    return result
