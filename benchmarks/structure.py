"""Speed of the structure stage on a real history, against raw git measured in the same run.

Usage: python benchmarks/structure.py GIT_DIR [--commits N]

Prints seconds, commits/s and the ratio to raw git for (a) raw `git log --raw -M` of the same
commits to /dev/null (the floor: git listing the changed files, with rename detection), (b) raw
`git log -p -M` (what a patch-based stage like features would have to read), (c) the stream
parsed into file lists, (d) the events without the public-interface parse, (e) all events.
Timings depend on the machine and its load: they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path
from unittest import mock

from mining import structure
from mining.gitcmd import git_argv, git_env, git_text, resolve_git_dir


def _raw(gd: Path, stdin: bytes, args: list[str]) -> float:
    t = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        subprocess.run(
            git_argv(gd, ["log", "--no-walk=unsorted", "--stdin", *args]),
            input=stdin,
            stdout=sink,
            stderr=subprocess.DEVNULL,
            env=git_env(),
            check=False,
        )
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("git_dir", type=Path)
    ap.add_argument("--commits", type=int, default=2000, help="newest non-merge commits of HEAD")
    args = ap.parse_args()
    gd = resolve_git_dir(args.git_dir)
    shas = git_text(gd, ["rev-list", "--no-merges", f"--max-count={args.commits}", "HEAD"]).split()
    n = len(shas)
    stdin = ("\n".join(shas) + "\n").encode()

    raw = _raw(gd, stdin, ["--raw", "-M", "--no-abbrev", "--format=%H %P"])
    patch = _raw(gd, stdin, ["-p", "-M", "--full-index", "--format=%H %P"])

    t = time.perf_counter()
    n_files = sum(len(ch) for _, _, ch in structure.iter_commit_changes(gd, shas))
    stream = time.perf_counter() - t

    t = time.perf_counter()
    with mock.patch.object(structure, "_public_interface", lambda *a: False):
        structure.compute_structure(gd, shas)
    no_parse = time.perf_counter() - t

    t = time.perf_counter()
    frame = structure.compute_structure(gd, shas)
    full = time.perf_counter() - t

    print(f"repository: {args.git_dir}  commits: {n}  file rows: {n_files}  rows: {len(frame)}")
    print(f"{'step':<40}{'seconds':>9}{'commits/s':>11}{'x raw git':>11}")
    for name, sec in [
        ("raw git log --raw -M (floor)", raw),
        ("raw git log -p -M (patch floor)", patch),
        ("raw stream parsed into file lists", stream),
        ("events without public-interface parse", no_parse),
        ("all events (structure stage)", full),
    ]:
        print(f"{name:<40}{sec:>9.2f}{n / sec if sec else float('inf'):>11.0f}{sec / raw:>11.1f}")
    print("event rates:", {e: round(float(frame[e].mean()), 4) for e in structure.EVENTS})


if __name__ == "__main__":
    main()
