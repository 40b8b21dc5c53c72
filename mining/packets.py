"""Blind annotation packets: what an annotator sees of a commit, and nothing about who made it.

A packet holds the repository name, the cleaned message (trailers, attribution lines and tool
prefixes removed, e-mails and shas masked), the touched files with status and line counts, and a
diff cut to a line budget that gives every file a fair share and source files priority. Author,
committer, dates and shas never appear. Packets hold fetched text, so they are written outside
the repository (docs/labelling.md); only the labels, keyed by (repo, sha), are committed.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from mining.diffs import file_kind
from mining.errors import GitError
from mining.features import clean_message
from mining.gitcmd import run_git

_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
_SHA = re.compile(r"\b[0-9a-f]{40}\b")
# lower = shown first when the diff budget is shared out
_PRIORITY = {
    "source": 0,
    "manifest": 1,
    "build": 1,
    "ci": 2,
    "config": 2,
    "test": 3,
    "docs": 4,
    "i18n": 5,
    "assets": 6,
    "vendored": 7,
    "generated": 7,
    "lockfile": 8,
}


_HEADER_NOISE = (
    "index ",
    "similarity ",
    "rename ",
    "--- a/",
    "+++ b/",
    "--- /dev/null",
    "+++ /dev/null",
)
# kinds whose lines say little about the change's layer: a short look is enough
_SHORT_KINDS = {"lockfile": 12, "generated": 12, "vendored": 12, "assets": 12, "i18n": 30}


@dataclass
class _FilePatch:
    path: str
    status: str
    added: str
    deleted: str
    lines: list[str] = field(default_factory=list)


def mask(text: str) -> str:
    """E-mail addresses and full shas masked, so a packet names nobody and no commit."""
    return _SHA.sub("<sha>", _EMAIL.sub("<email>", text))


def _files(git_dir: str | Path, sha: str) -> list[_FilePatch]:
    try:
        out = run_git(
            git_dir, ["show", "--no-color", "-M", "--format=", "--numstat", "-z", sha]
        ).stdout
    except GitError:  # a partial clone lacks a blob: list paths without line counts
        raw = run_git(
            git_dir, ["show", "--format=", "--name-only", "--no-renames", "-z", sha]
        ).stdout
        return [
            _FilePatch(p, "M", "?", "?")
            for p in raw.decode("utf-8", "replace").split("\0")
            if p.strip("\n")
        ]
    toks = out.decode("utf-8", "replace").split("\0")
    files: list[_FilePatch] = []
    i = 0
    while i < len(toks):
        head = toks[i].strip("\n")
        i += 1
        if not head:
            continue
        added, deleted, path = (head.split("\t", 2) + ["", ""])[:3]
        status = "M"
        if path == "":  # rename: old and new path follow as their own tokens
            old, path = toks[i], toks[i + 1]
            i += 2
            status = f"R {old} ->"
        files.append(_FilePatch(path, status, added, deleted))
    return files


def _patches(git_dir: str | Path, sha: str, paths: list[str]) -> dict[str, list[str]]:
    proc = run_git(git_dir, ["show", "--no-color", "-M", "--format=", "-p", sha], check=False)
    if proc.returncode == 0:
        return _split_patch(proc.stdout)
    per_file: dict[str, list[str]] = {}  # absent blobs: whatever files git can still diff
    for path in paths:
        one = run_git(
            git_dir, ["show", "--no-color", "--format=", "-p", sha, "--", path], check=False
        )
        if one.returncode == 0:
            per_file |= _split_patch(one.stdout)
        else:
            per_file[path] = ["(content not available in this copy of the repository)"]
    return per_file


def _split_patch(text: bytes) -> dict[str, list[str]]:
    per_file: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.decode("utf-8", "replace").splitlines():
        if line.startswith("diff --git "):
            m = re.match(r"diff --git a/.* b/(.*)$", line)
            current = per_file.setdefault(m.group(1) if m else line, [])
            continue
        if current is not None and not line.startswith(_HEADER_NOISE):
            current.append(line[:200])
    return per_file


def build_packet(
    git_dir: str | Path,
    sha: str,
    packet_id: str,
    repo: str,
    *,
    budget: int = 100,
    max_files: int = 150,
) -> str:
    """The packet text for one commit (see the module docstring for what it may show)."""
    # `log`, not `show -s`: show computes a diff and fails where a partial clone lacks a blob
    message = run_git(git_dir, ["log", "--no-walk", "--format=%B", sha]).stdout.decode(
        "utf-8", "replace"
    )
    files = _files(git_dir, sha)
    patches = _patches(git_dir, sha, [f.path for f in files])
    for f in files:
        body = patches.get(f.path, [])
        f.lines = body
        if body and body[0].startswith("new file"):
            f.status = "A"
        elif body and body[0].startswith("deleted file"):
            f.status = "D"
    order = sorted(files, key=lambda f: (_PRIORITY.get(file_kind(f.path), 2), f.path))
    fair = max(8, budget // max(1, len(order)))
    shown: dict[str, list[str]] = {}
    left = budget
    for f in order:  # first pass: a fair share each, in priority order
        take = min(len(f.lines), fair, left, _SHORT_KINDS.get(file_kind(f.path), budget))
        shown[f.path] = f.lines[:take]
        left -= take
    for f in order:  # second pass: what is left goes to the highest-priority files
        if left <= 0:
            break
        cap = _SHORT_KINDS.get(file_kind(f.path), budget) - len(shown[f.path])
        extra = f.lines[len(shown[f.path]) : len(shown[f.path]) + max(0, min(left, cap))]
        shown[f.path] += extra
        left -= len(extra)
    total = sum(len(f.lines) for f in files)
    out = [
        f"PACKET {packet_id}",
        f"repository: {repo}",
        "",
        "MESSAGE:",
        mask(clean_message(message)) or "(empty)",
        "",
    ]
    out.append(f"FILES ({len(files)}):")
    for f in files[:max_files]:
        out.append(f"  {f.status} {f.path}  +{f.added} -{f.deleted}")
    if len(files) > max_files:
        out.append(f"  ... {len(files) - max_files} more files")
    cut = sum(len(v) for v in shown.values())
    out += ["", f"DIFF ({cut} of {total} diff lines shown{'; TRUNCATED' if cut < total else ''}):"]
    for f in order:
        if not shown[f.path]:
            if f.lines:
                out.append(f"--- {f.path}: diff omitted")
            continue
        out.append(f"--- {f.path}")
        out += [mask(x) for x in shown[f.path]]
        if len(shown[f.path]) < len(f.lines):
            out.append(f"    [... {len(f.lines) - len(shown[f.path])} more lines of this file]")
    return "\n".join(out) + "\n"


def write_batches(
    sample: pd.DataFrame,
    mirror_dir: str | Path,
    out_dir: str | Path,
    *,
    seed: int,
    batch_size: int = 100,
    prefix: str = "Q",
) -> pd.DataFrame:
    """Shuffle the sample, number its packets and write them in batch files; return the key.

    Batches mix repositories and strata, so any set of completed batches is a random subsample
    of the drawn commits (a second phase whose fraction per repository is known).
    """
    order = list(range(len(sample)))
    random.Random(seed).shuffle(order)
    key = sample.iloc[order].reset_index(drop=True)
    key["packet_id"] = [f"{prefix}{i + 1:04d}" for i in range(len(key))]
    key["batch"] = [i // batch_size + 1 for i in range(len(key))]
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for batch, rows in key.groupby("batch"):
        with open(out / f"batch{batch:02d}.txt", "w", encoding="utf-8") as fh:
            for r in rows.itertuples():
                git_dir = Path(mirror_dir) / r.repo.replace("/", "+") / "repo"
                fh.write(build_packet(git_dir, r.sha, r.packet_id, r.repo))
                fh.write("\n" + "=" * 60 + "\n\n")
    return key
