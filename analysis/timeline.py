"""Time: AI share of commits per month, the layer mix over time, before vs after adoption.

An adoption marker is a file that announces AI use in a repository (CLAUDE.md, .cursorrules...);
its first appearance dates the repo's adoption. Before/after compares the whole repository's
layer mix, AI-evidenced or not, so it also catches AI work that left no trace in metadata.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import LAYERS
from analysis.stats import MIN_REPOS, bootstrap_weights, percentile_ci, time_blocks, wilson


def ai_share_by_month(df: pd.DataFrame) -> pd.DataFrame:
    """Per month: commits, AI commits, AI share with a Wilson interval."""
    g = (
        df.groupby("month")["is_ai"]
        .agg(["size", "sum"])
        .rename(columns={"size": "n", "sum": "n_ai"})
    )
    g["share"] = g["n_ai"] / g["n"]
    g["lo"], g["hi"] = wilson(g["n_ai"], g["n"])
    return g.reset_index()


def layer_mix_by_period(df: pd.DataFrame, freq: str = "Q") -> pd.DataFrame:
    """Layer shares per period (quarter by default) and group."""
    period = df["month"].dt.to_period(freq).dt.to_timestamp()
    t = (
        df.assign(period=period)
        .groupby(["period", "group", "layer"], observed=False)
        .size()
        .rename("n")
    )
    t = t.reset_index()
    t["share"] = t["n"] / t.groupby(["period", "group"])["n"].transform("sum")
    return t.dropna(subset=["share"])


def adoption_dates(markers: pd.DataFrame) -> pd.Series:
    """First adoption-marker date per repo (naive UTC)."""
    if markers.empty:
        return pd.Series(dtype="datetime64[ns]", name="adopted_at")
    at = pd.to_datetime(markers["added_at"], utc=True).dt.tz_convert(None)
    return at.groupby(markers["repo"]).min().rename("adopted_at")


def before_after(
    df: pd.DataFrame, markers: pd.DataFrame, n_boot: int = 1000, seed: int = 0
) -> pd.DataFrame:
    """Per layer: share among all commits before vs after each repo's adoption marker.

    Pools repos with commits on both sides, each repo weighted equally. The CI resamples repos,
    or with fewer than MIN_REPOS of them, time blocks within each repo's before and after side.
    Columns: layer, before, after, diff, lo, hi, n_repos, interval. Also row layer='ai share'
    for the share of AI-evidenced commits.
    """
    columns = ["layer", "before", "after", "diff", "lo", "hi", "n_repos", "interval"]
    dates = adoption_dates(markers)
    d = df[df["repo"].isin(dates.index)].copy()
    if d.empty:
        return pd.DataFrame(columns=columns)
    when = pd.to_datetime(d["authored_at"], utc=True).dt.tz_convert(None)
    d["after"] = when >= d["repo"].map(dates)
    both = d.groupby("repo")["after"].transform("nunique") == 2
    d = d[both]
    if d.empty:
        return pd.DataFrame(columns=columns)
    names = [*LAYERS, "ai share"]
    # per commit: one-hot layers, the AI flag and a count, placed on its side (before | after)
    values = np.column_stack(
        [*((d["layer"] == layer).to_numpy() for layer in LAYERS), d["is_ai"], np.ones(len(d))]
    ).astype(float)
    side = d["after"].to_numpy()
    per_commit = np.concatenate([values * ~side[:, None], values * side[:, None]], axis=1)
    repos = sorted(d["repo"].unique())
    by_repo = len(repos) >= MIN_REPOS
    if by_repo:
        unit, label = d["repo"].astype(str), "repository-cluster bootstrap"
    else:
        unit = time_blocks(d.assign(side=side.astype(str)), ["repo", "side"])
        label = "time-block bootstrap within repository"
    codes, uniques = pd.factorize(unit)
    counts = np.zeros((len(uniques), per_commit.shape[1]))
    np.add.at(counts, codes, per_commit)
    unit_repo = pd.Series(d["repo"].to_numpy()).groupby(codes).first().to_numpy()
    strata = None if by_repo else np.array([u.rsplit("#", 1)[0] for u in uniques])
    member = (unit_repo[:, None] == np.array(repos)[None, :]).astype(float)  # units x repos
    weights = bootstrap_weights(len(uniques), n_boot, seed, strata)
    repo_counts = np.einsum("bu,uk,ur->brk", weights, counts, member)
    repo_weight = (weights @ member) / member.sum(axis=0)

    def diff_of(c: np.ndarray) -> np.ndarray:
        k = len(names)
        with np.errstate(invalid="ignore", divide="ignore"):
            return (
                c[..., k + 1 : 2 * k + 1] / c[..., 2 * k + 1 : 2 * k + 2]
                - c[..., :k] / c[..., k : k + 1]
            )

    per_draw = np.nan_to_num(diff_of(repo_counts))
    draws = (per_draw * repo_weight[..., None]).sum(axis=1) / repo_weight.sum(axis=1)[:, None]
    lo, hi = percentile_ci(draws)
    k = len(names)
    totals = member.T @ counts  # repos x (before | after) counts
    before = totals[:, :k] / totals[:, k : k + 1]
    after = totals[:, k + 1 : 2 * k + 1] / totals[:, 2 * k + 1 : 2 * k + 2]
    return pd.DataFrame(
        {
            "layer": names,
            "before": before.mean(axis=0),
            "after": after.mean(axis=0),
            "diff": (after - before).mean(axis=0),
            "lo": lo,
            "hi": hi,
            "n_repos": len(repos),
            "interval": label,
        },
        columns=columns,
    )
