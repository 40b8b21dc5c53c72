"""AI vs human rates of structural-change events (commit_structure): a second outcome, no model.

Why: the main outcome (the learned layer) is weakest on the architectural layer; the events are
read from the diff and the trees, so if AI and human commits differ in how often they add
modules, change public interfaces or add dependencies, that difference is not a classifier's
artefact. Rates are pooled over commits (events / commits, and events per 1,000 changed lines)
as the layer shares are, and every interval resamples whole repositories (analysis/stats.py).
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd

from analysis import dataset
from analysis.primary import same_era, stratified_or
from analysis.stats import bootstrap_sums, percentile_ci
from mining import store
from mining.errors import StageError
from mining.structure import AGGREGATES, EVENTS

#: the events plus their aggregates ("any_event", "any_but_interface")
OUTCOMES = (*EVENTS, *AGGREGATES)
DEFAULT_BOOT = 1000


def event_commits(
    con: duckdb.DuckDBPyConnection,
    era: str = "same",
    classified_only: bool = False,
    drop_scripted: bool = False,
) -> pd.DataFrame:
    """Non-merge commits of the analysis plan's groups with their events (docs/analysis-plan.md).

    AI: direct AI evidence (`ai_direct`). Human: no AI evidence at all and `author_kind` human
    (automation and commits credited only through a branch or suggestion belong to neither).
    `era="same"` keeps human commits authored on or after their repository's first AI commit and
    drops repositories without one; `era="whole"` keeps the whole history. `classified_only`
    restricts to commits that carry a learned layer (to compare with the layer answer);
    `drop_scripted` removes human commits flagged `scripted` (the plan's sensitivity row).
    Adds: group (ai|human), churn, size_band, quarter, and the AGGREGATES columns.
    """
    if era not in ("same", "whole"):
        raise ValueError(f"era must be 'same' or 'whole', not {era!r}")
    if not store.table_columns(con, "commit_structure"):
        raise StageError("no table commit_structure: run `strata structure` first")
    events = con.execute(
        "SELECT repo, sha, " + ", ".join(EVENTS) + " FROM commit_structure"  # noqa: S608 - fixed names
    ).df()
    df = dataset.plan_groups(con).merge(events, on=["repo", "sha"], how="inner")
    if drop_scripted and "scripted" in df.columns:
        df = df.loc[~(df["scripted"].fillna(False).astype(bool) & (df["is_ai"] == 0))]
    if era == "same":
        df = same_era(df)
    if classified_only:
        df = df.loc[df["layer"].notna()]
    if df.empty:
        raise StageError("no commits of the plan's AI and human groups carry structural events")
    df = df.copy()
    when = pd.to_datetime(df["authored_at"], utc=True)
    df["quarter"] = when.dt.tz_convert(None).dt.to_period("Q").astype(str)
    df["churn"] = df["churn"].fillna(0).astype(float)
    df["size_band"] = pd.cut(
        df["churn"], dataset.SIZE_EDGES, labels=list(dataset.SIZE_BANDS), right=False
    )
    for name, members in AGGREGATES.items():
        df[name] = df[list(members)].any(axis=1)
    return df.reset_index(drop=True)


def _cluster_totals(df: pd.DataFrame, groups: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Array clusters x groups x (commits, churn, one count per outcome); and the clusters."""
    cols = ["_one", "churn", *OUTCOMES]
    frame = df.assign(_one=1.0)[["repo", "group", *cols]].copy()
    frame[list(OUTCOMES)] = frame[list(OUTCOMES)].astype(float)
    sums = frame.groupby(["repo", "group"], observed=True)[cols].sum()
    clusters = sorted(frame["repo"].unique())
    index = pd.MultiIndex.from_product([clusters, groups])
    arr = (
        sums.reindex(index, fill_value=0.0)
        .to_numpy()
        .reshape(len(clusters), len(groups), len(cols))
    )
    return arr, np.asarray(clusters)


def _rates(totals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(events per commit, events per 1,000 changed lines) over the last axis of `totals`."""
    commits, churn, counts = totals[..., :1], totals[..., 1:2], totals[..., 2:]
    with np.errstate(invalid="ignore", divide="ignore"):
        per_commit = np.where(commits > 0, counts / np.where(commits > 0, commits, 1), np.nan)
        per_kloc = np.where(churn > 0, 1000 * counts / np.where(churn > 0, churn, 1), np.nan)
    return per_commit, per_kloc


def event_rates(
    df: pd.DataFrame, n_boot: int = DEFAULT_BOOT, seed: int = 0, level: float = 0.95
) -> pd.DataFrame:
    """Per outcome, measure (per_commit | per_kloc) and group: rate with a repo-cluster CI,
    and per outcome and measure the AI/human ratio and difference with their CIs.

    Columns: outcome, measure, ai, ai_lo, ai_hi, human, human_lo, human_hi, ratio, ratio_lo,
    ratio_hi, diff, diff_lo, diff_hi, n_ai, n_human (commits), events_ai, events_human.
    """
    groups = ["ai", "human"]
    totals, _ = _cluster_totals(df, groups)
    pooled = totals.sum(axis=0)
    draws = bootstrap_sums(totals, n_boot, seed)
    point = dict(zip(("per_commit", "per_kloc"), _rates(pooled), strict=True))
    boot = dict(zip(("per_commit", "per_kloc"), _rates(draws), strict=True))
    rows = []
    for measure in ("per_commit", "per_kloc"):
        p, b = point[measure], boot[measure]
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio_draws = b[:, 0] / b[:, 1]
        ratio_draws = np.where(np.isfinite(ratio_draws), ratio_draws, np.nan)
        g_lo, g_hi = percentile_ci(b, level)
        r_lo, r_hi = percentile_ci(ratio_draws, level)
        d_lo, d_hi = percentile_ci(b[:, 0] - b[:, 1], level)
        for k, outcome in enumerate(OUTCOMES):
            with np.errstate(invalid="ignore", divide="ignore"):
                ratio = p[0, k] / p[1, k] if p[1, k] else np.nan
            rows.append(
                {
                    "outcome": outcome,
                    "measure": measure,
                    "ai": p[0, k],
                    "ai_lo": g_lo[0, k],
                    "ai_hi": g_hi[0, k],
                    "human": p[1, k],
                    "human_lo": g_lo[1, k],
                    "human_hi": g_hi[1, k],
                    "ratio": ratio,
                    "ratio_lo": r_lo[k],
                    "ratio_hi": r_hi[k],
                    "diff": p[0, k] - p[1, k],
                    "diff_lo": d_lo[k],
                    "diff_hi": d_hi[k],
                    "n_ai": int(pooled[0, 0]),
                    "n_human": int(pooled[1, 0]),
                    "events_ai": int(pooled[0, 2 + k]),
                    "events_human": int(pooled[1, 2 + k]),
                }
            )
    return pd.DataFrame(rows)


def event_odds(
    df: pd.DataFrame,
    strata: tuple[str, ...] = ("repo", "quarter"),
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    level: float = 0.95,
    outcomes: tuple[str, ...] = OUTCOMES,
) -> pd.DataFrame:
    """Per outcome, the Mantel-Haenszel odds ratio of the event, AI vs human, within `strata`
    (the plan's estimand: repository x calendar quarter; ("repo", "size_band") asks "for changes
    of the same size"), with a repository-cluster bootstrap percentile interval.

    The MH ratio is sum(a d / n) / sum(b c / n) over strata; a repository's strata contribute
    fixed sums, so a bootstrap draw reweights repositories' sums (stats.bootstrap_sums).
    `outcomes`: boolean columns to compare (default: the events and aggregates; pass a 0/1
    learned-layer column to put the layer answer beside them on the same population).
    The estimator is the primary analysis' own (`primary.stratified_or`), so events and layers
    are compared by one piece of code. Columns: outcome, or, lo, hi, n, n_repos, interval."""
    frame = df.assign(is_ai=(df["group"] == "ai").astype(int))
    rows = []
    for outcome in outcomes:
        res = stratified_or(
            frame.assign(_y=frame[outcome].astype(int)), "_y", strata, n_boot, seed, level
        )
        rows.append(
            {
                "outcome": outcome,
                "or": res["or"],
                "lo": res["lo"],
                "hi": res["hi"],
                "n": res["n"],
                "n_repos": res["n_repos"],
                "interval": res["interval"],
            }
        )
    return pd.DataFrame(rows)
