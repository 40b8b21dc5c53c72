"""Layer shares of AI vs human commits, per tool and per detection channel, with bootstrap CIs.

The share of a layer within a group is counts / group total; its interval resamples whole
repositories, because commits of one repository share conventions, reviewers and tooling. A
group spanning fewer than MIN_REPOS repositories resamples time blocks within its repositories
instead (`stats.Design`); a share no resample can move (0 or 1) gets a Wilson score interval.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis import LAYERS
from analysis.stats import (
    NEWCOMBE_LABEL,
    WILSON_LABEL,
    Design,
    bootstrap_sums,
    choose_design,
    collapsed,
    cramers_v,
    design_counts,
    percentile_ci,
    rescue_difference,
    rescue_share,
    shares_of,
)

DEFAULT_BOOT = 1000


def layer_shares(
    df: pd.DataFrame,
    by: str = "group",
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Share of each layer within each value of `by`, with bootstrap CIs.

    Each group gets the design its repositories support (`choose_design`). Columns: <by>, layer,
    n (commits of that layer), total (commits of the group), share, lo, hi, interval (method).
    """
    sub = df.dropna(subset=[by])
    rows = []
    for group in sorted(sub[by].astype(str).unique()):
        part = sub[sub[by].astype(str) == group]
        design = choose_design(part, by)
        counts, _, strata = design_counts(part, by, LAYERS, design)
        total = counts.sum(axis=0)[0]
        point = shares_of(total)
        lo, hi = percentile_ci(shares_of(bootstrap_sums(counts, n_boot, seed, strata)), level)
        lo, hi, stuck = rescue_share(lo[0], hi[0], total, total.sum(), level)
        method = np.where(stuck, WILSON_LABEL, design.label)
        for k, layer in enumerate(LAYERS):
            rows.append(
                {
                    by: group,
                    "layer": layer,
                    "n": int(total[k]),
                    "total": int(total.sum()),
                    "share": point[k],
                    "lo": lo[k],
                    "hi": hi[k],
                    "interval": method[k],
                }
            )
    columns = [by, "layer", "n", "total", "share", "lo", "hi", "interval"]
    return pd.DataFrame(rows, columns=columns)


def share_differences(
    df: pd.DataFrame,
    by: str = "group",
    a: str = "ai",
    b: str = "human",
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Per layer: share(a) - share(b) and the ratio share(a)/share(b), with bootstrap CIs.

    One design for both groups (the scarcer decides), so a repository's AI and human commits
    are resampled together when repositories are resampled. `interval` names the method.
    """
    columns = ["layer", "diff", "lo", "hi", "ratio", "ratio_lo", "ratio_hi", "interval"]
    present = set(df[by].dropna().astype(str))
    if a not in present or b not in present:
        return pd.DataFrame(columns=columns)
    design = difference_design(df, by, a, b)
    counts, groups, strata = design_counts(df[df[by].isin([a, b])], by, LAYERS, design)
    ia, ib = groups.index(a), groups.index(b)
    total = counts.sum(axis=0)
    point = shares_of(total)
    draws = shares_of(bootstrap_sums(counts, n_boot, seed, strata))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = draws[:, ia] / draws[:, ib]
    lo, hi, stuck = rescue_difference(
        draws[:, ia], draws[:, ib], total[ia], total[ia].sum(), total[ib], total[ib].sum(), level
    )
    method = np.where(stuck, NEWCOMBE_LABEL, design.label)
    rlo, rhi = percentile_ci(np.where(np.isfinite(ratio), ratio, np.nan), level)
    rlo, rhi = (np.where(collapsed(rlo, rhi), np.nan, x) for x in (rlo, rhi))
    with np.errstate(divide="ignore", invalid="ignore"):
        point_ratio = point[ia] / point[ib]
    return pd.DataFrame(
        {
            "layer": list(LAYERS),
            "diff": point[ia] - point[ib],
            "lo": lo,
            "hi": hi,
            "ratio": point_ratio,
            "ratio_lo": rlo,
            "ratio_hi": rhi,
            "interval": method,
        },
        columns=columns,
    )


def difference_design(
    df: pd.DataFrame, by: str = "group", a: str = "ai", b: str = "human"
) -> Design:
    """The design of the a - b comparison: what the report's methods state."""
    return choose_design(df, by, [a, b])


def chi_square(df: pd.DataFrame, by: str = "group") -> dict:
    """Pearson chi-square of layer x `by` with Cramér's V.

    Treats commits as independent, so its p-value is optimistic; the cluster CIs are the inference
    the report relies on, V is the effect size.
    """
    table = pd.crosstab(df[by], df["layer"]).reindex(columns=list(LAYERS), fill_value=0)
    table = table.loc[table.sum(axis=1) > 0, table.sum(axis=0) > 0]
    if table.shape[0] < 2 or table.shape[1] < 2:
        return {
            "chi2": np.nan,
            "dof": 0,
            "p": np.nan,
            "cramers_v": np.nan,
            "n": int(table.to_numpy().sum()),
        }
    chi2, p, dof, _ = sps.chi2_contingency(table.to_numpy())
    n = int(table.to_numpy().sum())
    return {
        "chi2": float(chi2),
        "dof": int(dof),
        "p": float(p),
        "cramers_v": cramers_v(float(chi2), n, table.shape),
        "n": n,
    }


def with_baseline(df: pd.DataFrame, column: str, min_n: int = 20) -> pd.DataFrame:
    """AI commits labelled by `column` (tool or channel), human commits labelled `human`.

    Values with fewer than `min_n` commits are pooled as `other` so that no share rests on a
    handful of commits.
    """
    out = df.copy()
    label = out[column].where(out["is_ai"] == 1)
    counts = label.value_counts()
    rare = counts[counts < min_n].index
    label = label.where(~label.isin(rare), "other")
    out["stratum"] = label.fillna("human").where(out["is_ai"] == 1, "human")
    return out


def tool_shares(
    df: pd.DataFrame, n_boot: int = DEFAULT_BOOT, seed: int = 0, min_n: int = 20
) -> pd.DataFrame:
    """Layer shares per AI tool (a commit naming several tools counts as `multiple`) and human."""
    return layer_shares(with_baseline(df, "tool", min_n), "stratum", n_boot, seed).rename(
        columns={"stratum": "tool"}
    )


def channel_shares(
    df: pd.DataFrame, n_boot: int = DEFAULT_BOOT, seed: int = 0, min_n: int = 20
) -> pd.DataFrame:
    """Layer shares per detection channel (the strongest channel of each AI commit) and human."""
    return layer_shares(with_baseline(df, "channel", min_n), "stratum", n_boot, seed).rename(
        columns={"stratum": "channel"}
    )
