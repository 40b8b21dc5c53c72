"""Benchmark `strata build`: wall time, per-stage time and peak RSS of a full build.

Usage: python benchmarks/build.py --corpus data/corpus.toml --mirrors MIRRORS.tsv [--jobs 2]
       [--db /tmp/bench.duckdb] [--only owner/name ...]

Builds into a fresh database in a child process (so its peak RSS is its own), then prints the
build report's totals: seconds per stage summed over repositories (crawl includes attribution),
wall time, peak RSS of the main process and of the largest worker. Target (issue 6): the whole
corpus <= 30 min on 2 cores, excluding fetch/clone (mirrors are local).
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

CHILD = """
import json, resource, sys
from pathlib import Path
from mining.build import build
from mining.corpus import load_corpus
from mining.runner import resolve_targets
db, corpus, mirrors, jobs, only = sys.argv[1], Path(sys.argv[2]), sys.argv[3] or None, int(sys.argv[4]), sys.argv[5:]
targets = resolve_targets([], corpus, Path(mirrors) if mirrors else None)
if only:
    targets = [t for t in targets if t.source.repo in only]
report = build(db, targets, jobs=jobs)
out = report.to_json()
out["main_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["children_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps(out))
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--corpus", type=Path, default=Path("data/corpus.toml"))
    ap.add_argument("--mirrors", default="")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--db", type=Path, default=None, help="fresh database (default: a temp file)")
    ap.add_argument("--only", nargs="*", default=[], help="only these repositories")
    args = ap.parse_args()
    db = args.db or Path(tempfile.mkdtemp(prefix="strata-bench-")) / "bench.duckdb"
    if db.exists():
        sys.exit(f"{db} exists: the benchmark needs a fresh database")
    t0 = time.perf_counter()
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            CHILD,
            str(db),
            str(args.corpus),
            args.mirrors,
            str(args.jobs),
            *args.only,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        sys.exit(f"build failed:\n{proc.stderr[-3000:]}")
    rep = json.loads(proc.stdout.strip().splitlines()[-1])
    tot = rep["totals"]
    workers = max((r.get("peak_rss_mb") or 0 for r in rep["repos"]), default=0)
    print(
        f"repos {tot['repos']} (failed {tot['repos_failed']}), commits {tot['commits']:,}, "
        f"featured {tot['featured']:,}, classified {tot['classified']:,}"
    )
    print(f"wall {wall:.1f}s (target <= 1800s on 2 cores); build {rep['wall_seconds']:.1f}s")
    for stage, sec in tot["stage_seconds"].items():
        print(f"  {stage:9s} {sec:9.1f}s summed over repositories")
    rate = tot["commits"] / rep["wall_seconds"] if rep["wall_seconds"] else 0
    print(
        f"throughput {rate:.0f} commits/s; peak RSS main {rep['main_rss_mb']:.0f} MB, "
        f"largest task {workers:.0f} MB, children {rep['children_rss_mb']:.0f} MB"
    )
    print(f"self RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; db {db}")


if __name__ == "__main__":
    main()
