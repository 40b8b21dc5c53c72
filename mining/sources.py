"""Turn what a user names (work tree, bare repo, mirror, clone URL) into a local git directory.

URLs are cloned (bare) into a cache folder and fetched again on a re-crawl unless the pinned
commit is already there; local repositories are read in place and never written to: all reads go
through mining.gitcmd, which names the git directory explicitly.
"""

from __future__ import annotations

import errno
import hashlib
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from mining.errors import SourceError
from mining.gitcmd import first_error_line, git_env, resolve_git_dir, run_git
from mining.vocabulary import DEFAULT_CACHE

if TYPE_CHECKING:
    import duckdb

_URL_RE = re.compile(r"^(https?://|ssh://|git://|file://|[\w.-]+@[\w.-]+:)")
_HOSTED_RE = re.compile(r"[/:]([A-Za-z0-9_.-]+)/([A-Za-z0-9_.-]+?)(?:\.git)?/?$")
_SHA_RE = re.compile(r"^[0-9a-f]{40}$|^[0-9a-f]{64}$")


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


def resolve_source(
    source: str, *, cache: Path = DEFAULT_CACHE, name: str | None = None, rev: str = "HEAD"
) -> Source:
    """Resolve a user-given source. A clone URL is cloned into `cache`, or fetched when the cache
    already holds it (unless `rev` is a commit id already there, so pinned corpora stay offline)."""
    if source.startswith("-"):
        raise SourceError(f"{source}: not an acceptable source (starts with '-')")
    if is_url(source):
        validate_url(source)
        key = name or repo_key_for(source)
        dest = cache / (
            hashlib.sha256(source.encode()).hexdigest()[:12] + "-" + key.replace("/", "__") + ".git"
        )
        if not (dest / "HEAD").exists():
            _clone(source, dest)
        elif not (_SHA_RE.match(rev) and _has_commit(dest, rev)):
            _fetch(source, dest)
        return Source(key, source, resolve_git_dir(dest))
    root = locate_repository(source)
    return Source(name or repo_key_for(str(root)), source, resolve_git_dir(root))


def locate_repository(path: str | Path) -> Path:
    """The repository `path` names or lies in (a subfolder of a work tree names its work tree),
    as an absolute path; SourceError naming a symlink loop, a missing path or a non-repository."""
    p = Path(path).expanduser()
    try:
        os.stat(p)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise SourceError(f"{path}: symlink loop (a link that points back to itself)") from exc
    try:
        resolve_git_dir(p)
        return p.resolve()
    except SourceError as exc:
        if "not a git repository" not in str(exc):
            raise
        for ask in ("--show-toplevel", "--absolute-git-dir"):  # work tree, else inside a bare repo
            proc = subprocess.run(
                ["git", "-c", "safe.directory=*", "-C", str(p), "rev-parse", ask],
                capture_output=True,
                env=git_env(),
                check=False,
            )
            found = proc.stdout.decode("utf-8", "surrogateescape").strip()
            if proc.returncode == 0 and found:
                return Path(found).resolve()
        raise


def _has_commit(git_dir: Path, rev: str) -> bool:
    return run_git(git_dir, ["cat-file", "-e", f"{rev}^{{commit}}"], check=False).returncode == 0


def _fetch(url: str, dest: Path) -> None:
    """Bring the cached bare clone up to date (branches and tags, as `clone --bare` made them)."""
    proc = subprocess.run(
        [
            "git",
            f"--git-dir={dest}",
            "-c",
            "protocol.ext.allow=never",
            "fetch",
            "--quiet",
            "--prune",
            "--",
            url,
            "+refs/heads/*:refs/heads/*",
            "+refs/tags/*:refs/tags/*",
        ],
        capture_output=True,
        env=git_env(),
        check=False,
        timeout=3600,
    )
    if proc.returncode != 0:
        raise SourceError(
            f"{url}: fetch into the cache {dest} failed: {first_error_line(proc.stderr)}"
        )


def check_same_repository(con: duckdb.DuckDBPyConnection, source: Source) -> None:
    """Refuse to store `source` under a key that already holds a different repository (two
    folders of the same name): the second crawl would silently replace the first's rows. The
    same repository moved or cloned again still holds a stored root commit or the stored head."""
    row = con.execute(
        "SELECT git_dir, head_sha, source FROM repos WHERE repo = ?", [source.repo]
    ).fetchone()
    if row is None or Path(row[0]) == Path(source.git_dir) or row[2] == source.source:
        return
    roots = [
        r[0]
        for r in con.execute(
            "SELECT sha FROM commits WHERE repo = ? AND len(parents) = 0", [source.repo]
        ).fetchall()
    ]
    if any(_has_commit(source.git_dir, sha) for sha in [row[1], *roots] if sha):
        return
    raise SourceError(
        f"{source.source}: the database already holds another repository under the key "
        f"{source.repo!r} (from {row[2]}); crawl this one into another --db, or give both "
        "distinct names in a --corpus manifest"
    )


def _clone(url: str, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(dest.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    proc = subprocess.run(
        [
            "git",
            "-c",
            "protocol.ext.allow=never",
            "clone",
            "--quiet",
            "--bare",
            "--",
            url,
            str(tmp),
        ],
        capture_output=True,
        env=git_env(),
        check=False,
        timeout=3600,
    )
    if proc.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise SourceError(f"{url}: clone failed: {first_error_line(proc.stderr)}")
    tmp.rename(dest)
