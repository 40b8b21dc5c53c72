"""The pre-specified primary analysis (docs/analysis-plan.md) and its sensitivity table.

Primary estimand: the odds ratio of a layer for AI-assisted vs human commits within repository and
calendar quarter, on the same-era population. It is computed as a Mantel-Haenszel odds ratio over
repository x quarter strata (the stratified analogue of a logit with repository and quarter fixed
effects, and cheap enough to bootstrap), with a repository-cluster bootstrap interval: strata nest
in repositories, so a resample of repositories is a weighted sum of per-repository MH terms.
With fewer repositories than `stats.MIN_REPOS` (the one threshold of the whole analysis) the
interval resamples commits within strata instead, and says so.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis import LAYERS
from analysis.stats import MIN_REPOS, percentile_ci

PRIMARY_STRATA: tuple[str, ...] = ("repo", "quarter")
SIZE_STRATA: tuple[str, ...] = ("repo", "quarter", "size_band", "integration_mode")


def add_period(df: pd.DataFrame) -> pd.DataFrame:
    """Add `quarter` (calendar quarter of authorship), the period fixed effect of the plan."""
    out = df.copy()
    out["quarter"] = pd.PeriodIndex(out["month"], freq="Q").astype(str)
    return out


def same_era(df: pd.DataFrame) -> pd.DataFrame:
    """Commits of repositories with AI evidence: every AI commit, and the human commits authored
    at or after the repository's first AI commit (docs/analysis-plan.md, Era).

    Why: human commits from 2012 and AI commits from 2023 differ in era, not only in authorship;
    a linear date term cannot separate them. The one definition of the era: the layer analysis
    and the structural events (structure_events.event_commits) both call it.
    """
    when = pd.to_datetime(df["authored_at"], utc=True).to_numpy()
    ai = (df["is_ai"] == 1).to_numpy()
    repo = df["repo"].to_numpy()
    first_ai = pd.Series(when[ai]).groupby(repo[ai]).min()
    start = pd.to_datetime(
        pd.Series(repo).map(first_ai.to_dict()), utc=True
    ).to_numpy()  # NaT: no AI
    return df[~pd.isna(start) & (ai | (when >= start))].copy()


def _repo_terms(df: pd.DataFrame, outcome: str, strata: Sequence[str]) -> pd.DataFrame:
    """Per repository, the MH numerator and denominator summed over its strata (plus counts)."""
    y = df[outcome].astype(int).to_numpy()
    x = df["is_ai"].astype(int).to_numpy()
    cells = pd.DataFrame(
        {
            **{s: df[s].astype(str).to_numpy() for s in strata},
            "a": (x == 1) & (y == 1),
            "b": (x == 1) & (y == 0),
            "c": (x == 0) & (y == 1),
            "d": (x == 0) & (y == 0),
        }
    )
    t = cells.groupby(list(strata), observed=True)[["a", "b", "c", "d"]].sum().astype(float)
    t = t[(t["a"] + t["b"] > 0) & (t["c"] + t["d"] > 0)]
    n = t.sum(axis=1)
    t["r"] = t["a"] * t["d"] / n
    t["s"] = t["b"] * t["c"] / n
    t["n"] = n
    t["k"] = 1.0  # strata per repository
    return t.groupby(level="repo")[["r", "s", "n", "a", "b", "c", "d", "k"]].sum()


def _within_strata_draws(
    df: pd.DataFrame, outcome: str, strata: Sequence[str], n_boot: int, seed: int
) -> np.ndarray:
    """MH odds ratios from a commit bootstrap within each stratum (for one or a few repositories)."""
    rng = np.random.default_rng(seed)
    y = df[outcome].astype(int)
    x = df["is_ai"].astype(int)
    g = df.assign(_ai=x, _y=y).groupby(list(strata), observed=True)
    r = np.zeros(n_boot)
    s = np.zeros(n_boot)
    for _, part in g:
        n_ai, n_h = int(part["_ai"].sum()), int((1 - part["_ai"]).sum())
        if n_ai == 0 or n_h == 0:
            continue
        p_ai = part.loc[part["_ai"] == 1, "_y"].mean()
        p_h = part.loc[part["_ai"] == 0, "_y"].mean()
        a = rng.binomial(n_ai, p_ai, n_boot)
        c = rng.binomial(n_h, p_h, n_boot)
        n = n_ai + n_h
        r += a * (n_h - c) / n
        s += (n_ai - a) * c / n
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(s > 0, r / s, np.nan)


def stratified_or(
    df: pd.DataFrame,
    outcome: str,
    strata: Sequence[str] = PRIMARY_STRATA,
    n_boot: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict:
    """MH odds ratio of `outcome` (0/1 column) for AI vs human over `strata` (must start with repo).

    Returns or, lo, hi, n (commits in informative strata), n_strata, n_repos, interval (method).
    """
    assert strata[0] == "repo", "strata must nest in repositories"
    terms = _repo_terms(df, outcome, strata)
    out = {
        "or": np.nan,
        "lo": np.nan,
        "hi": np.nan,
        "n": int(terms["n"].sum()),
        "n_ai": int((terms["a"] + terms["b"]).sum()),
        "n_repos": len(terms),
        "n_strata": int(terms["k"].sum()),
        "interval": "",
        "note": "",
    }
    if terms.empty or terms["s"].sum() == 0 or terms["r"].sum() == 0:
        out["note"] = "no informative stratum (or the outcome never/always occurs in one group)"
        return out
    out["or"] = float(terms["r"].sum() / terms["s"].sum())
    if len(terms) >= MIN_REPOS:
        rng = np.random.default_rng(seed)
        k = len(terms)
        w = rng.multinomial(k, np.full(k, 1 / k), size=n_boot).astype(float)
        with np.errstate(divide="ignore", invalid="ignore"):
            draws = (w @ terms["r"].to_numpy()) / (w @ terms["s"].to_numpy())
        out["interval"] = f"repository-cluster bootstrap ({n_boot} draws, {k} repositories)"
    else:
        draws = _within_strata_draws(df, outcome, strata, n_boot, seed)
        out["interval"] = (
            f"commit bootstrap within strata ({n_boot} draws): only {len(terms)} repositor"
            f"{'y' if len(terms) == 1 else 'ies'}, fewer than {MIN_REPOS}, so repositories cannot "
            "be resampled; the interval ignores dependence between a repository's commits"
        )
    draws = np.where(np.isfinite(draws) & (draws > 0), draws, np.nan)  # an empty cell: undefined
    lo, hi = percentile_ci(np.log(draws), level)
    out["lo"], out["hi"] = float(np.exp(lo)), float(np.exp(hi))
    return out


def fe_logit_check(df: pd.DataFrame, outcome: str = "arch") -> dict:
    """Logit with repository and quarter fixed effects, SE clustered by repository: a check on MH.

    Convergence and any warning are reported, never silenced.
    """
    from statsmodels.discrete.discrete_model import Logit

    d = df[df.groupby("repo")[outcome].transform("nunique") > 1]
    d = d[d.groupby("repo")["is_ai"].transform("nunique") > 1]
    out = {
        "or": np.nan,
        "lo": np.nan,
        "hi": np.nan,
        "n": len(d),
        "converged": False,
        "warnings": "",
    }
    if d["repo"].nunique() < 2:
        out["warnings"] = "fewer than two informative repositories"
        return out
    exog = pd.concat(
        [
            pd.Series(1.0, index=d.index, name="const"),
            d["is_ai"].astype(float),
            pd.get_dummies(d["repo"], prefix="r", drop_first=True, dtype=float),
            pd.get_dummies(d["quarter"], prefix="q", drop_first=True, dtype=float),
        ],
        axis=1,
    )
    groups = pd.factorize(d["repo"])[0]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fit = Logit(d[outcome].astype(float).to_numpy(), exog).fit(
                disp=0, maxiter=300, cov_type="cluster", cov_kwds={"groups": groups}
            )
        except Exception as exc:  # a failed fit is a reported result, not a crash
            out["warnings"] = f"fit failed: {type(exc).__name__}: {exc}"
            return out
    beta, se = float(fit.params["is_ai"]), float(fit.bse["is_ai"])
    out.update(
        {
            "or": float(np.exp(beta)),
            "lo": float(np.exp(beta - 1.959964 * se)),
            "hi": float(np.exp(beta + 1.959964 * se)),
            "converged": bool(fit.mle_retvals.get("converged", False)),
            "warnings": "; ".join(sorted({str(w.message).split("\n")[0][:120] for w in caught})),
        }
    )
    return out


def layer_indicators(df: pd.DataFrame, column: str = "layer") -> pd.DataFrame:
    """One 0/1 column per layer (`is_<layer>`) from a layer column."""
    out = df.copy()
    for layer in LAYERS:
        out[f"is_{layer}"] = (out[column].astype(str) == layer).astype(int)
    return out


def primary_table(df: pd.DataFrame, n_boot: int = 1000, seed: int = 0) -> pd.DataFrame:
    """Per layer: the primary MH odds ratio (same era, repo x quarter) and the raw shares."""
    era = layer_indicators(add_period(same_era(df)))
    rows = []
    for layer in LAYERS:
        res = stratified_or(era, f"is_{layer}", PRIMARY_STRATA, n_boot, seed)
        rows.append(
            {
                "layer": layer,
                "share_ai": float(era.loc[era["is_ai"] == 1, f"is_{layer}"].mean()),
                "share_human": float(era.loc[era["is_ai"] == 0, f"is_{layer}"].mean()),
                **res,
            }
        )
    return pd.DataFrame(rows)


DEBATABLE_AUTOMATION = ("release-version",)
"""Automation entries whose commits a sensitivity row puts back into the human group."""


def _variants(
    df: pd.DataFrame, with_debatable: pd.DataFrame | None = None
) -> list[tuple[str, pd.DataFrame, Sequence[str], str]]:
    """The plan's sensitivity rows: (name, population, strata, outcome column)."""
    era = add_period(same_era(df))
    whole = add_period(df)
    rows: list[tuple[str, pd.DataFrame, Sequence[str], str]] = [
        ("primary: same era, repository x quarter", era, PRIMARY_STRATA, "layer"),
        ("whole history, repository x quarter", whole, PRIMARY_STRATA, "layer"),
        ("same era, within size band and integration mode", era, SIZE_STRATA, "layer"),
    ]
    if "layer_diff_only" in df.columns and df["layer_diff_only"].notna().any():
        rows.append(
            ("diff-only classifier (no message features)", era, PRIMARY_STRATA, "layer_diff_only")
        )
    for channel in sorted(df.loc[df["is_ai"] == 1, "channel"].dropna().unique()):
        keep = (era["is_ai"] == 0) | (era["channel"] == channel)
        if (era.loc[keep, "is_ai"] == 1).sum() >= 20:
            rows.append((f"channel: {channel} only", era[keep], PRIMARY_STRATA, "layer"))
    if "role" in df.columns:
        rows.append(
            (
                "study repositories only (no controls)",
                era[era["role"] != "control"],
                PRIMARY_STRATA,
                "layer",
            )
        )
    if "scripted" in df.columns:
        keep = ~(era["scripted"].fillna(False).astype(bool) & (era["is_ai"] == 0))
        rows.append(
            ("scripted chores dropped from the human group", era[keep], PRIMARY_STRATA, "layer")
        )
    if with_debatable is not None and len(with_debatable) > len(df):
        rows.append(
            (
                f"{', '.join(DEBATABLE_AUTOMATION)} commits counted as human",
                add_period(same_era(with_debatable)),
                PRIMARY_STRATA,
                "layer",
            )
        )
    return rows


def sensitivity_table(
    df: pd.DataFrame, n_boot: int = 1000, seed: int = 0, with_debatable: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The architectural odds ratio under every pre-specified variant (plus structural events).

    `with_debatable`: the population with the debatable automation entries counted as human.
    """
    rows = []
    for name, pop, strata, column in _variants(df, with_debatable):
        d = pop.assign(_y=(pop[column].astype(str) == "architectural").astype(int))
        rows.append(
            {
                "analysis": name,
                "outcome": "architectural layer",
                **stratified_or(d, "_y", strata, n_boot, seed),
            }
        )
    if "any_event" in df.columns and df["any_event"].notna().any():
        era = add_period(same_era(df))
        era = era[era["any_event"].notna()]
        d = era.assign(_y=era["any_event"].astype(int))
        rows.append(
            {
                "analysis": "primary population, model-free outcome",
                "outcome": "any structural event",
                **stratified_or(d, "_y", PRIMARY_STRATA, n_boot, seed),
            }
        )
    return pd.DataFrame(rows)


def direction(lo: float, hi: float, null: float = 1.0) -> str:
    """The plan's decision rule for one interval: higher, lower, or not distinguishable."""
    if not (np.isfinite(lo) and np.isfinite(hi)):
        return "cannot be estimated"
    if hi < null:
        return "lower"
    if lo > null:
        return "higher"
    return "not distinguishable"


def hypothesis_verdict(arch_or: dict) -> str:
    """The plan's verdict on the hypothesis from the primary architectural odds ratio."""
    d = direction(arch_or["lo"], arch_or["hi"])
    return {"lower": "supported", "higher": "contradicted"}.get(d, "not decided")


def crude_or(
    df: pd.DataFrame, outcome: str, n_boot: int = 1000, seed: int = 0, level: float = 0.95
) -> dict:
    """The pooled (crude) odds ratio with a repository-cluster bootstrap interval: the cells are
    summed over repositories, so a resample of repositories is a weighted sum of their cells."""
    y = df[outcome].astype(int).to_numpy()
    x = df["is_ai"].astype(int).to_numpy()
    cells = (
        pd.DataFrame(
            {
                "repo": df["repo"].to_numpy(),
                "a": (x == 1) & (y == 1),
                "b": (x == 1) & (y == 0),
                "c": (x == 0) & (y == 1),
                "d": (x == 0) & (y == 0),
            }
        )
        .groupby("repo")[["a", "b", "c", "d"]]
        .sum()
    )
    arr = cells.to_numpy(float)
    tot = arr.sum(axis=0)
    out = {
        "or": np.nan,
        "lo": np.nan,
        "hi": np.nan,
        "n": int(tot.sum()),
        "n_strata": 1,
        "n_repos": len(cells),
    }
    if tot[1] * tot[2] == 0 or tot[0] * tot[3] == 0:
        return out
    out["or"] = float(tot[0] * tot[3] / (tot[1] * tot[2]))
    if len(cells) >= MIN_REPOS:
        rng = np.random.default_rng(seed)
        k = len(cells)
        w = rng.multinomial(k, np.full(k, 1 / k), size=n_boot).astype(float) @ arr
        with np.errstate(divide="ignore", invalid="ignore"):
            draws = w[:, 0] * w[:, 3] / (w[:, 1] * w[:, 2])
        draws = np.where(np.isfinite(draws) & (draws > 0), draws, np.nan)
        lo, hi = percentile_ci(np.log(draws), level)
        out["lo"], out["hi"] = float(np.exp(lo)), float(np.exp(hi))
    return out


def pooled_or(
    df: pd.DataFrame, outcome: str, strata: Sequence[str], n_boot: int = 1000, seed: int = 0
) -> dict:
    """Every pooled odds ratio of the study: crude without strata, else Mantel-Haenszel over
    strata nested in repositories; repository-cluster bootstrap intervals either way."""
    if not strata:
        return crude_or(df, outcome, n_boot, seed)
    return stratified_or(df, outcome, tuple(strata), n_boot, seed)
