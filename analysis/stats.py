"""Small statistical tools shared by the estimators: repo-cluster bootstrap, pooled odds ratios.

Commits nest in repositories, so every interval resamples whole repositories (the sampling unit
of the corpus), never single commits.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

Z95 = float(stats.norm.ppf(0.975))


def cluster_counts(
    df: pd.DataFrame, cluster: str, by: str, categories: Sequence[str], outcome: str = "layer"
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Counts array (clusters x groups x categories) so that a bootstrap resample is a sum over rows.

    Counts are sums of the `weight` column where the frame has one (design weights that carry a
    sample back to its population), else commit counts. Returns (counts, group labels, clusters).
    """
    cols = [cluster, by, outcome] + (["weight"] if "weight" in df.columns else [])
    sub = df[cols].dropna(subset=[by])
    groups = sorted(sub[by].astype(str).unique())
    grouped = sub.assign(**{by: sub[by].astype(str), outcome: sub[outcome].astype(str)}).groupby(
        [cluster, by, outcome], observed=True
    )
    table = grouped["weight"].sum() if "weight" in sub.columns else grouped.size()
    clusters = sorted(sub[cluster].unique())
    index = pd.MultiIndex.from_product([clusters, groups, list(categories)])
    counts = (
        table.reindex(index, fill_value=0)
        .to_numpy()
        .reshape(len(clusters), len(groups), len(categories))
    )
    return counts.astype(float), groups, np.asarray(clusters)


def bootstrap_sums(counts: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Resample clusters (axis 0) with replacement n_boot times; return the summed counts per draw."""
    rng = np.random.default_rng(seed)
    n = counts.shape[0]
    weights = rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    flat = counts.reshape(n, -1)
    return (weights @ flat).reshape((n_boot, *counts.shape[1:]))


def shares_of(counts: np.ndarray) -> np.ndarray:
    """Normalise the last axis to shares; an empty group gives NaN."""
    total = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts / np.where(total > 0, total, 1), np.nan)


def percentile_ci(
    draws: np.ndarray, level: float = 0.95, axis: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval over bootstrap draws, ignoring draws where the statistic is undefined."""
    alpha = (1 - level) / 2
    with np.errstate(invalid="ignore"):
        lo = np.nanquantile(draws, alpha, axis=axis)
        hi = np.nanquantile(draws, 1 - alpha, axis=axis)
    return lo, hi


def wilson(k: np.ndarray, n: np.ndarray, level: float = 0.95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval for a binomial share (used where clusters are too few to resample)."""
    k, n = np.asarray(k, float), np.asarray(n, float)
    z = float(stats.norm.ppf(1 - (1 - level) / 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        p = k / n
        centre = (p + z * z / (2 * n)) / (1 + z * z / n)
        half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    # clip rounding error so that the interval always contains p
    return np.minimum(centre - half, p).clip(0, 1), np.maximum(centre + half, p).clip(0, 1)


def odds_ratio_2x2(a: float, b: float, c: float, d: float) -> tuple[float, float, float]:
    """Odds ratio (a/b)/(c/d) with a Woolf interval; 0.5 added to every cell if any is zero.

    a, b: exposed with/without the outcome; c, d: unexposed with/without.
    """
    cells = np.array([a, b, c, d], dtype=float)
    if (cells == 0).any():
        cells = cells + 0.5
    a, b, c, d = cells
    log_or = np.log(a * d / (b * c))
    se = np.sqrt((1 / cells).sum())
    return float(np.exp(log_or)), float(np.exp(log_or - Z95 * se)), float(np.exp(log_or + Z95 * se))


def mantel_haenszel(df: pd.DataFrame, exposure: str, outcome: str, strata: Sequence[str]) -> dict:
    """Mantel-Haenszel odds ratio pooled over strata, Robins-Breslow-Greenland interval.

    Strata without both exposed and unexposed commits carry no information and drop out.
    """
    key = list(strata) if strata else None
    frame = df[[exposure, outcome, *strata]].copy()
    frame["_a"] = (frame[exposure] == 1) & (frame[outcome] == 1)
    frame["_b"] = (frame[exposure] == 1) & (frame[outcome] == 0)
    frame["_c"] = (frame[exposure] == 0) & (frame[outcome] == 1)
    frame["_d"] = (frame[exposure] == 0) & (frame[outcome] == 0)
    cells = ["_a", "_b", "_c", "_d"]
    t = frame.groupby(key, observed=True)[cells].sum() if key else frame[cells].sum().to_frame().T
    t = t[(t["_a"] + t["_b"] > 0) & (t["_c"] + t["_d"] > 0)].astype(float)
    a, b, c, d = (t[x].to_numpy() for x in cells)
    n = a + b + c + d
    r, s = a * d / n, b * c / n
    out = {"n": int(n.sum()), "n_strata": len(t), "or": np.nan, "lo": np.nan, "hi": np.nan}
    if len(t) == 0 or r.sum() == 0 or s.sum() == 0:
        return out
    or_mh = r.sum() / s.sum()
    p, q = (a + d) / n, (b + c) / n
    var = (
        (p * r).sum() / (2 * r.sum() ** 2)
        + ((p * s + q * r).sum()) / (2 * r.sum() * s.sum())
        + (q * s).sum() / (2 * s.sum() ** 2)
    )
    se = np.sqrt(var)
    out.update(
        {
            "or": float(or_mh),
            "lo": float(np.exp(np.log(or_mh) - Z95 * se)),
            "hi": float(np.exp(np.log(or_mh) + Z95 * se)),
        }
    )
    return out


def cramers_v(chi2: float, n: int, shape: tuple[int, int]) -> float:
    """Cramér's V: chi-square scaled to 0..1 by sample size and table shape."""
    k = min(shape) - 1
    return float(np.sqrt(chi2 / (n * k))) if n and k > 0 else float("nan")
