"""Within-developer comparison: the same person's AI-evidenced and unassisted commits, same repo.

Why: developers differ in what they work on (a maintainer does the architecture, a contributor the
fixes). Comparing each person with themselves removes everything stable about that person. A
developer is (repo, author_id); commits authored by an AI agent identity are left out because
their author is the tool, not the person.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from statsmodels.discrete.discrete_model import Logit

from analysis import LAYERS
from analysis.models import MAX_LOG_OR, SEPARATION
from analysis.stats import MIN_REPOS, Z95, bootstrap_sums, percentile_ci


def mixed_developers(df: pd.DataFrame, min_each: int = 1) -> pd.DataFrame:
    """Commits of developers with at least `min_each` AI and `min_each` human commits in a repo."""
    people = df[df["author_kind"] == "human"].copy()
    people["developer"] = people["repo"].astype(str) + "/" + people["author_id"].astype(str)
    g = people.groupby("developer")["is_ai"]
    n_ai, n = g.transform("sum"), g.transform("size")
    return people[(n_ai >= min_each) & (n - n_ai >= min_each)].reset_index(drop=True)


def developer_shares(df: pd.DataFrame, min_each: int = 1) -> pd.DataFrame:
    """Per mixed developer and layer: share among their AI commits, among their human commits."""
    mixed = mixed_developers(df, min_each)
    if mixed.empty:
        return pd.DataFrame(
            columns=["developer", "repo", "layer", "ai", "human", "diff", "n_ai", "n_human"]
        )
    rows = []
    for dev, g in mixed.groupby("developer"):
        ai, hu = g[g["is_ai"] == 1], g[g["is_ai"] == 0]
        for layer in LAYERS:
            a = float((ai["layer"] == layer).mean())
            h = float((hu["layer"] == layer).mean())
            rows.append(
                {
                    "developer": dev,
                    "repo": g["repo"].iloc[0],
                    "layer": layer,
                    "ai": a,
                    "human": h,
                    "diff": a - h,
                    "n_ai": len(ai),
                    "n_human": len(hu),
                }
            )
    return pd.DataFrame(rows)


def paired_differences(
    df: pd.DataFrame, n_boot: int = 1000, seed: int = 0, min_each: int = 1
) -> pd.DataFrame:
    """Mean over developers of (share among own AI commits - share among own human commits).

    Each developer weighs equally; the CI resamples repositories with all their developers, or,
    with fewer than MIN_REPOS repositories, developers within each repository. One developer
    alone gives no interval (NaN), not a zero-width one.
    """
    columns = ["layer", "diff", "lo", "hi", "n_developers", "interval"]
    per = developer_shares(df, min_each)
    if per.empty:
        return pd.DataFrame(columns=columns)
    wide = per.pivot_table(
        index=["repo", "developer"], columns="layer", values="diff", observed=True
    )
    wide = wide.reindex(columns=list(LAYERS)).fillna(0.0)
    repos = wide.index.get_level_values("repo").to_numpy()
    if len(set(repos)) >= MIN_REPOS:
        by_repo = wide.groupby(level="repo")
        sums, counts = by_repo.sum().to_numpy(), by_repo.size().to_numpy().astype(float)
        strata, label = None, "repository-cluster bootstrap"
    else:
        sums, counts = wide.to_numpy(), np.ones(len(wide))
        strata, label = repos, "developer bootstrap within repository"
    draws_sum = bootstrap_sums(sums, n_boot, seed, strata)
    draws_n = bootstrap_sums(counts[:, None], n_boot, seed, strata)
    lo, hi = percentile_ci(draws_sum / draws_n)
    if len(wide) < 2:
        lo, hi = np.full(len(LAYERS), np.nan), np.full(len(LAYERS), np.nan)
    return pd.DataFrame(
        {
            "layer": list(LAYERS),
            "diff": wide.to_numpy().mean(axis=0),
            "lo": lo,
            "hi": hi,
            "n_developers": len(wide),
            "interval": label,
        },
        columns=columns,
    )


def conditional_logit(df: pd.DataFrame, outcome: str = "arch", min_each: int = 1) -> dict:
    """Odds ratio of `outcome` for AI commits from a logit with one intercept per developer.

    The developer intercepts remove each person's own baseline; size (log1p churn) and date stay
    as controls; SEs are clustered by repository (by developer below MIN_REPOS repositories). (An exact conditional logit gives the same
    answer but is too slow for prolific developers.)
    """
    mixed = mixed_developers(df, min_each)
    if not mixed.empty:
        mixed = mixed[mixed.groupby("developer")[outcome].transform("nunique") > 1]
    n_dev = mixed["developer"].nunique() if not mixed.empty else 0
    out = {
        "model": "developer fixed effects",
        "outcome": outcome,
        "or": np.nan,
        "lo": np.nan,
        "hi": np.nan,
        "p": np.nan,
        "n": len(mixed),
        "n_developers": n_dev,
        "note": "",
    }
    if n_dev < 2:
        out["note"] = (
            "fewer than two developers with both AI and human commits and outcome variation"
        )
        return out
    dev = pd.get_dummies(mixed["developer"], dtype=float)
    exog = pd.concat([mixed[["is_ai", "log_churn", "years"]].astype(float), dev], axis=1)
    # few repositories make repository-clustered SEs too small: cluster by developer instead
    by_repo = mixed["repo"].nunique() >= MIN_REPOS
    groups = pd.factorize(mixed["repo" if by_repo else "developer"])[0]
    cov = {"cov_type": "cluster", "cov_kwds": {"groups": groups}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = Logit(mixed[outcome].astype(float).to_numpy(), exog).fit(disp=0, maxiter=200, **cov)
    beta, se = float(fit.params["is_ai"]), float(fit.bse["is_ai"])
    if not (np.isfinite(beta) and np.isfinite(se)) or abs(beta) > MAX_LOG_OR:
        out["note"] = SEPARATION
        return out
    out.update(
        {
            "or": float(np.exp(beta)),
            "lo": float(np.exp(beta - Z95 * se)),
            "hi": float(np.exp(beta + Z95 * se)),
            "p": float(fit.pvalues["is_ai"]),
            "note": "SE clustered by repo" if by_repo else "SE clustered by developer",
        }
    )
    return out
