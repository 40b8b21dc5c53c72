"""Time: AI share of commits per month, the layer mix over time, before vs after adoption.

An adoption marker is a file that announces AI use in a repository (CLAUDE.md, .cursorrules...);
its first appearance dates the repo's adoption. Before/after compares the whole repository's
layer mix, AI-evidenced or not, so it also catches AI work that left no trace in metadata.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import LAYERS
from analysis.stats import percentile_ci, wilson


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

    Pools repos with commits on both sides, each repo weighted equally; the CI resamples repos.
    Columns: layer, before, after, diff, lo, hi, n_repos. Also row layer='ai share' for the share
    of AI-evidenced commits.
    """
    dates = adoption_dates(markers)
    d = df[df["repo"].isin(dates.index)].copy()
    if d.empty:
        return pd.DataFrame(columns=["layer", "before", "after", "diff", "lo", "hi", "n_repos"])
    when = pd.to_datetime(d["authored_at"], utc=True).dt.tz_convert(None)
    d["after"] = when >= d["repo"].map(dates)
    per_repo = []
    for repo, g in d.groupby("repo"):
        if g["after"].all() or not g["after"].any():
            continue
        row = {"repo": repo}
        for side, part in (("before", g[~g["after"]]), ("after", g[g["after"]])):
            for layer in LAYERS:
                row[f"{side}:{layer}"] = float((part["layer"] == layer).mean())
            row[f"{side}:ai share"] = float(part["is_ai"].mean())
        per_repo.append(row)
    if not per_repo:
        return pd.DataFrame(columns=["layer", "before", "after", "diff", "lo", "hi", "n_repos"])
    table = pd.DataFrame(per_repo)
    names = [*LAYERS, "ai share"]
    before = table[[f"before:{x}" for x in names]].to_numpy()
    after = table[[f"after:{x}" for x in names]].to_numpy()
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(table), (n_boot, len(table)))
    draws = (after - before)[idx].mean(axis=1)
    lo, hi = percentile_ci(draws)
    return pd.DataFrame(
        {
            "layer": names,
            "before": before.mean(axis=0),
            "after": after.mean(axis=0),
            "diff": (after - before).mean(axis=0),
            "lo": lo,
            "hi": hi,
            "n_repos": len(table),
        }
    )
