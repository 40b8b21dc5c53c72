"""Layer shares of AI vs human commits, per tool and per detection channel, with repo-cluster CIs.

The share of a layer within a group is counts / group total; its interval resamples whole
repositories, because commits of one repository share conventions, reviewers and tooling.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats as sps

from analysis import LAYERS
from analysis.stats import bootstrap_sums, cluster_counts, cramers_v, percentile_ci, shares_of

DEFAULT_BOOT = 1000


def layer_shares(
    df: pd.DataFrame,
    by: str = "group",
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Share of each layer within each value of `by`, with repo-cluster bootstrap CIs.

    Columns: <by>, layer, n (commits of that layer), total (commits of the group), share, lo, hi.
    """
    counts, groups, _ = cluster_counts(df, "repo", by, LAYERS)
    total = counts.sum(axis=0)
    point = shares_of(total)
    lo, hi = percentile_ci(shares_of(bootstrap_sums(counts, n_boot, seed)), level)
    rows = []
    for g, group in enumerate(groups):
        for k, layer in enumerate(LAYERS):
            rows.append(
                {
                    by: group,
                    "layer": layer,
                    "n": int(total[g, k]),
                    "total": int(total[g].sum()),
                    "share": point[g, k],
                    "lo": lo[g, k],
                    "hi": hi[g, k],
                }
            )
    return pd.DataFrame(rows)


def share_differences(
    df: pd.DataFrame,
    by: str = "group",
    a: str = "ai",
    b: str = "human",
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    level: float = 0.95,
) -> pd.DataFrame:
    """Per layer: share(a) - share(b) and the ratio share(a)/share(b), with repo-cluster CIs."""
    counts, groups, _ = cluster_counts(df, "repo", by, LAYERS)
    if a not in groups or b not in groups:
        return pd.DataFrame(columns=["layer", "diff", "lo", "hi", "ratio", "ratio_lo", "ratio_hi"])
    ia, ib = groups.index(a), groups.index(b)
    point = shares_of(counts.sum(axis=0))
    draws = shares_of(bootstrap_sums(counts, n_boot, seed))
    diff = draws[:, ia] - draws[:, ib]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = draws[:, ia] / draws[:, ib]
    lo, hi = percentile_ci(diff, level)
    rlo, rhi = percentile_ci(np.where(np.isfinite(ratio), ratio, np.nan), level)
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
        }
    )


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
        "cramers_v": cramers_v(chi2, n, table.shape),
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
