"""Benchmark `strata crawl` against raw git and PyDriller on one history, measured in one run.

Usage: python benchmarks/crawl.py REPO [--skip-pydriller] [--repeat N]

Prints wall times for (1) raw `git log -M --raw --numstat` to /dev/null, the floor any crawler
pays; (2) `strata crawl` into a fresh database (a child process, so its peak RSS is its own);
(3) PyDriller traversing every commit's modified files; then the ratios. Targets (issue 3):
strata <= 1.3x raw git, >= 15x faster than PyDriller, bounded memory.

The wall ratio is the target; it holds only on a quiet machine, since a loaded one gives the
crawl's parallel git streams and raw git different shares of the cores. So the load average and
the CPU seconds (process and its git children) are printed too: their ratio is what the crawl
costs beyond git whatever the load.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mining.gitcmd import git_argv, git_env, resolve_git_dir
from mining.logparse import LOG_ARGS

CHILD = """
import json, resource, sys, time
from mining.crawl import CrawlTarget, crawl
from mining.sources import resolve_source
def cpu():  # this process (its threads) and its finished git children; imports left out
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
t, c = time.perf_counter(), cpu()
[res] = crawl(sys.argv[1], [CrawlTarget(resolve_source(sys.argv[2]))])
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "cpu": cpu() - c,
                  "commits": res.n_commits, "rows": res.n_file_changes, "missing": res.n_missing_blobs, "error": res.error}))
"""


def children_cpu() -> float:
    """CPU seconds of the finished child processes (git, for raw git)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def time_raw_git(git_dir: Path, db: Path) -> tuple[float, str, float]:
    """Raw git with strata's flags; on a partial clone, excluding the paths whose blobs are absent.
    Returns (wall seconds, what was read, CPU seconds)."""
    argv = git_argv(git_dir, [*LOG_ARGS, "HEAD"])
    t, cpu = time.perf_counter(), children_cpu()
    proc = subprocess.run(
        argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=git_env(), check=False
    )
    if proc.returncode == 0:
        return time.perf_counter() - t, "full history", children_cpu() - cpu
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    paths = sorted(
        {r[0] for r in con.execute("SELECT path FROM file_changes WHERE blob_missing").fetchall()}
    )
    con.close()
    argv = git_argv(
        git_dir, [*LOG_ARGS, "HEAD", "--", ".", *(f":(exclude,literal){p}" for p in paths)]
    )
    t, cpu = time.perf_counter(), children_cpu()
    subprocess.run(argv, stdout=subprocess.DEVNULL, env=git_env(), check=True)
    return (
        time.perf_counter() - t,
        f"partial clone: {len(paths)} paths with absent blobs excluded",
        children_cpu() - cpu,
    )


def time_strata(source: str, db: Path) -> dict:
    if db.exists():
        db.unlink()
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(db), source], capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def time_pydriller(git_dir: Path, scratch: Path) -> tuple[float, int]:
    from pydriller import Repository

    clone = scratch / "pyd"
    subprocess.run(
        ["git", "clone", "-q", "--shared", "--no-checkout", str(git_dir), str(clone)],
        check=True,
        env=git_env(),
    )
    t = time.perf_counter()
    n = 0
    for c in Repository(str(clone)).traverse_commits():
        try:
            for m in c.modified_files:
                _ = m.added_lines
        except Exception:  # partial clones: PyDriller raises on absent blobs
            pass
        n += 1
    return time.perf_counter() - t, n


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("repo")
    ap.add_argument("--skip-pydriller", action="store_true")
    ap.add_argument(
        "--repeat", type=int, default=3, help="take the best of N runs for git and strata"
    )
    args = ap.parse_args()
    git_dir = resolve_git_dir(args.repo)
    scratch = Path(tempfile.mkdtemp(prefix="strata-bench-"))
    try:
        db = scratch / "bench.duckdb"
        load_before = os.getloadavg()[0]
        strata = min(
            (time_strata(args.repo, db) for _ in range(args.repeat)), key=lambda r: r["seconds"]
        )
        raw = min((time_raw_git(git_dir, db) for _ in range(args.repeat)), key=lambda r: r[0])
        print(
            f"history: {args.repo}: {strata['commits']:,} commits, {strata['rows']:,} file rows, "
            f"{strata['missing']} rows with absent blobs"
        )
        print(f"raw git log -M --raw --numstat : {raw[0]:7.2f} s  ({raw[1]})")
        print(
            f"strata crawl                   : {strata['seconds']:7.2f} s  peak RSS {strata['rss_mb']:.0f} MB"
        )
        print(
            f"ratio strata / raw git         : {strata['seconds'] / raw[0]:7.2f}x  (target <= 1.3x)"
        )
        print(
            f"CPU seconds strata / raw git   : {strata['cpu']:.2f} / {raw[2]:.2f} = {strata['cpu'] / raw[2]:.2f}x"
        )
        print(
            f"load average (1 min) before / after: {load_before:.2f} / {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores"
        )
        if not args.skip_pydriller:
            pyd, n = time_pydriller(git_dir, scratch)
            print(f"PyDriller traverse ({n:,} commits): {pyd:7.2f} s")
            print(
                f"speed-up over PyDriller        : {pyd / strata['seconds']:7.1f}x  (target >= 15x)"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
