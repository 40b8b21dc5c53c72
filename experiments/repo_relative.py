"""The pre-declared experiment of experiments/repo_relative.md: four columns giving a commit's size
relative to its own repository's history, added to every base of both variants.

    # 1. the references (the crawl's stream, `gitlog.iter_commits`, per labelled repository)
    STRATA_MIRRORS=/work/.mirror .venv/bin/python experiments/repo_relative.py refs
    # 2. the evaluation with the four columns (outputs outside the tracked files)
    STRATA_MIRRORS=/work/.mirror .venv/bin/python experiments/repo_relative.py run
    # 3. the rows against main's committed evaluation, and the decision rule
    .venv/bin/python experiments/repo_relative.py compare
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from mining import classify, evaluate

OUT = Path("/tmp/reporel")
COLUMNS = ["repo_pct_churn", "repo_pct_files", "repo_rel_log_churn", "repo_rel_log_files"]


def reference(git_dir: str) -> pd.DataFrame:
    """Every non-merge commit's churn (added + deleted lines) and files changed, as the crawl's
    stream counts them (`git log -M --numstat`; a binary file: one file, 0 lines; a partial
    clone's absent blobs: the file, 0 lines)."""
    from mining import gitlog

    path = Path(git_dir)
    shas = gitlog.list_commits(path, gitlog.resolve_head(path, "HEAD"))
    rows = [
        (
            rec.sha,
            sum((f.added or 0) + (f.deleted or 0) for f in rec.files),
            len(rec.files),
        )
        for rec in gitlog.iter_commits(path, shas)
        if len(rec.parents) <= 1
    ]
    return pd.DataFrame(rows, columns=["sha", "ref_churn", "ref_files"])


def build_references(out: Path) -> None:
    labels = evaluate.read_labels()
    repos = sorted(set(labels["repo"]))
    mirrors = evaluate.mirror_paths(repos=repos)
    parts = []
    for repo in repos:
        t0 = time.perf_counter()
        ref = reference(mirrors[repo]).assign(repo=repo)
        print(f"{repo}: {len(ref)} commits, {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        parts.append(ref)
    out.parent.mkdir(parents=True, exist_ok=True)
    pd.concat(parts).to_parquet(out, index=False)


def _mid_rank(values: np.ndarray, sorted_ref: np.ndarray) -> np.ndarray:
    below = np.searchsorted(sorted_ref, values, side="left")
    upto = np.searchsorted(sorted_ref, values, side="right")
    return (below + 0.5 * (upto - below)) / len(sorted_ref)


def relative_columns(feats: pd.DataFrame, refs: pd.DataFrame) -> pd.DataFrame:
    """The four columns of experiments/repo_relative.md for each row of `feats`, from its own
    `churn` and `n_files` against its repository's reference."""
    out = pd.DataFrame(index=feats.index, columns=COLUMNS, dtype=float)
    for repo, idx in feats.groupby("repo").groups.items():
        ref = refs[refs["repo"] == repo]
        rc = np.sort(ref["ref_churn"].to_numpy(float))
        rf = np.sort(ref["ref_files"].to_numpy(float))
        churn = feats.loc[idx, "churn"].to_numpy(float)
        files = feats.loc[idx, "n_files"].to_numpy(float)
        out.loc[idx, "repo_pct_churn"] = _mid_rank(churn, rc)
        out.loc[idx, "repo_pct_files"] = _mid_rank(files, rf)
        out.loc[idx, "repo_rel_log_churn"] = np.log1p(churn) - np.median(np.log1p(rc))
        out.loc[idx, "repo_rel_log_files"] = np.log1p(files) - np.median(np.log1p(rf))
    return out


def agreement(feats: pd.DataFrame, refs: pd.DataFrame) -> None:
    """How often a labelled commit's own churn / files differ from its row in the reference."""
    m = feats[["repo", "sha", "churn", "n_files"]].merge(refs, on=["repo", "sha"], how="left")
    missing = int(m["ref_churn"].isna().sum())
    both = m.dropna(subset=["ref_churn"])
    print(
        f"labelled commits: {len(m)}; not in their reference: {missing}; churn differs: "
        f"{int((both['churn'] != both['ref_churn']).sum())}; files differ: "
        f"{int((both['n_files'] != both['ref_files']).sum())}"
    )
    sizes = refs.groupby("repo").size()
    print(
        f"reference sizes: {len(sizes)} repositories, median {int(sizes.median())}, "
        f"min {int(sizes.min())}, max {int(sizes.max())}, total {int(sizes.sum())}"
    )


def run(refs_path: Path) -> None:
    refs = pd.read_parquet(refs_path)
    read = evaluate.read_features
    columns = classify.variant_columns

    def read_features(path: Path = evaluate.LABEL_FEATURES) -> pd.DataFrame:
        feats = read(path)
        agreement(feats, refs)
        return pd.concat([feats, relative_columns(feats, refs)], axis=1)

    def variant_columns(variant: str) -> tuple[list[str], list[str]]:
        cols, texts = columns(variant)
        return [*cols, *COLUMNS], texts

    evaluate.read_features = read_features
    classify.variant_columns = variant_columns
    from nested_c import run_branch

    run_branch(OUT)


def compare() -> None:
    from nested_c import compare_branch

    compare_branch(OUT, "experiments/repo_relative.md")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("step", choices=["refs", "run", "compare"])
    ap.add_argument("--refs", type=Path, default=OUT / "refs.parquet")
    args = ap.parse_args()
    if args.step == "refs":
        build_references(args.refs)
    elif args.step == "run":
        run(args.refs)
    else:
        compare()


if __name__ == "__main__":
    main()
