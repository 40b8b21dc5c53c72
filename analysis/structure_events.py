"""AI vs human rates of structural-change events (commit_structure): a second outcome, no model.

Why: the main outcome (the learned layer) is weakest on the architectural layer; the events are
read from the diff and the trees, so if AI and human commits differ in how often they add
modules, change public interfaces or add dependencies, that difference is not a classifier's
artefact. Rates are pooled over commits (events / commits, and events per 1,000 changed lines)
as the layer shares are, and every interval resamples whole repositories (analysis/stats.py).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from analysis import dataset
from analysis.stats import bootstrap_sums, mantel_haenszel, percentile_ci
from mining.errors import StageError
from mining.structure import AGGREGATES, EVENTS

#: the events plus their aggregates ("any_event", "any_but_interface")
OUTCOMES = (*EVENTS, *AGGREGATES)
DEFAULT_BOOT = 1000


def event_commits(con: duckdb.DuckDBPyConnection, classified_only: bool = False) -> pd.DataFrame:
    """Non-merge commits by people or AI agents with their events, `group` (ai|human) and churn.

    The population of analysis.dataset.analysis_commits (author kinds human and ai_agent; a
    commit is AI when attributed to AI or authored by an agent) but, unless `classified_only`,
    without its restriction to commits that carry a learned layer: the events exist for all.
    """
    if not dataset._columns(con, "commit_structure"):
        raise StageError("no table commit_structure: run `strata structure` first")
    facts = dataset.commit_facts(con)
    events = con.execute(
        "SELECT repo, sha, " + ", ".join(EVENTS) + " FROM commit_structure"  # noqa: S608 - fixed names
    ).df()
    df = facts.merge(events, on=["repo", "sha"], how="inner")
    keep = ~df["is_merge"].astype(bool) & df["author_kind"].isin(["human", "ai_agent"])
    if classified_only:
        keep &= df["layer"].notna()
    df = df.loc[keep].copy()
    if df.empty:
        raise StageError("no non-merge commits with structural events by people or AI agents")
    ai = df["ai"].astype(bool) | (df["author_kind"] == "ai_agent")
    df["group"] = np.where(ai, "ai", "human")
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
            rows.append({
                "outcome": outcome, "measure": measure,
                "ai": p[0, k], "ai_lo": g_lo[0, k], "ai_hi": g_hi[0, k],
                "human": p[1, k], "human_lo": g_lo[1, k], "human_hi": g_hi[1, k],
                "ratio": ratio, "ratio_lo": r_lo[k], "ratio_hi": r_hi[k],
                "diff": p[0, k] - p[1, k], "diff_lo": d_lo[k], "diff_hi": d_hi[k],
                "n_ai": int(pooled[0, 0]), "n_human": int(pooled[1, 0]),
                "events_ai": int(pooled[0, 2 + k]), "events_human": int(pooled[1, 2 + k]),
            })  # fmt: skip
    return pd.DataFrame(rows)


def adjusted_odds(df: pd.DataFrame) -> pd.DataFrame:
    """Per outcome, the Mantel-Haenszel odds ratio of the event for AI vs human commits within
    repository x size band strata: a comparison that neither repository mix nor commit size
    (AI commits are larger or smaller) can produce. Columns: outcome, or, lo, hi, n, n_strata."""
    frame = df.assign(_ai=(df["group"] == "ai").astype(int))
    rows = []
    for outcome in OUTCOMES:
        frame["_y"] = frame[outcome].astype(int)
        res = mantel_haenszel(frame, "_ai", "_y", ["repo", "size_band"])
        rows.append({"outcome": outcome, **res})
    return pd.DataFrame(rows)


def figure_event_ratios(rates: pd.DataFrame, out: str | Path) -> list[Path]:
    """Dot plot: AI/human rate ratio of each event (per commit and per 1,000 lines), log scale,
    with repo-cluster CIs; 1 means no difference. Saved with its numbers (style.save)."""
    from analysis import style

    fig, ax = style.figure(columns=1, height=3.0)
    outcomes = list(OUTCOMES)
    y = np.arange(len(outcomes))
    for offset, (measure, color, label) in zip(
        (-0.15, 0.15),
        (("per_commit", style.OKABE_ITO[0], "per commit"),
         ("per_kloc", style.OKABE_ITO[1], "per 1,000 changed lines")),
        strict=True,
    ):  # fmt: skip
        sub = rates[rates["measure"] == measure].set_index("outcome").reindex(outcomes)
        err = np.vstack([sub["ratio"] - sub["ratio_lo"], sub["ratio_hi"] - sub["ratio"]])
        ax.errorbar(sub["ratio"], y + offset, xerr=np.clip(err, 0, None), fmt="o", color=color,
                    label=label, markersize=3, capsize=2)  # fmt: skip
    ax.axvline(1.0, color="0.4", linewidth=0.8, linestyle="--")
    ax.set_xscale("log")
    ax.set_yticks(y, [o.replace("_", " ") for o in outcomes])
    ax.invert_yaxis()
    ax.set_xlabel("AI / human rate (95% CI, repositories resampled)")
    ax.legend(loc="lower right", fontsize="x-small")
    return style.save(fig, rates, "structure_event_ratios", out)
