"""Small statistical tools shared by the estimators: the bootstrap design, pooled odds ratios.

Commits nest in repositories, so intervals resample whole repositories (the sampling unit of the
corpus) when there are enough of them (MIN_REPOS); with fewer, a repository bootstrap has next to
nothing to resample, and intervals resample blocks of consecutive commits within each repository
instead (`Design`), which describes these repositories, not repositories in general.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

Z95 = float(stats.norm.ppf(0.975))

MIN_REPOS = 10
"""Fewest repositories (in each compared group) for the repository-cluster bootstrap.

Why 10: with G repositories a percentile interval has the spread of G cluster means shrunk by
sqrt((G-1)/G) and normal instead of t(G-1) tails, so its actual coverage at a nominal 95% is
P(|t(G-1)| < 1.96 sqrt((G-1)/G)): 60% at G=2, 85% at G=5, 90% at G=10, 93% at G=20 (see
`cluster_coverage`); G=10 is where it first reaches 90%. A resample is also one of only
C(2G-1, G) multisets: 3 at G=2, 126 at G=5, so the interval's endpoints jump between few values.
"""

MIN_BLOCKS = 5
"""Fewest blocks a within-repository group is cut into, so a block bootstrap has spread."""


def cluster_coverage(n_clusters: int, level: float = 0.95) -> float:
    """Actual coverage of a nominal `level` percentile cluster bootstrap with normal cluster means."""
    if n_clusters < 2:
        return 0.0
    g = n_clusters
    z = float(stats.norm.ppf(1 - (1 - level) / 2)) * math.sqrt((g - 1) / g)
    return float(2 * stats.t.cdf(z, g - 1) - 1)


@dataclass(frozen=True)
class Design:
    """How one table's intervals resample: whole repositories, or time blocks within each.

    `n_repos` is the number of repositories behind the scarcest compared group (what decides).
    """

    kind: str  # "repository" | "time-block"
    n_repos: int

    @property
    def label(self) -> str:
        if self.kind == "repository":
            return "repository-cluster bootstrap"
        return "time-block bootstrap within repository"

    @property
    def reason(self) -> str:
        if self.kind == "repository":
            return (
                f"{self.n_repos} repositories (at least {MIN_REPOS}): whole repositories are "
                "resampled, so the interval speaks for repositories like these"
            )
        why = (
            "a repository bootstrap has nothing to resample"
            if self.n_repos <= 1
            else f"a repository bootstrap would cover about "
            f"{100 * cluster_coverage(self.n_repos):.0f}% instead of 95%"
        )
        return (
            f"only {self.n_repos} repositor{'y' if self.n_repos == 1 else 'ies'} (fewer than "
            f"{MIN_REPOS}; {why}): blocks of consecutive "
            "commits are resampled within each repository, so the interval speaks for these "
            "repositories' commits only, not for other repositories"
        )


def choose_design(df: pd.DataFrame, by: str, groups: Sequence[str] | None = None) -> Design:
    """Repository bootstrap if every compared group spans MIN_REPOS repositories, else time blocks."""
    sub = df.dropna(subset=[by])
    if groups is not None:
        sub = sub[sub[by].astype(str).isin([str(g) for g in groups])]
    spans = sub.groupby(sub[by].astype(str), observed=True)["repo"].nunique()
    n = int(spans.min()) if len(spans) else 0
    return Design("repository" if n >= MIN_REPOS else "time-block", n)


def block_length(n: int) -> int:
    """Commits per block: n^(1/3) (the usual order for a block bootstrap of a mean), but at least
    MIN_BLOCKS blocks, so small groups fall back to single commits."""
    return max(1, min(math.ceil(n ** (1 / 3)), n // MIN_BLOCKS))


def time_blocks(df: pd.DataFrame, keys: Sequence[str]) -> pd.Series:
    """Label each commit with its block: consecutive commits (by author date) within `keys`."""
    order = (
        pd.to_datetime(df["authored_at"], utc=True, errors="coerce")
        if "authored_at" in df
        else pd.Series(np.arange(len(df)), index=df.index)
    )
    frame = df[list(keys)].astype(str).assign(_t=order, _i=np.arange(len(df)))
    frame = frame.sort_values([*keys, "_t", "_i"], kind="stable")
    pos = frame.groupby(list(keys), observed=True).cumcount()
    size = frame.groupby(list(keys), observed=True)["_i"].transform("size")
    block = pos // size.map(block_length)
    labels = frame[keys[0]]
    for key in keys[1:]:
        labels = labels + "/" + frame[key]
    return (labels + "#" + block.astype(str)).reindex(df.index)


def se_clusters(df: pd.DataFrame) -> tuple[np.ndarray, str]:
    """Cluster ids for a model's robust SEs, and the note saying which: repositories when there
    are MIN_REPOS of them (few clusters make robust SEs too small), else time blocks within them."""
    n_repos = df["repo"].nunique()
    if n_repos >= MIN_REPOS:
        return pd.factorize(df["repo"])[0], "SE clustered by repo"
    blocks = pd.factorize(time_blocks(df, ["repo"]))[0]
    return blocks, f"SE clustered by time block within repo ({n_repos} < {MIN_REPOS} repos)"


def design_counts(
    df: pd.DataFrame, by: str, categories: Sequence[str], design: Design, outcome: str = "layer"
) -> tuple[np.ndarray, list[str], np.ndarray | None]:
    """Counts (units x groups x categories) for `design`, and each unit's stratum (or None).

    Repository design: one unit per repository, no strata (AI and human commits of a repository
    are resampled together). Time-block design: units are blocks within repository x group, each
    (repository, group) a stratum that keeps its number of blocks.
    """
    if design.kind == "repository":
        counts, groups, _ = cluster_counts(df, "repo", by, categories, outcome)
        return counts, groups, None
    sub = df.dropna(subset=[by]).copy()
    sub["_unit"] = time_blocks(sub, ["repo", by])
    counts, groups, units = cluster_counts(sub, "_unit", by, categories, outcome)
    strata = np.array([u.rsplit("#", 1)[0] for u in units])
    return counts, groups, strata


def cluster_counts(
    df: pd.DataFrame, cluster: str, by: str, categories: Sequence[str], outcome: str = "layer"
) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Counts array (clusters x groups x categories) so that a bootstrap resample is a sum over rows.

    Counts are sums of the `weight` column where the frame has one (design weights that carry a
    sample back to its population), else commit counts. Returns (counts, group labels, clusters).
    """
    cols = [cluster, by, outcome] + (["weight"] if "weight" in df.columns else [])
    sub = df[cols].dropna(subset=[by])
    if "weight" in sub.columns:  # a CSV read as text (out-of-fold predictions) carries it as str
        sub = sub.assign(weight=pd.to_numeric(sub["weight"], errors="coerce").fillna(1.0))
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


def bootstrap_weights(
    n: int, n_boot: int, seed: int, strata: np.ndarray | None = None
) -> np.ndarray:
    """How often each of n units is drawn, per resample (n_boot x n); within strata if given."""
    rng = np.random.default_rng(seed)
    if strata is None:
        return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot).astype(float)
    weights = np.zeros((n_boot, n))
    for s in pd.unique(strata):
        idx = np.flatnonzero(strata == s)
        k = len(idx)
        weights[:, idx] = rng.multinomial(k, np.full(k, 1.0 / k), size=n_boot)
    return weights


def bootstrap_sums(
    counts: np.ndarray, n_boot: int, seed: int, strata: np.ndarray | None = None
) -> np.ndarray:
    """Resample units (axis 0) with replacement n_boot times (within `strata` if given); return
    the summed counts per draw."""
    n = counts.shape[0]
    weights = bootstrap_weights(n, n_boot, seed, strata)
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
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN slice: the statistic is undefined
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


def newcombe(
    k1: np.ndarray, n1: np.ndarray, k2: np.ndarray, n2: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval for p1 - p2 from two Wilson intervals."""
    p1, p2 = np.asarray(k1, float) / n1, np.asarray(k2, float) / n2
    l1, u1 = wilson(k1, n1, level)
    l2, u2 = wilson(k2, n2, level)
    d = p1 - p2
    return d - np.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + np.sqrt(
        (u1 - p1) ** 2 + (p2 - l2) ** 2
    )


def collapsed(lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Where a bootstrap interval has no width: the resamples all agree (e.g. a share of 0 or 1
    that no resample can move), which says nothing about how far the truth may lie."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    return np.isfinite(lo) & np.isfinite(hi) & np.isclose(lo, hi, rtol=0, atol=1e-12)


WILSON_LABEL = "Wilson score (no resample moves this share)"
NEWCOMBE_LABEL = "Newcombe score (no resample moves this difference)"


def rescue_share(
    lo: np.ndarray, hi: np.ndarray, k: np.ndarray, n: np.ndarray, level: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Replace collapsed bootstrap intervals of shares k/n by Wilson intervals; also the mask."""
    k, n = np.broadcast_arrays(np.asarray(k, float), np.asarray(n, float))
    stuck = collapsed(lo, hi) & (n > 0)
    if stuck.any():
        wlo, whi = wilson(k, n, level)
        lo, hi = np.where(stuck, wlo, lo), np.where(stuck, whi, hi)
    return lo, hi, stuck


def rescue_difference(
    draws1: np.ndarray,
    draws2: np.ndarray,
    k1: np.ndarray,
    n1: np.ndarray,
    k2: np.ndarray,
    n2: np.ndarray,
    level: float = 0.95,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Interval of k1/n1 - k2/n2 from the share draws of both groups: percentile, but Newcombe's
    where no resample moves either share (a group at 0% would otherwise lend the difference the
    other group's spread only, e.g. 0/60 vs 2% read as 'lower'). Returns (lo, hi, mask)."""
    lo, hi = percentile_ci(draws1 - draws2, level)
    k1, n1, k2, n2 = np.broadcast_arrays(*(np.asarray(x, float) for x in (k1, n1, k2, n2)))
    stuck = collapsed(*percentile_ci(draws1, level)) | collapsed(*percentile_ci(draws2, level))
    stuck &= (n1 > 0) & (n2 > 0)
    if stuck.any():
        nlo, nhi = newcombe(k1, n1, k2, n2, level)
        lo, hi = np.where(stuck, nlo, lo), np.where(stuck, nhi, hi)
    return lo, hi, stuck


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
