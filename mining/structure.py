"""Stage `structure`: structural-change events per non-merge commit, decided without a model.

Reads: `repos.git_dir`, `commits` (which shas). Writes: `commit_structure` (50_structure.sql).

Why: the study's main outcome is a learned layer label, weakest exactly on the architectural
layer. These events (a module added or removed, code moved across packages, a public interface
changed, a contract file changed, a new runtime dependency, a new container/service/CI job) are
read from the file list, the two trees and a few blobs, so no classifier decides them. The
definitions are data: mining/structure_events.toml.

Speed: one streamed `git log --raw -M` per batch of commits, plus one `git cat-file
--batch-command` process that answers "did this directory exist" and returns the few blobs
needed (manifests, compose files, workflows, and source files whose changed lines could touch a
signature). Events short-circuit: a commit stops being read once its event is known.
"""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from mining import diffs, store, syntax
from mining.errors import GitError, StageError
from mining.gitcmd import full_commit_ids, resolve_git_dir, stream_each_commit, stream_git
from mining.logparse import LOG_ARGS, CommitRecord, FileRow, parse_log
from mining.syntax_languages import signature_gate

#: bump when an event's definition changes (rows of older versions are recomputed). "2": the
#: definitions reader changed under "1" without a bump (rows computed by older code differed
#: from a fresh build's in 790 of 227,245 commits, public_interface, most in Java, Kotlin and
#: Rust); the gate now reads each changed line alone (it read them joined, in an order set by
#: the hash seed); a commit's renames no longer depend on the batch it is read in. "3":
#: `dependency_added` reads pubspec.yaml, mix.exs, Package.swift, sbt builds and podspecs
STRUCTURE_VERSION = "3"
#: the events, in column order (commit_structure)
EVENTS = (
    "module_added",
    "module_removed",
    "code_moved",
    "public_interface",
    "contract_changed",
    "dependency_added",
    "topology_changed",
)
#: aggregates reported beside the events: any of them, and any but the (frequent, imprecise)
#: public-interface event (docs/structure.md)
AGGREGATES = {
    "any_event": EVENTS,
    "any_but_interface": tuple(e for e in EVENTS if e != "public_interface"),
}
#: commits per git log call and per written transaction
BATCH = 5000
#: manifests and topology files larger than this are not read (generated or data files)
MAX_CONFIG_BYTES = 1024 * 1024

_LOG_ARGS = [a for a in LOG_ARGS if a != "--numstat"]  # line counts need blob diffs: not needed
_ZERO = "0" * 40


# --- definitions --------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def definitions() -> dict[str, Any]:
    """The event definitions (structure_events.toml); the interface gate's patterns are the
    languages' (`syntax_languages.signature_gate`)."""
    text = (resources.files("mining") / "structure_events.toml").read_text(encoding="utf-8")
    data = tomllib.loads(text)
    data["module_added"]["extensions"] = frozenset(data["module_added"]["extensions"])
    return data


def _match(path: str, names: list[str], paths: list[str]) -> bool:
    low = path.lower()
    base = low.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatchcase(base, p) for p in names) or any(
        fnmatch.fnmatchcase(low, p) for p in paths
    )


def _dir(path: str) -> str:
    return path.rsplit("/", 1)[0] if "/" in path else ""


@lru_cache(maxsize=65536)
def place_kind(path: str) -> str:
    """The kind its folder gives a path: "source" for an ordinary folder, else test, vendored,
    docs, ... (file_kinds.toml's folder rules, asked with a probe file in the same folder)."""
    d = _dir(path)
    return diffs.file_kind(f"{d}/_probe_.py" if d else "_probe_.py")


def _excluded(path: str, kinds: list[str]) -> bool:
    return diffs.file_kind(path) in kinds or place_kind(path) in kinds


# --- one commit ---------------------------------------------------------------------------------


@dataclass(slots=True)
class Change:
    """One file of a commit's raw diff against its first parent (paths decoded)."""

    status: str
    path: str
    old_path: str | None
    old_blob: str | None
    new_blob: str | None

    @classmethod
    def from_row(cls, row: FileRow) -> Change:
        return cls(
            status=row.status,
            path=row.path.decode("utf-8", "backslashreplace"),
            old_path=row.old_path.decode("utf-8", "backslashreplace") if row.old_path else None,
            old_blob=None if row.old_blob.strip("0") == "" else row.old_blob,
            new_blob=None if row.new_blob.strip("0") == "" else row.new_blob,
        )

    @property
    def before(self) -> str:
        return self.old_path or self.path


def commit_events(
    sha: str, parents: list[str], changes: list[Change], reader: syntax.BlobReader
) -> dict[str, bool]:
    """The structural events of one non-merge commit (see structure_events.toml)."""
    d = definitions()
    parent = parents[0] if parents else None
    row = {
        "module_added": _module_added(changes, parent, reader, d),
        "module_removed": _module_removed(changes, sha, reader, d),
        "code_moved": _code_moved(changes, d),
        "contract_changed": _contract_changed(changes, d),
        "dependency_added": _dependency_added(changes, reader, d),
        "topology_changed": _topology_changed(changes, reader, d),
        "public_interface": _public_interface(changes, reader, d),
    }
    return {e: row[e] for e in EVENTS}


def _is_code(path: str, d: dict[str, Any]) -> bool:
    return (
        diffs.file_kind(path) in d["structural_kinds"]
        and Path(path).suffix.lower() in d["module_added"]["extensions"]
    )


def _topmost_absent(paths: list[str], rev: str | None, reader: syntax.BlobReader) -> list[str]:
    """For each path, its topmost ancestor folder absent from `rev`'s tree ("" if none)."""
    known: dict[str, bool] = {}
    out = []
    for p in paths:
        parts = p.split("/")[:-1]
        found = ""
        for i in range(1, len(parts) + 1):
            folder = "/".join(parts[:i])
            if folder not in known:
                known[folder] = rev is not None and reader.info(f"{rev}:{folder}") is not None
            if not known[folder]:
                found = folder
                break
        out.append(found)
    return out


def _count_in_new_folders(paths: list[str], rev: str | None, reader: syntax.BlobReader) -> int:
    """Most files that fall under one folder absent from `rev`."""
    counts: dict[str, int] = {}
    for top in _topmost_absent(paths, rev, reader):
        if top:
            counts[top] = counts.get(top, 0) + 1
    return max(counts.values(), default=0)


def _module_added(
    changes: list[Change], parent: str | None, reader: syntax.BlobReader, d: dict[str, Any]
) -> bool:
    added = [c.path for c in changes if c.status in "ARC" and _is_code(c.path, d)]
    need = d["module_added"]["min_source_files"]
    if len(added) < need:
        return False
    return _count_in_new_folders(added, parent, reader) >= need


def _module_removed(
    changes: list[Change], sha: str, reader: syntax.BlobReader, d: dict[str, Any]
) -> bool:
    gone = [c.before for c in changes if c.status in "DR" and _is_code(c.before, d)]
    need = d["module_removed"]["min_source_files"]
    if len(gone) < need:
        return False
    return _count_in_new_folders(gone, sha, reader) >= need


def _code_moved(changes: list[Change], d: dict[str, Any]) -> bool:
    moved = sum(
        c.status == "R"
        and _is_code(c.path, d)
        and _is_code(c.before, d)
        and _dir(c.before) != _dir(c.path)
        for c in changes
    )
    return moved >= d["code_moved"]["min_files"]


def _contract_changed(changes: list[Change], d: dict[str, Any]) -> bool:
    skip = d["contract_changed"]["excluded_kinds"]
    return any(
        (diffs.is_contract(p) and not _excluded(p, skip))
        for c in changes
        for p in {c.path, c.before}
    )


# --- dependencies -------------------------------------------------------------------------------

_REQ_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")
_GO_REQ = re.compile(r"^\s*(?:require\s+)?([\w.-]+\.[a-z]{2,}/\S*|[\w.-]+\.[a-z]{2,})\s+v\d")
_GRADLE = re.compile(
    r"\b(\w+)\s*\(?\s*(?:[\"']([^\"':\s]+:[^\"':\s]+)|(libs\.[\w.]+)|platform\([\"']([^\"':]+:[^\"':]+))"
)
_GEM = re.compile(r"^\s*gem\s*\(?\s*[\"']([\w.-]+)[\"']")
_GEMSPEC = re.compile(
    r"^\s*\w+\.add_(development_|runtime_)?dependency\s*\(?\s*[\"']([\w.-]+)[\"']"
)
_GROUP = re.compile(r"^\s*group\b(.*)\bdo\b")
_MVN_DEP = re.compile(r"<dependency>(.*?)</dependency>", re.DOTALL)
_MVN_FIELD = re.compile(r"<(groupId|artifactId|scope)>\s*([^<\s]+)\s*</")
_NUGET = re.compile(r"<PackageReference\s+Include\s*=\s*\"([^\"]+)\"", re.IGNORECASE)
_SETUP = re.compile(r"install_requires\s*=\s*\[(.*?)\]", re.DOTALL)
_QUOTED = re.compile(r"[\"']([^\"']+)[\"']")
_NOT_DEPS = {"python", "php"}


def _req_names(items: Any) -> set[str]:
    out = set()
    for item in items:
        if isinstance(item, str):
            m = _REQ_NAME.match(item)
            if m:
                out.add(m.group(1).lower().replace("_", "-"))
    return out


def _walk(data: Any, path: list[str]) -> Iterator[Any]:
    if not path:
        yield data
        return
    if not isinstance(data, dict):
        return
    key, rest = path[0], path[1:]
    if key == "*":
        for v in data.values():
            yield from _walk(v, rest)
    elif key in data:
        yield from _walk(data[key], rest)


def _structured_deps(data: Any, runtime: list[str]) -> set[str]:
    out: set[str] = set()
    for spec in runtime:
        for node in _walk(data, spec.split(".")):
            if isinstance(node, dict):
                out |= {str(k).lower() for k in node}
            elif isinstance(node, list):
                out |= _req_names(node)
    return out - _NOT_DEPS


def _is_dev_file(path: str, words: list[str]) -> bool:
    tokens = set(re.split(r"[^a-z0-9]+", path.lower()))
    return bool(tokens & set(words))


def runtime_dependencies(path: str, text: str, manifest: dict[str, Any]) -> set[str]:
    """Names of the runtime dependencies a manifest declares (dev/test/build ones left out).

    Raises ValueError when the file cannot be read in its format (a broken JSON or TOML)."""
    reader = _FORMATS.get(manifest["format"])
    if reader is None:
        raise ValueError(f"unknown manifest format {manifest['format']!r}")
    return reader(path, text, manifest)


def _json_deps(path: str, text: str, manifest: dict[str, Any]) -> set[str]:
    return _structured_deps(json.loads(text), manifest["runtime"])


def _toml_deps(path: str, text: str, manifest: dict[str, Any]) -> set[str]:
    return _structured_deps(tomllib.loads(text), manifest["runtime"])


def _requirements_deps(path: str, text: str, manifest: dict[str, Any]) -> set[str]:
    if _is_dev_file(path, definitions()["dependency_added"]["dev_name_words"]):
        return set()
    return _req_names(ln for ln in text.splitlines() if not ln.lstrip().startswith(("#", "-")))


def _go_mod_deps(path: str, text: str, manifest: dict[str, Any]) -> set[str]:
    out, block = set(), False
    for ln in text.splitlines():
        s = ln.strip()
        if s.startswith(("require (", "require(")):
            block = True
            continue
        if block and s.startswith(")"):
            block = False
            continue
        if (block or s.startswith("require ")) and "// indirect" not in s:
            m = _GO_REQ.match(s)
            if m:
                out.add(m.group(1).lower())
    return out


def _gradle_deps(path: str, text: str, manifest: dict[str, Any]) -> set[str]:
    runtime = set(manifest["runtime"])
    out = set()
    for m in _GRADLE.finditer(text):
        if m.group(1) in runtime:
            out.add((m.group(2) or m.group(3) or m.group(4)).lower())
    return out


def _gemfile_deps(path: str, text: str, manifest: dict[str, Any]) -> set[str]:
    out, depth_dev = set(), 0
    for ln in text.splitlines():
        g = _GROUP.match(ln)
        if g:
            depth_dev += 1 if re.search(r"development|test", g.group(1)) else 0
            continue
        if depth_dev and re.match(r"^\s*end\b", ln):
            depth_dev -= 1
            continue
        m = _GEM.match(ln)
        if m and not depth_dev and "development" not in ln and ":test" not in ln:
            out.add(m.group(1).lower())
        spec = _GEMSPEC.match(ln)
        if spec and spec.group(1) != "development_":
            out.add(spec.group(2).lower())
    return out


def _maven_deps(path: str, text: str, manifest: dict[str, Any]) -> set[str]:
    out = set()
    for block in _MVN_DEP.findall(text):
        fields = dict(_MVN_FIELD.findall(block))
        if fields.get("scope") in ("test", "provided") or "artifactId" not in fields:
            continue
        out.add(f"{fields.get('groupId', '')}:{fields['artifactId']}".lower())
    return out


def _msbuild_deps(path: str, text: str, manifest: dict[str, Any]) -> set[str]:
    return {m.lower() for m in _NUGET.findall(text)}


def _setup_py_deps(path: str, text: str, manifest: dict[str, Any]) -> set[str]:
    out = set()
    for block in _SETUP.findall(text):
        out |= _req_names(_QUOTED.findall(block))
    return out


def _yaml_block_deps(path: str, text: str, manifest: dict[str, Any]) -> set[str]:
    """pubspec.yaml: the keys of the top-level `runtime` blocks (`dependencies`, not
    `dev_dependencies` or `dependency_overrides`)."""
    return {k.lower() for block in manifest["runtime"] for k in top_keys(text, block)}


def _mix_deps(path: str, text: str, manifest: dict[str, Any]) -> set[str]:
    """mix.exs: the `{:name, ...}` tuples of the `deps` function (the whole file if it has
    none), except those `only:` for environments other than :prod and `runtime: false` ones
    (compile-time tools such as credo or ex_doc)."""
    head = _MIX_DEPS_DEF.search(text)
    if head is not None:
        end = re.compile(rf"^{re.escape(head.group(1))}end\b", re.MULTILINE).search(
            text, head.end()
        )
        text = text[head.end() : end.start() if end else len(text)]
    out = set()
    for name, opts in _MIX_DEP.findall(text):
        only = _MIX_ONLY.search(opts)
        if (only and ":prod" not in only.group(1)) or _MIX_NO_RUNTIME.search(opts):
            continue
        out.add(name.lower())
    return out


def _swiftpm_deps(path: str, text: str, manifest: dict[str, Any]) -> set[str]:
    """Package.swift: each `.package(...)` by its `name:`, else its `id:`, else the last part
    of its `url:` or `path:` (without `.git`). SwiftPM does not say which targets use a package,
    so a package only tests use counts too."""
    out = set()
    for name, kind, value in _SWIFT_PKG.findall(text):
        if not name and kind in ("url", "path"):
            value = value.rstrip("/").rsplit("/", 1)[-1].removesuffix(".git")
        out.add((name or value).lower())
    return out


def _sbt_deps(path: str, text: str, manifest: dict[str, Any]) -> set[str]:
    """sbt: `"group" %% "artifact" % version` modules, except those scoped to tests or
    `Provided`, and sbt plugins (`addSbtPlugin`: build tools)."""
    out = set()
    for ln in text.splitlines():
        if "addSbtPlugin" in ln:
            continue
        for group, artifact, scope in _SBT_DEP.findall(ln):
            low = scope.lower()
            if "test" in low or "provided" in low or low.strip('"') == "it":
                continue
            out.add(f"{group}:{artifact}".lower())
    return out


def _podspec_deps(path: str, text: str, manifest: dict[str, Any]) -> set[str]:
    """*.podspec: `spec.dependency 'Name'`, except in `test_spec`/`app_spec` blocks (by the
    block's variable)."""
    test_vars = set(_POD_TEST_BLOCK.findall(text))
    return {name.lower() for var, name in _POD_DEP.findall(text) if var not in test_vars}


_MIX_DEPS_DEF = re.compile(r"^([ \t]*)defp?\s+deps\b[^\n]*$", re.MULTILINE)
_MIX_DEP = re.compile(r"\{\s*:([a-z_][\w]*)\s*(,[^{}]*)?\}")
_MIX_ONLY = re.compile(r"\bonly:\s*(\[[^\]]*\]|:\w+)")
_MIX_NO_RUNTIME = re.compile(r"\bruntime:\s*false\b")
_SWIFT_PKG = re.compile(
    r"\.package\s*\(\s*(?:name:\s*\"([^\"]+)\"\s*,\s*)?(url|path|id):\s*\"([^\"]+)\""
)
_SBT_DEP = re.compile(
    r"\"([^\"\s]+)\"\s*%{1,3}\s*\"([^\"\s]+)\"\s*%\s*(?:\"[^\"]*\"|[\w.]+)"
    r"(?:\s*%\s*(\"[^\"]*\"|[\w.]+))?"
)
_POD_DEP = re.compile(r"^\s*(\w+)\.dependency\s*\(?\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_POD_TEST_BLOCK = re.compile(r"\.(?:test|app)_spec\b[^\n]*\bdo\s*\|\s*(\w+)\s*\|")

#: manifest `format` (structure_events.toml) -> its reader
_FORMATS: dict[str, Callable[[str, str, dict[str, Any]], set[str]]] = {
    "json": _json_deps,
    "toml": _toml_deps,
    "requirements": _requirements_deps,
    "go_mod": _go_mod_deps,
    "gradle": _gradle_deps,
    "gemfile": _gemfile_deps,
    "maven": _maven_deps,
    "msbuild": _msbuild_deps,
    "setup_py": _setup_py_deps,
    "yaml_block": _yaml_block_deps,
    "mix": _mix_deps,
    "swiftpm": _swiftpm_deps,
    "sbt": _sbt_deps,
    "podspec": _podspec_deps,
}


def _manifest_for(path: str, d: dict[str, Any]) -> dict[str, Any] | None:
    for m in d["dependency_added"]["manifest"]:
        if _match(path, m["names"], m.get("paths", [])) and not _match(
            path, [], m.get("exclude_paths", [])
        ):
            return m
    return None


def _text(reader: syntax.BlobReader, oid: str | None) -> str | None:
    if oid is None:
        return ""
    data = reader.read(oid, MAX_CONFIG_BYTES)
    return None if data is None else data.decode("utf-8", "replace")


def _dependency_added(changes: list[Change], reader: syntax.BlobReader, d: dict[str, Any]) -> bool:
    skip = d["dependency_added"]["excluded_kinds"]
    for c in changes:
        if c.status == "D":
            continue
        manifest = _manifest_for(c.path, d)
        if manifest is None or _excluded(c.path, skip):
            continue
        old_oid = None if c.status == "A" else c.old_blob
        new, old = _text(reader, c.new_blob), _text(reader, old_oid)
        if new is None or old is None:
            continue
        try:
            fresh = runtime_dependencies(c.path, new, manifest) - (
                runtime_dependencies(c.before, old, manifest) if old else set()
            )
        except (ValueError, RecursionError):  # broken JSON/TOML in one version: no verdict
            continue
        if fresh:
            return True
    return False


# --- topology -----------------------------------------------------------------------------------

_KEY = re.compile(r"^[\"']?([^\s\"':#][^\"':#]*?)[\"']?\s*:(\s|$)")


def top_keys(text: str, block: str) -> set[str]:
    """Child keys of a top-level YAML mapping `block` (or the top-level keys for "").

    Indentation-based: enough for compose services, CI jobs and Procfile entries."""
    keys: set[str] = set()
    inside, indent = False, None
    for line in text.splitlines():
        stripped = line.lstrip()
        if not stripped or stripped.startswith("#"):
            continue
        ind = len(line) - len(stripped)
        m = _KEY.match(stripped)
        if ind == 0:
            if not block:
                if m:
                    keys.add(m.group(1))
            else:
                inside, indent = bool(m and m.group(1) == block), None
            continue
        if inside:
            indent = ind if indent is None else indent
            if ind == indent and m and not stripped.startswith("- "):
                keys.add(m.group(1))
    return keys


def _topology_changed(changes: list[Change], reader: syntax.BlobReader, d: dict[str, Any]) -> bool:
    t = d["topology_changed"]
    skip = t["excluded_kinds"]
    added = t["added_files"]
    for c in changes:
        if c.status == "D" or _excluded(c.path, skip):
            continue
        if c.status in "AC" or (
            c.status == "R" and not _match(c.before, added["names"], added["paths"])
        ):
            if _match(c.path, added["names"], added["paths"]):
                return True
            continue
        for spec in t["keys"]:
            if not _match(c.path, spec.get("names", []), spec.get("paths", [])):
                continue
            new, old = _text(reader, c.new_blob), _text(reader, c.old_blob)
            if new is not None and old is not None:
                if top_keys(new, spec["block"]) - top_keys(old, spec["block"]):
                    return True
    return False


# --- public interface ---------------------------------------------------------------------------


def _might_touch_signature(c: Change, lang: str, reader: syntax.BlobReader) -> bool:
    """Whether a line that differs between the two versions matches the language's gate."""
    gate = signature_gate(lang, binary=True)
    assert gate is not None  # `_public_interface` keeps only languages with a gate
    old = reader.read(c.old_blob) if c.old_blob else b""
    new = reader.read(c.new_blob) if c.new_blob else b""
    if old is None or new is None:
        return False
    # line by line: the patterns' `\s` and negated classes cross line breaks, so on the lines
    # joined a match depended on the set's order, i.e. on the hash seed (PYTHONHASHSEED)
    return any(
        gate.search(line) is not None for line in set(old.splitlines()) ^ set(new.splitlines())
    )


def _too_big(reader: syntax.BlobReader, c: Change, limit: int) -> bool:
    """Whether either version of the file is larger than `limit` bytes (or unreadable)."""
    for oid in (c.old_blob, c.new_blob):
        if oid is not None:
            meta = reader.info(oid)
            if meta is None or meta[1] > limit:
                return True
    return False


def _public_interface(changes: list[Change], reader: syntax.BlobReader, d: dict[str, Any]) -> bool:
    candidates = []
    for c in changes:
        lang = syntax.language_for(c.path)
        if lang is None or signature_gate(lang, binary=True) is None:  # or no gate yet
            continue
        if diffs.file_kind(c.path) not in d["structural_kinds"]:
            continue
        if c.status == "R" and c.old_blob == c.new_blob:
            continue  # a pure rename leaves the definitions as they were
        candidates.append((c.status not in "AD", c, lang))  # added/deleted files first
    candidates.sort(key=lambda x: x[0])
    parsed = 0
    for modified, c, lang in candidates:
        if parsed >= d["public_interface"]["max_parsed_files"]:
            break
        if _too_big(reader, c, d["public_interface"]["max_parse_bytes"]):
            continue
        if modified and not _might_touch_signature(c, lang, reader):
            continue
        parsed += 1
        try:
            old = syntax.file_definitions(reader, None if c.status == "A" else c.old_blob, lang)
            new = syntax.file_definitions(reader, None if c.status == "D" else c.new_blob, lang)
        except (ValueError, RecursionError):
            continue
        if old is None or new is None:
            continue
        delta = syntax.StructureDelta()
        delta.add(old, new)
        if delta.public_added or delta.public_removed or delta.public_signature_changed:
            return True
    return False


# --- streams ------------------------------------------------------------------------------------


def iter_commit_changes(
    git_dir: str | Path, shas: list[str]
) -> Iterator[tuple[str, list[str], list[Change]]]:
    """(sha, parents, changes) per listed commit from one streamed `git log --raw -M`.

    If rename detection cannot read a blob (a partial clone), git stops there: the first commit
    not yet read is read alone (`_one_commit_changes`) and the stream resumes after it
    (`gitcmd.stream_each_commit`). So a commit's changes never depend on the batch it comes in
    (the whole batch used to be read again without renames: a renamed file became an addition
    and a deletion, whose definitions all count as interface changes; 19 of 227,245 commits
    changed with the batching).
    """
    args = [*_LOG_ARGS, "--no-walk=unsorted", "--stdin"]
    one = [a for a in args if a != "--stdin"]
    yield from stream_each_commit(
        git_dir,
        args,
        shas,
        lambda chunks: map(_changes, parse_log(chunks)),
        lambda sha: _one_commit_changes(git_dir, one, sha),
    )


def _changes(rec: CommitRecord) -> tuple[str, list[str], list[Change]]:
    """(sha, parents, changes) of one parsed log record."""
    return rec.sha, rec.parents, [Change.from_row(f) for f in rec.files]


def _one_commit_changes(
    git_dir: str | Path, args: list[str], sha: str
) -> tuple[str, list[str], list[Change]]:
    """One commit read alone: with rename detection, or without it if that cannot read a blob.
    (git prints a commit only after detecting its renames, so the commit before the one that
    failed was printed whole but not yet parsed: it is read again here, renames and all.)"""
    try:
        recs = list(parse_log(stream_git(git_dir, [*args, sha])))
    except GitError:
        plain = [a for a in args if a != "-M"] + ["--no-renames", sha]
        recs = list(parse_log(stream_git(git_dir, plain)))
    return _changes(recs[0])


def _rows(git_dir: Path, shas: list[str], reader: syntax.BlobReader) -> list[dict[str, Any]]:
    rows = []
    for sha, parents, changes in iter_commit_changes(git_dir, shas):
        if len(parents) > 1:
            continue
        row: dict[str, Any] = {"sha": sha, **commit_events(sha, parents, changes, reader)}
        row["n_events"] = sum(row[e] for e in EVENTS)
        rows.append(row)
    return rows


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["sha", *EVENTS, "n_events"])
    for e in EVENTS:
        frame[e] = frame[e].astype(bool)
    frame["n_events"] = frame["n_events"].astype("int64")
    return frame


def compute_structure(git_dir: str | Path, shas: list[str]) -> pd.DataFrame:
    """Events of the listed commits straight from git (no database); merges are left out.

    Rows follow `shas`' order, one per commit however often or abbreviated it is listed.
    """
    gd = resolve_git_dir(git_dir)
    shas = [s.strip() for s in shas if s.strip()]
    if not shas:
        return _frame([])
    shas = full_commit_ids(gd, shas)
    with syntax.BlobReader(gd) as reader:
        return _frame(_rows(gd, shas, reader))


def structure_stage(
    con: duckdb.DuckDBPyConnection,
    repos: list[str] | None = None,
    progress: Callable[[str, int, int], None] | None = None,
) -> dict[str, int]:
    """Fill `commit_structure` for every stored non-merge commit not yet done at this version.

    Resumable: each batch of BATCH commits is written in its own transaction, so an interrupted
    run keeps the finished batches and never half-writes one. Returns commits done per repo.
    """
    store.require_rows(con, "commits", "crawl")
    dirs = dict(con.execute("SELECT repo, git_dir FROM repos").fetchall())
    wanted = repos or sorted(dirs)
    missing = [r for r in wanted if r not in dirs]
    if missing:
        raise StageError(f"{missing[0]}: no such repository in the database (crawl it first)")
    done: dict[str, int] = {}
    for repo in wanted:
        shas = [
            r[0]
            for r in con.execute(
                "SELECT sha FROM commits WHERE repo = ? AND NOT is_merge AND sha NOT IN "
                "(SELECT sha FROM commit_structure WHERE repo = ? AND structure_version = ?) "
                "ORDER BY topo_index",
                [repo, repo, STRUCTURE_VERSION],
            ).fetchall()
        ]
        done[repo] = 0
        if not shas:
            continue
        git_dir = resolve_git_dir(dirs[repo])
        with syntax.BlobReader(git_dir) as reader:
            done[repo] += store.write_repo_batches(
                con,
                "commit_structure",
                repo,
                shas,
                lambda batch, reader=reader, git_dir=git_dir: _frame(_rows(git_dir, batch, reader)),  # type: ignore[misc]  # mypy cannot type a lambda with defaults
                ("structure_version", STRUCTURE_VERSION),
                BATCH,
                progress,
            )
    return done
