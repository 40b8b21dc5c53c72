"""The pre-specified primary analysis and the EM error correction, on data with planted effects."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import LAYERS
from analysis.correction import em_corrected_shares, em_shares
from analysis.primary import (
    MIN_REPOS,
    direction,
    hypothesis_verdict,
    primary_table,
    same_era,
    sensitivity_table,
    stratified_or,
)


def _commits(
    n_repos: int = 12, per_repo: int = 600, true_or: float = 0.5, seed: int = 1
) -> pd.DataFrame:
    """Commits where the architectural odds are `true_or` times lower for AI within repo x quarter,
    while the old era (human only) has many more architectural commits: a crude comparison is
    confounded by era, a stratified one is not."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_repos):
        base = rng.normal(-2.2, 0.4)
        months = pd.date_range("2021-01-01", "2025-12-01", freq="MS")
        for _ in range(per_repo):
            month = months[rng.integers(len(months))]
            recent = month >= pd.Timestamp("2024-01-01")
            is_ai = int(recent and rng.random() < 0.4)
            logit = base + (1.2 if not recent else 0.0) + np.log(true_or) * is_ai
            arch = rng.random() < 1 / (1 + np.exp(-logit))
            other = rng.choice(["boilerplate", "refactor", "feature"], p=[0.3, 0.15, 0.55])
            rows.append(
                {
                    "repo": f"r{r}",
                    "month": month,
                    # spread over the month without drawing from rng (the planted data stay put)
                    "authored_at": (
                        month + pd.Timedelta(hours=len(rows) * 7 % (27 * 24))
                    ).tz_localize("UTC"),
                    "is_ai": is_ai,
                    "layer": "architectural" if arch else other,
                    "channel": ("co-author" if rng.random() < 0.5 else "identity")
                    if is_ai
                    else None,
                    "churn": float(rng.integers(1, 2000)),
                    "integration_mode": "direct",
                }
            )
    df = pd.DataFrame(rows)
    df["size_band"] = pd.cut(
        df["churn"], [0, 10, 100, 1000, np.inf], labels=["xs", "s", "m", "l"], right=False
    )
    df["arch"] = (df["layer"] == "architectural").astype(int)
    return df


def test_same_era_drops_history_before_first_ai_commit():
    """The plan's era: human commits at or after the repository's first AI commit (its time, not
    its month), every AI commit, nothing from repositories without AI."""
    df = _commits(n_repos=3, per_repo=200)
    df.loc[df["repo"] == "r2", "is_ai"] = 0
    era = same_era(df)
    first = df[df["is_ai"] == 1].groupby("repo")["authored_at"].min()
    assert (era["authored_at"] >= era["repo"].map(first)).all()
    assert era["is_ai"].sum() == df["is_ai"].sum() and "r2" not in set(era["repo"])
    same_month_before = (
        (df["is_ai"] == 0)
        & (
            df["month"]
            == df["repo"].map(first).dt.tz_convert(None).dt.to_period("M").dt.to_timestamp()
        )
        & (df["authored_at"] < df["repo"].map(first))
    )
    assert same_month_before.any() and not era.index.isin(df.index[same_month_before]).any()


def test_primary_recovers_planted_odds_ratio_where_crude_does_not():
    df = _commits()
    table = primary_table(df, n_boot=300, seed=0).set_index("layer")
    arch = table.loc["architectural"]
    assert arch["lo"] < 0.5 < arch["hi"] and arch["hi"] < 1
    assert arch["n_repos"] == 12 and "repository-cluster" in arch["interval"]
    crude = df.groupby("is_ai")["arch"].mean()
    crude_or = (crude[1] / (1 - crude[1])) / (crude[0] / (1 - crude[0]))
    assert crude_or < 0.4  # era confounding exaggerates the effect
    assert direction(arch["lo"], arch["hi"]) == "lower"
    assert hypothesis_verdict(arch.to_dict()) == "supported"


def test_no_effect_is_not_called_a_direction():
    df = _commits(true_or=1.0, seed=3)
    arch = primary_table(df, n_boot=300).set_index("layer").loc["architectural"]
    assert arch["lo"] < 1 < arch["hi"]
    assert hypothesis_verdict(arch.to_dict()) == "not decided"


@pytest.mark.parametrize("n_repos", [1, 2])
def test_few_repositories_get_a_commit_bootstrap_with_nonzero_width(n_repos):
    df = _commits(n_repos=n_repos, per_repo=1500)
    res = stratified_or(
        same_era(df).assign(quarter=lambda d: d["month"].dt.to_period("Q").astype(str)),
        "arch",
        n_boot=300,
    )
    assert n_repos < MIN_REPOS and "commit bootstrap" in res["interval"]
    assert res["lo"] < res["or"] < res["hi"] and res["hi"] - res["lo"] > 0.01


def test_sensitivity_rows_include_channels_and_size_estimand():
    df = _commits(n_repos=6, per_repo=400)
    table = sensitivity_table(df, n_boot=100)
    names = set(table["analysis"])
    assert "primary: same era, repository x quarter" in names
    assert "same era, within size band and integration mode" in names
    assert {"channel: co-author only", "channel: identity only"} <= names


def test_em_recovers_true_shares_and_stays_in_simplex():
    m = np.array(
        [
            [0.8, 0.1, 0.1, 0.0],
            [0.1, 0.6, 0.3, 0.0],
            [0.05, 0.05, 0.85, 0.05],
            [0.0, 0.05, 0.35, 0.6],
        ]
    )
    truth = np.array([0.3, 0.1, 0.55, 0.05])
    p, ok = em_shares(truth @ m * 100_000, m)
    assert ok and np.allclose(p, truth, atol=1e-4)
    # observed counts the model cannot produce with a positive architectural share
    q = np.array([0.31, 0.12, 0.57, 0.0]) * 10_000
    p, ok = em_shares(q, m)
    assert p.min() >= 0 and abs(p.sum() - 1) < 1e-9 and p[3] < 1e-3


def test_em_corrected_shares_with_group_matrices_and_weights():
    rng = np.random.default_rng(5)
    m_ai = np.array(
        [
            [0.7, 0.1, 0.2, 0.0],
            [0.1, 0.6, 0.3, 0.0],
            [0.05, 0.05, 0.85, 0.05],
            [0.0, 0.05, 0.25, 0.7],
        ]
    )
    m_h = np.array(
        [[0.9, 0.05, 0.05, 0.0], [0.1, 0.7, 0.2, 0.0], [0.1, 0.05, 0.8, 0.05], [0.0, 0.1, 0.3, 0.6]]
    )
    truth = {"ai": np.array([0.2, 0.1, 0.6, 0.1]), "human": np.array([0.35, 0.1, 0.5, 0.05])}
    mats = {"ai": m_ai, "human": m_h}
    corpus, labelled = [], []
    for r in range(10):
        for g in ("ai", "human"):
            true = rng.choice(4, 3000, p=truth[g])
            pred = np.array([rng.choice(4, p=mats[g][t]) for t in true])
            corpus += [{"repo": f"r{r}", "group": g, "layer": LAYERS[k]} for k in pred]
            idx = rng.choice(3000, 60, replace=False)
            labelled += [
                {
                    "repo": f"r{r}",
                    "group": g,
                    "true": LAYERS[true[i]],
                    "pred": LAYERS[pred[i]],
                    "weight": 50.0,
                }
                for i in idx
            ]
    out = em_corrected_shares(pd.DataFrame(corpus), pd.DataFrame(labelled), n_boot=100, seed=1)
    ai = out[(out["group"] == "ai")].set_index("layer")
    assert ai["lo"]["architectural"] <= 0.1 <= ai["hi"]["architectural"]
    diff = out[out["group"] == "ai - human"].set_index("layer")
    assert diff["lo"]["boilerplate"] <= -0.15 <= diff["hi"]["boilerplate"]
    assert out["converged"].all()


def test_debatable_automation_gets_its_own_sensitivity_row():
    df = _commits(n_repos=6, per_repo=300)
    extra = df[df["is_ai"] == 0].head(50).assign(layer="boilerplate")
    table = sensitivity_table(df, n_boot=50, with_debatable=pd.concat([df, extra]))
    row = table[table["analysis"].str.contains("counted as human")]
    assert len(row) == 1 and row["n"].iloc[0] > table["n"].iloc[0]
