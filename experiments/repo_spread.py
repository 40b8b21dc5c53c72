"""The pre-declared experiment of experiments/repo_spread.md: the linear bases' three
vocabularies (message, path and diff tokens) keep only terms found in commits of at least 3
distinct training repositories.

    # 1. the evaluation with the restricted vocabularies (outputs outside the tracked files)
    STRATA_MIRRORS=/work/.mirror .venv/bin/python experiments/repo_spread.py run
    # 2. the rows against main's committed evaluation, and the decision rule
    .venv/bin/python experiments/repo_spread.py compare
"""

from __future__ import annotations

import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin, clone

from mining import classify

OUT = Path("/tmp/repospread")
MIN_REPOS = 3
#: the ColumnTransformer parts whose vocabularies are restricted
TEXT_PARTS = ("msg", "path", "diff")


class RepoSpread(BaseEstimator, TransformerMixin):  # type: ignore[misc]
    """A TF-IDF vectorizer whose vocabulary holds only terms of >= `min_repos` repositories.

    Input: two columns, the text and its commit's repository. The terms are the wrapped
    vectorizer's own analyzer's; among those spread wide enough, the most frequent up to its
    `max_features` (min_df 2 holds by construction: 3 repositories mean 3 commits); the idf is
    then fitted on the same rows with that vocabulary fixed."""

    def __init__(self, vectorizer: Any = None, min_repos: int = MIN_REPOS) -> None:
        self.vectorizer = vectorizer
        self.min_repos = min_repos

    def fit(self, X: pd.DataFrame, y: Any = None) -> RepoSpread:
        texts, repos = X.iloc[:, 0].fillna(""), X.iloc[:, 1].to_numpy()
        analyze = clone(self.vectorizer).build_analyzer()
        spread: dict[str, set[str]] = defaultdict(set)
        freq: Counter[str] = Counter()
        for doc, repo in zip(texts, repos, strict=True):
            terms = analyze(doc)
            freq.update(terms)
            for t in set(terms):
                spread[t].add(repo)
        kept = [t for t, rs in spread.items() if len(rs) >= self.min_repos]
        cap = self.vectorizer.max_features
        if cap is not None and len(kept) > cap:
            kept = sorted(kept, key=lambda t: (-freq[t], t))[:cap]
        self.n_terms_all_ = len(spread)
        self.n_terms_kept_ = len(kept)
        self.vec_ = clone(self.vectorizer).set_params(
            vocabulary=sorted(kept), min_df=1, max_features=None
        )
        self.vec_.fit(texts)
        return self

    def transform(self, X: pd.DataFrame) -> Any:
        return self.vec_.transform(X.iloc[:, 0].fillna(""))


def restricted(estimator: Any) -> Any:
    """The same unfitted pipeline with its text parts wrapped in RepoSpread."""
    pre = estimator.named_steps["pre"]
    pre.transformers = [
        (name, RepoSpread(part, MIN_REPOS), [column, "repo"])
        if name in TEXT_PARTS
        else (name, part, column)
        for name, part, column in pre.transformers
    ]
    return estimator


def run() -> None:
    from nested_c import run_branch

    base_estimator = classify.base_estimator
    shown: set[str] = set()

    def patched(name: str, variant: str, binary: bool = False) -> Any:
        est = base_estimator(name, variant, binary)
        return est if name in classify.TREE_PARAMS else restricted(est)

    fit_base = classify.fit_base

    def fit_base_logged(name: str, variant: str, X: pd.DataFrame, y: np.ndarray, w: np.ndarray):  # type: ignore[no-untyped-def]
        est = fit_base(name, variant, X, y, w)
        key = f"{variant}/{name}"
        if name not in classify.TREE_PARAMS and key not in shown:
            shown.add(key)
            for part_name, part in est.named_steps["pre"].named_transformers_.items():
                if isinstance(part, RepoSpread):
                    print(
                        f"{key} on {len(X)} commits: {part_name} keeps {part.n_terms_kept_} "
                        f"of {part.n_terms_all_} terms",
                        file=sys.stderr,
                        flush=True,
                    )
        return est

    classify.base_estimator = patched
    classify.fit_base = fit_base_logged
    run_branch(OUT)


def compare() -> None:
    from nested_c import compare_branch

    compare_branch(OUT, "experiments/repo_spread.md")


if __name__ == "__main__":
    from nested_c import run_or_compare

    run_or_compare(__doc__.splitlines()[0], run, compare)
