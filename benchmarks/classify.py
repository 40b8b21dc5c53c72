"""Speed of features + classification on a real history, against raw `git log -p` in the same run.

Usage: python benchmarks/classify.py GIT_DIR [--commits N] [--model DIR]

Prints commits/s for (a) raw `git log -p -M` of the same commits to /dev/null (the floor: git
producing the patches), (b) patch streaming + parsing, (c) features (patches, tree-sitter on both
blobs, directory checks), (d) classification of the feature rows; and the ratios to (a).
Timings depend on the machine and its load: they are printed, never asserted.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import time
from pathlib import Path

from mining import classify, diffs, features
from mining.gitcmd import git_argv, git_env, git_text, resolve_git_dir


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("git_dir", type=Path)
    ap.add_argument("--commits", type=int, default=2000, help="newest non-merge commits of HEAD")
    ap.add_argument("--model", type=Path, default=None)
    args = ap.parse_args()
    gd = resolve_git_dir(args.git_dir)
    shas = git_text(gd, ["rev-list", "--no-merges", f"--max-count={args.commits}", "HEAD"]).split()
    n = len(shas)
    stdin = ("\n".join(shas) + "\n").encode()

    t = time.perf_counter()
    with open(os.devnull, "wb") as sink:
        subprocess.run(
            git_argv(gd, ["log", "--no-walk=unsorted", "--stdin", "-p", "-M", "--full-index",
                          "--format=%H%n%B"]),
            input=stdin, stdout=sink, stderr=subprocess.DEVNULL, env=git_env(), check=False,
        )  # fmt: skip
    raw = time.perf_counter() - t

    t = time.perf_counter()
    n_files = sum(len(c.files) for c in diffs.iter_commit_diffs(gd, shas))
    parse = time.perf_counter() - t

    t = time.perf_counter()
    frame = features.compute_features(gd, shas)
    feat = time.perf_counter() - t

    model = classify.load_model(args.model)
    t = time.perf_counter()
    pred = classify.classify_frame(frame, model)
    clf = time.perf_counter() - t

    print(
        f"repository: {args.git_dir}  commits: {n}  file diffs: {n_files}  featured: {len(frame)}"
    )
    print(f"{'step':<34}{'seconds':>9}{'commits/s':>11}{'x raw git':>11}")
    for name, sec in [
        ("raw git log -p (floor)", raw),
        ("patch stream + parse", parse),
        ("features (incl. tree-sitter)", feat),
        ("classification", clf),
        ("features + classification", feat + clf),
    ]:
        print(f"{name:<34}{sec:>9.2f}{n / sec if sec else float('inf'):>11.0f}{sec / raw:>11.1f}")
    print("layers:", pred["layer"].value_counts().to_dict())


if __name__ == "__main__":
    main()
