"""Benchmark `strata blame` against raw parallel `git blame` on one range, measured in one run.

Usage: python benchmarks/blame.py REPO [--to REV] [--from REV] [--jobs N] [--blame-args "..."]
       [--include GLOB]...

Prints wall times for (1) raw `git blame --porcelain` over the same files with the same options in
N parallel processes, output discarded: the floor; (2) `strata blame` (file listing, commit
metadata and catalog matching, blame, counting); then the ratio. strata skips files no commit in
FROM..TO touched, so with --from it can beat the raw floor, which blames every file.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mining.blame import (
    blame_config_args,
    blame_range,
    parse_blame_args,
    select_files,
    tree_blobs,
)
from mining.gitcmd import git_argv, git_env, resolve_git_dir


def raw_blame(
    git_dir: Path, to: str, frm: str | None, files: list[str], extra: list[str], jobs: int
) -> float:
    rng = [to] if frm is None else [f"{frm}..{to}"]

    def one(path: str) -> int:
        argv = git_argv(
            git_dir, [*blame_config_args(), "blame", "--porcelain", *extra, *rng, "--", path]
        )
        return subprocess.run(
            argv, env=git_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False
        ).returncode

    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        list(pool.map(one, files))
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("repo")
    ap.add_argument("--to", default="HEAD")
    ap.add_argument("--from", dest="frm", default=None)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--blame-args", default="")
    ap.add_argument("--include", action="append", default=[])
    args = ap.parse_args()
    git_dir = resolve_git_dir(args.repo)
    extra = parse_blame_args(args.blame_args)
    files = select_files([p for p, _ in tree_blobs(git_dir, args.to)], args.include, [])

    raw = raw_blame(git_dir, args.to, args.frm, files, extra, args.jobs)
    t = time.perf_counter()
    res = blame_range(
        git_dir, args.to, args.frm, include=args.include, blame_args=extra, jobs=args.jobs
    )
    ours = time.perf_counter() - t
    print(
        f"files {len(files)}, lines counted {res.total_lines}, AI {res.ai_lines} ({100 * res.ai_share:.2f}%)"
    )
    print(f"raw parallel git blame ({args.jobs} processes): {raw:8.2f} s")
    print(f"strata blame:                          {ours:8.2f} s   ratio {ours / raw:5.2f}x")


if __name__ == "__main__":
    main()
