"""Speed of features + classification on a real history, against raw `git log -p` in the same run.

Usage: python benchmarks/classify.py GIT_DIR [--commits N] [--model DIR] [--jobs J]

Prints, for (a) raw `git log -p -M` of the same commits to /dev/null (the floor: git producing
the patches), (b) patch streaming + parsing, (c) features in one process (patches, tree-sitter on
the blocks a change touches, directory checks), (d) the same in J processes, (e) classification
of (d)'s rows after the features, reading the message and path texts from git again (the way
`strata` did before: for comparison), (f, g) features + classification as `classify_shas` runs
them, in 1 and in J processes: the texts come from the patch stream and each process classifies
its own rows. Wall seconds, commits/s, CPU seconds (this process and its children, git
included) and both as a multiple of (a). CPU ratios are the ones to read on a shared machine:
wall time there measures the neighbours' load as much as ours. Printed, never asserted; the
classifications of (e), (f) and (g) are compared.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mining import classify, diffs, features
from mining.gitcmd import git_argv, git_env, git_text, resolve_git_dir
from mining.text_features import commit_texts


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process and its finished children)."""
    c, t = _cpu(), time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t, _cpu() - c


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("git_dir", type=Path)
    ap.add_argument("--commits", type=int, default=2000, help="newest non-merge commits of HEAD")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--jobs", type=int, default=2, help="processes for the parallel run")
    args = ap.parse_args()
    gd = resolve_git_dir(args.git_dir)
    shas = git_text(gd, ["rev-list", "--no-merges", f"--max-count={args.commits}", "HEAD"]).split()
    n = len(shas)
    stdin = ("\n".join(shas) + "\n").encode()

    def raw_git() -> None:
        with open(os.devnull, "wb") as sink:
            subprocess.run(
                git_argv(
                    gd,
                    [
                        "log",
                        "--no-walk=unsorted",
                        "--stdin",
                        "-p",
                        "-M",
                        "--full-index",
                        "--format=%H%n%B",
                    ],
                ),
                input=stdin,
                stdout=sink,
                stderr=subprocess.DEVNULL,
                env=git_env(),
                check=False,
            )

    _, raw, raw_cpu = _timed(raw_git)
    n_files, parse, parse_cpu = _timed(
        lambda: sum(len(c.files) for c in diffs.iter_commit_diffs(gd, shas))
    )
    frame, feat, feat_cpu = _timed(lambda: features.compute_features(gd, shas))
    frame_j, feat_j, feat_j_cpu = _timed(lambda: features.compute_features(gd, shas, args.jobs))
    same = frame.equals(frame_j)
    model = classify.load_model(args.model)

    def classify_rows() -> Any:
        rows = frame
        if model.text_columns and len(rows):  # the full model reads message and path texts
            rows = rows.merge(commit_texts(gd, list(rows["sha"])), on="sha", how="left")
        return classify.classify_frame(rows, model)

    pred, clf, clf_cpu = _timed(classify_rows)
    pred_1, both, both_cpu = _timed(lambda: classify.classify_shas(gd, shas, model))
    pred_j, both_j, both_j_cpu = _timed(lambda: classify.classify_shas(gd, shas, model, args.jobs))
    cols = classify.CSV_COLUMNS
    same_pred = pred[cols].equals(pred_1[cols]) and pred[cols].equals(pred_j[cols])

    print(
        f"repository: {args.git_dir}  commits: {n}  file diffs: {n_files}  featured: {len(frame)}"
        f"  load average: {os.getloadavg()[0]:.1f}"
    )
    print(f"{'step':<40}{'wall s':>8}{'commits/s':>11}{'x raw':>7}{'CPU s':>8}{'x raw CPU':>11}")
    for name, sec, cpu in [
        ("raw git log -p (floor)", raw, raw_cpu),
        ("patch stream + parse", parse, parse_cpu),
        ("features, 1 process", feat, feat_cpu),
        (f"features, {args.jobs} processes", feat_j, feat_j_cpu),
        ("classification, texts from git again", clf, clf_cpu),
        (f"features {args.jobs} proc. + that classification", feat_j + clf, feat_j_cpu + clf_cpu),
        ("features + classification, 1 process", both, both_cpu),
        (f"features + classification, {args.jobs} proc.", both_j, both_j_cpu),
    ]:
        print(
            f"{name:<40}{sec:>8.2f}{n / sec if sec else float('inf'):>11.0f}{sec / raw:>7.1f}"
            f"{cpu:>8.2f}{cpu / raw_cpu if raw_cpu else float('inf'):>11.1f}"
        )
    print(
        f"per commit: {1000 * both_cpu / n:.2f} ms CPU for features + classification"
        f" (raw git {1000 * raw_cpu / n:.2f} ms); {args.jobs}-process rows equal: {same};"
        f" classifications equal: {same_pred}"
    )
    print("layers:", pred["layer"].value_counts().to_dict())


if __name__ == "__main__":
    main()
