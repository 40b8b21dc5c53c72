"""Turn what a user names (work tree, bare repo, mirror, clone URL) into a local git directory.

URLs are cloned (bare, once) into a cache folder; local repositories are read in place and never
written to: all reads go through mining.gitcmd, which names the git directory explicitly.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from mining.errors import SourceError
from mining.gitcmd import first_error_line, git_env, resolve_git_dir

DEFAULT_CACHE = Path("data/raw")
_URL_RE = re.compile(r"^(https?://|ssh://|git://|file://|[\w.-]+@[\w.-]+:)")
_HOSTED_RE = re.compile(r"[/:]([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")


@dataclass(frozen=True)
class Source:
    """A repository ready to read: its key in the dataset and its local git directory."""

    repo: str
    source: str
    git_dir: Path


def is_url(text: str) -> bool:
    """Anything git would treat as a remote: a scheme, scp-like host:path, or a `<helper>::` transport."""
    return bool(_URL_RE.match(text)) or "::" in text.split("/", 1)[0]


def validate_url(url: str) -> str:
    """Accept only plain transports; `ext::` and option-like URLs would run commands."""
    if url.startswith("-") or "::" in url.split("/", 1)[0] or not _URL_RE.match(url):
        raise SourceError(f"{url}: not an acceptable clone URL (https, ssh, git or file only)")
    return url


def repo_key_for(source: str, git_dir: Path | None = None) -> str:
    """owner/name for hosted URLs; the folder name (without .git) for local paths."""
    if is_url(source):
        m = _HOSTED_RE.search(source)
        if m:
            return f"{m.group(1)}/{m.group(2)}"
    path = Path(source.rstrip("/"))
    name = path.name
    if name == ".git":
        name = path.parent.name
    if name == "repo" and "+" in path.parent.name:  # the `fetch` mirror layout: owner+name/repo
        owner, _, base = path.parent.name.partition("+")
        return f"{owner}/{base}"
    return name[:-4] if name.endswith(".git") and len(name) > 4 else name


def resolve_source(source: str, *, cache: Path = DEFAULT_CACHE, name: str | None = None) -> Source:
    """Resolve a user-given source; clone URLs into `cache` (reused when already there)."""
    if source.startswith("-"):
        raise SourceError(f"{source}: not an acceptable source (starts with '-')")
    if is_url(source):
        validate_url(source)
        key = name or repo_key_for(source)
        dest = cache / (hashlib.sha256(source.encode()).hexdigest()[:12] + "-" + key.replace("/", "__") + ".git")
        if not (dest / "HEAD").exists():
            _clone(source, dest)
        return Source(key, source, resolve_git_dir(dest))
    git_dir = resolve_git_dir(source)
    return Source(name or repo_key_for(str(Path(source).resolve())), source, git_dir)


def _clone(url: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    proc = subprocess.run(
        ["git", "-c", "protocol.ext.allow=never", "clone", "--quiet", "--bare", "--", url, str(tmp)],
        capture_output=True,
        env=git_env(),
        check=False,
        timeout=3600,
    )
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SourceError(f"{url}: clone failed: {first_error_line(proc.stderr)}")
    tmp.rename(dest)
