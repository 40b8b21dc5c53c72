"""Peak memory of `strata crawl`, `strata features` and `strata classify` on a history with one
huge commit (issue 8: stay under 1 GiB RSS; streaming, not read-all).

Usage: python benchmarks/memory.py [--lines 200000] [--commits 300] [--keep DIR]

Builds a synthetic repository (with git fast-import): `--commits` ordinary commits, then one commit
adding a file of `--lines` lines, then one rewriting all of them (as many deleted as added). Each
stage runs as its own `strata` process; its peak is the sum of the RSS of the process tree
(strata + git children), sampled every 20 ms, and the largest single process (getrusage).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LIMIT_MB = 1024
STRATA = Path(sys.executable).parent / "strata"


def build_history(path: Path, lines: int, commits: int) -> Path:
    """A repository whose last two commits add and then rewrite a `lines`-line file."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(path)], check=True)
    out: list[bytes] = []
    for i in range(commits):
        data = b"".join(b"def f%d_%d():\n    return %d\n" % (i, j, j) for j in range(5))
        out.append(_fast_import_commit(b"change %d\n" % i, b"src/m%d.py" % (i % 50), data, i))
    for tag, fmt in ((b"add", b"value_%d = %d\n"), (b"rewrite", b"other_%d = %d * 2\n")):
        data = b"".join(fmt % (j, j) for j in range(lines))
        msg = b"%s a huge generated table\n" % tag
        out.append(_fast_import_commit(msg, b"src/table.py", data, commits + len(out)))
    subprocess.run(
        ["git", "-C", str(path), "fast-import", "--quiet"], input=b"".join(out), check=True
    )
    return path


def _fast_import_commit(msg: bytes, path: bytes, data: bytes, minute: int) -> bytes:
    """One `git fast-import` commit on main that writes `data` to `path`."""
    who = b"Ada Human <ada@example.org>"
    stamp = b" %d +0000\n" % (1704067200 + 60 * minute)
    return (
        b"commit refs/heads/main\nauthor "
        + who
        + stamp
        + b"committer "
        + who
        + stamp
        + b"data %d\n" % len(msg)
        + msg
        + b"M 100644 inline "
        + path
        + b"\n"
        + b"data %d\n" % len(data)
        + data
        + b"\n"
    )


def tree_rss_mb(pid: int) -> float:
    """RSS of a process and all its descendants, in MiB (0 when it has gone)."""
    import psutil

    try:
        root = psutil.Process(pid)
        procs = [root, *root.children(recursive=True)]
    except psutil.Error:
        return 0.0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total / 2**20


def measure(argv: list[str]) -> dict[str, float | int | str]:
    """Run one stage; its wall time, peak tree RSS (sampled) and peak single-process RSS."""
    wrapper = (
        "import resource, subprocess, sys, json\n"
        "rc = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)\n"
        "print(json.dumps({'rc': rc.returncode, 'max_single_mb': "
        "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 'stderr': rc.stderr.decode()[-500:]}))\n"
    )
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", wrapper, *argv], stdout=subprocess.PIPE)
    peak = 0.0
    while proc.poll() is None:
        peak = max(peak, tree_rss_mb(proc.pid))
        time.sleep(0.02)
    info = json.loads(proc.stdout.read() if proc.stdout else b"{}")
    info.update(seconds=round(time.perf_counter() - t0, 2), peak_tree_mb=round(peak, 1))
    info["max_single_mb"] = round(float(info["max_single_mb"]), 1)
    return info


def run(lines: int = 200_000, commits: int = 300, keep: Path | None = None) -> dict[str, dict]:
    """Build the history, run the stages, return per-stage measurements."""
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="strata-mem-"))
    try:
        repo = build_history(work / "huge", lines, commits)
        db = work / "mem.duckdb"
        stages = {
            "crawl": [str(STRATA), "crawl", str(repo), "--db", str(db), "-q"],
            "features": [str(STRATA), "features", "--db", str(db), "-q"],
            "classify": [str(STRATA), "classify", "--db", str(db)],
        }
        results = {}
        for name, argv in stages.items():
            results[name] = measure(argv)
            if results[name]["rc"] != 0:
                break  # later stages need this one's tables
        return results
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--commits", type=int, default=300)
    ap.add_argument(
        "--keep", type=Path, default=None, help="Keep the repository and database here."
    )
    args = ap.parse_args()
    results = run(args.lines, args.commits, args.keep)
    print(
        f"history: {args.commits} commits + one commit adding {args.lines:,} lines + one rewriting them"
    )
    print(f"{'stage':<10}{'rc':>4}{'seconds':>10}{'peak tree MiB':>15}{'max process MiB':>17}")
    ok = True
    for name, r in results.items():
        print(
            f"{name:<10}{r['rc']:>4}{r['seconds']:>10}{r['peak_tree_mb']:>15}{r['max_single_mb']:>17}"
        )
        skipped = name == "classify" and "no trained model" in str(r["stderr"])
        if r["rc"] != 0:
            print(f"  {name} {'skipped' if skipped else 'failed'}: {str(r['stderr']).strip()}")
        ok &= (r["rc"] == 0 or skipped) and r["peak_tree_mb"] < LIMIT_MB
    print(f"limit {LIMIT_MB} MiB: {'ok' if ok else 'EXCEEDED or failed'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
