"""RepoBuilder: real git repositories built in a test's tmp folder, named for their scenario.

Why: tests must exercise real git (renames, merges, trailers, odd bytes) on a fresh machine with
no mirrors. Identities and dates are pinned so that every build of a scenario yields the same
history; tests never hard-code SHAs, they ask the builder.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

DEFAULT_AUTHOR = ("Ada Human", "ada@example.org")


def isolate_git(mp: pytest.MonkeyPatch, home: Path) -> None:
    """Keep the machine out of git: a HOME with its own config, no system config, no template
    dir, UTC, no inherited GIT_DIR. The autouse fixture applies it per test; module-scoped
    fixtures (built before any test's monkeypatch exists) apply it themselves."""
    mp.setenv("HOME", str(home))
    mp.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
    mp.setenv("GIT_TEMPLATE_DIR", "")
    mp.setenv("TZ", "UTC")
    for var in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE"):
        mp.delenv(var, raising=False)
    (home / ".gitconfig").write_text(
        "[user]\n\tname = Test\n\temail = test@example.org\n[init]\n\tdefaultBranch = main\n"
    )


class RepoBuilder:
    """Build a git history step by step: write files, commit with authors, trailers and dates."""

    def __init__(self, path: Path, *, bare: bool = False, branch: str = "main") -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self._tick = 0
        self.git("init", "-q", "-b", branch)
        self.git("config", "commit.gpgsign", "false")
        self.git("config", "core.autocrlf", "false")

    # -- plumbing ---------------------------------------------------------------------------
    def git(
        self, *args: str, env: Mapping[str, str] | None = None, input: bytes | None = None
    ) -> str:
        """Run git in the work tree with check=True and return stdout text."""
        full_env = dict(os.environ)
        if env:
            full_env.update(env)
        proc = subprocess.run(
            ["git", *args],
            cwd=self.path,
            env=full_env,
            input=input,
            capture_output=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(
                f"git {' '.join(args)} failed: {proc.stderr.decode(errors='replace')}"
            )
        return proc.stdout.decode("utf-8", "replace").strip()

    @property
    def git_dir(self) -> Path:
        return self.path / ".git"

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    # -- content ----------------------------------------------------------------------------
    def write(self, files: Mapping[str | bytes, str | bytes | None]) -> None:
        """Write (str/bytes content) or delete (None) files relative to the work tree."""
        for name, content in files.items():
            target = Path(os.fsdecode(name)) if isinstance(name, bytes) else Path(name)
            p = self.path / target
            if content is None:
                self.git("rm", "-q", "--", os.fsdecode(target))
                continue
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)

    def commit(
        self,
        message: str | bytes,
        files: Mapping[str | bytes, str | bytes | None] | None = None,
        *,
        author: tuple[str, str] = DEFAULT_AUTHOR,
        committer: tuple[str, str] | None = None,
        date: str | None = None,
        trailers: Sequence[tuple[str, str]] = (),
        allow_empty: bool = False,
    ) -> str:
        """Commit `files` with a pinned identity and date; return the new SHA.

        `date` is any git date ("2024-05-01T12:00:00+02:00", "@-86400 +0000"); by default each
        commit is one minute after the previous, from 2024-01-01 UTC.
        """
        if files:
            self.write(files)
        self.git("add", "-A")
        self._tick += 1
        when = date or f"@{1704067200 + 60 * self._tick} +0000"
        committer = committer or author
        env = {
            "GIT_AUTHOR_NAME": author[0],
            "GIT_AUTHOR_EMAIL": author[1],
            "GIT_COMMITTER_NAME": committer[0],
            "GIT_COMMITTER_EMAIL": committer[1],
            "GIT_AUTHOR_DATE": when,
            "GIT_COMMITTER_DATE": when,
        }
        msg = message if isinstance(message, bytes) else message.encode("utf-8")
        if trailers:
            msg = (
                msg.rstrip(b"\n") + b"\n\n" + b"\n".join(f"{k}: {v}".encode() for k, v in trailers)
            )
        args = ["commit", "-q", "--no-verify", "--cleanup=verbatim", "-F", "-"]
        if allow_empty:
            args.append("--allow-empty")
        self.git(*args, env=env, input=msg)
        return self.head()

    def raw_commit(
        self,
        message: bytes,
        *,
        author: bytes = b"Ada Human <ada@example.org>",
        epoch: int = 1704067200,
        tz: bytes = b"+0000",
        encoding: bytes | None = None,
    ) -> str:
        """Write a commit object byte for byte (git commit would re-encode a non-UTF-8 message
        or refuse odd dates), on top of HEAD with HEAD's tree, and move the branch to it."""
        tree = self.git("rev-parse", "HEAD^{tree}")
        parent = self.git("rev-parse", "HEAD")
        body = b"tree " + tree.encode() + b"\nparent " + parent.encode() + b"\n"
        stamp = str(epoch).encode() + b" " + tz
        body += b"author " + author + b" " + stamp + b"\ncommitter " + author + b" " + stamp + b"\n"
        if encoding:
            body += b"encoding " + encoding + b"\n"
        body += b"\n" + message
        sha = self.git("hash-object", "-t", "commit", "-w", "--literally", "--stdin", input=body)
        self.git("update-ref", "HEAD", sha)
        return sha

    def rename(self, old: str, new: str, message: str | None = None, **kw: object) -> str:
        """Rename a file with `git mv` and commit it (a pure rename: 100% similarity)."""
        (self.path / new).parent.mkdir(parents=True, exist_ok=True)
        self.git("mv", old, new)
        return self.commit(message or f"rename {old} to {new}", **kw)  # type: ignore[arg-type]

    def branch(self, name: str, start: str | None = None) -> None:
        """Create and switch to branch `name` (from `start` or the current commit)."""
        self.git("checkout", "-q", "-b", name, *([start] if start else []))

    def checkout(self, ref: str) -> None:
        self.git("checkout", "-q", ref)

    def merge(
        self, *branches: str, message: str | None = None, author: tuple[str, str] = DEFAULT_AUTHOR
    ) -> str:
        """Merge branches (two or more: an octopus) with a real merge commit; return its SHA."""
        self._tick += 1
        when = f"@{1704067200 + 60 * self._tick} +0000"
        env = {
            "GIT_AUTHOR_NAME": author[0],
            "GIT_AUTHOR_EMAIL": author[1],
            "GIT_COMMITTER_NAME": author[0],
            "GIT_COMMITTER_EMAIL": author[1],
            "GIT_AUTHOR_DATE": when,
            "GIT_COMMITTER_DATE": when,
        }
        msg = message or f"Merge {' '.join(branches)}"
        self.git("merge", "-q", "--no-ff", "--no-edit", "-m", msg, *branches, env=env)
        return self.head()

    def tag(self, name: str, ref: str = "HEAD") -> None:
        self.git("tag", name, ref)

    def bare_clone(self, dest: Path, *, empty_config: bool = False) -> Path:
        """A bare clone; with `empty_config`, truncate its config like the mirrors `fetch` gives."""
        subprocess.run(["git", "clone", "-q", "--bare", str(self.path), str(dest)], check=True)
        if empty_config:
            (dest / "config").write_text("")
        return dest

    def drop_objects(self, bare: Path, objects: set[str]) -> None:
        """Repack `bare` without `objects` (blob ids): what a partial clone's missing blobs look like."""
        subprocess.run(["git", f"--git-dir={bare}", "repack", "-a", "-d", "-q"], check=True)
        pack_dir = bare / "objects" / "pack"
        idx = next(pack_dir.glob("*.idx")).read_bytes()
        listing = subprocess.run(["git", "show-index"], input=idx, capture_output=True, check=True)
        ids = [ln.split()[1] for ln in listing.stdout.decode().splitlines() if ln.strip()]
        keep = "".join(f"{i}\n" for i in ids if i not in objects)
        for f in pack_dir.iterdir():
            f.unlink()
        subprocess.run(
            ["git", f"--git-dir={self.git_dir}", "pack-objects", "-q", str(pack_dir / "pack")],
            input=keep.encode(),
            check=True,
            capture_output=True,
        )
