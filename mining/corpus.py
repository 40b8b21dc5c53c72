"""Read and validate the corpus manifest (`data/corpus.toml`): which repositories, at which pin.

A manifest is a list of `[[repo]]` tables with `name`, one of `url` / `path`, `rev` (a pinned
SHA, or a revision for local work), and optional `language`, `role` and `tags`. Validation
happens before any crawl starts, so a typo never leaves a half-built dataset.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from mining.errors import CorpusError

_NAME_RE = re.compile(r"^[A-Za-z0-9_.][A-Za-z0-9_.-]*(/[A-Za-z0-9_.][A-Za-z0-9_.-]*)?$")
_SHA_RE = re.compile(r"^[0-9a-f]{40}$")
_ALLOWED = {"name", "url", "path", "rev", "language", "role", "tags", "notes"}


@dataclass(frozen=True)
class CorpusEntry:
    """One repository of the study, pinned."""

    name: str
    url: str | None = None
    path: str | None = None
    rev: str = "HEAD"
    language: str | None = None
    role: str = "study"
    tags: tuple[str, ...] = field(default_factory=tuple)

    @property
    def source(self) -> str:
        return self.path or self.url or ""


def validate_name(name: str, where: str) -> str:
    """Repository keys are `owner/name` or a folder name: no `..`, no leading `-` or `/`."""
    if not isinstance(name, str) or not _NAME_RE.fullmatch(name) or ".." in name:
        raise CorpusError(f"{where}: invalid repository name {name!r} (owner/name or folder name)")
    return name


def load_corpus(path: str | Path) -> list[CorpusEntry]:
    """Parse and validate a manifest; raise CorpusError naming the file and the bad entry."""
    p = Path(path)
    if not p.is_file():
        raise CorpusError(f"{p}: corpus manifest not found")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{p}: not valid TOML: {exc}") from exc
    items = data.get("repo")
    if not isinstance(items, list) or not items:
        raise CorpusError(f"{p}: no [[repo]] entries")
    entries: list[CorpusEntry] = []
    seen: set[str] = set()
    base = p.parent
    for i, item in enumerate(items, 1):
        where = f"{p} [[repo]] #{i}"
        if not isinstance(item, dict):
            raise CorpusError(f"{where}: not a table")
        unknown = set(item) - _ALLOWED
        if unknown:
            raise CorpusError(f"{where}: unknown fields {sorted(unknown)}")
        if "name" not in item:
            raise CorpusError(f"{where}: missing field 'name'")
        name = validate_name(item["name"], where)
        where = f"{p} [[repo]] {name}"
        if name in seen:
            raise CorpusError(f"{where}: duplicate name")
        seen.add(name)
        url, path_ = item.get("url"), item.get("path")
        if bool(url) == bool(path_):
            raise CorpusError(f"{where}: give exactly one of 'url' or 'path'")
        if url is not None:
            from mining.sources import validate_url

            validate_url(str(url))
        if path_ is not None:
            path_ = (
                str((base / str(path_)).resolve())
                if not Path(str(path_)).is_absolute()
                else str(path_)
            )
        rev = item.get("rev", "HEAD")
        if not isinstance(rev, str):
            raise CorpusError(f"{where}: 'rev' must be a string")
        if url is not None and not _SHA_RE.fullmatch(rev):
            raise CorpusError(
                f"{where}: 'rev' must pin a 40-hex commit SHA for a URL source, got {rev!r}"
            )
        from mining.errors import SourceError
        from mining.gitcmd import validate_rev

        try:
            validate_rev(rev)
        except SourceError as exc:
            raise CorpusError(f"{where}: {exc}") from exc
        tags = item.get("tags", [])
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise CorpusError(f"{where}: 'tags' must be a list of strings")
        role = item.get("role", "study")
        if role not in ("study", "control"):
            raise CorpusError(f"{where}: 'role' must be 'study' or 'control', got {role!r}")
        entries.append(
            CorpusEntry(
                name=name,
                url=url,
                path=path_,
                rev=rev,
                language=item.get("language"),
                role=role,
                tags=tuple(tags),
            )
        )
    return entries


def read_mirror_map(path: str | Path) -> dict[str, str]:
    """Local mirrors for corpus names: a TSV (name<TAB>path[<TAB>...]) or a folder of
    `owner+name` subfolders (the layout `fetch` uses). Lets a build read mirrors instead of cloning.
    """
    p = Path(path)
    mapping: dict[str, str] = {}
    if p.is_dir():
        for child in sorted(p.iterdir()):
            if child.is_dir() and "+" in child.name:
                owner, name = child.name.split("+", 1)
                git_dirs = (
                    [d for d in [child, *child.iterdir()] if (d / "HEAD").is_file()]
                    if child.is_dir()
                    else []
                )
                if git_dirs:
                    mapping[f"{owner}/{name}"] = str(git_dirs[0])
        return mapping
    if not p.is_file():
        raise CorpusError(
            f"{p}: mirror map not found (a TSV name<TAB>path, or a folder of owner+name mirrors)"
        )
    for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) < 2:
            raise CorpusError(f"{p}:{n}: expected name<TAB>path")
        if cols[0] in ("repo", "name") and n == 1:
            continue
        mapping[cols[0].strip()] = cols[1].strip()
    return mapping
