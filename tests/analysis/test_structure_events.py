"""AI vs human event rates: the cluster-bootstrap intervals find a planted effect and no phantom one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis import structure_events as se
from mining.structure import AGGREGATES, EVENTS


def _synthetic(ai_factor: float, seed: int, n_repos: int = 30, per_repo: int = 300) -> pd.DataFrame:
    """Commits in repositories with their own base rates; AI commits have each event with
    probability `ai_factor` x the repository's human probability; churn independent of group."""
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_repos):
        base = rng.uniform(0.02, 0.12, size=len(EVENTS))
        ai = rng.random(per_repo) < 0.3
        p = np.where(ai[:, None], np.clip(base * ai_factor, 0, 1), base)
        hits = rng.random((per_repo, len(EVENTS))) < p
        frame = pd.DataFrame(hits, columns=list(EVENTS))
        frame["repo"] = f"r{r}"
        frame["group"] = np.where(ai, "ai", "human")
        frame["churn"] = rng.integers(1, 400, size=per_repo).astype(float)
        rows.append(frame)
    df = pd.concat(rows, ignore_index=True)
    for name, members in AGGREGATES.items():
        df[name] = df[list(members)].any(axis=1)
    return df


def test_planted_doubling_is_found_per_commit_and_per_line() -> None:
    rates = se.event_rates(_synthetic(2.0, seed=3), n_boot=300, seed=1)
    for measure in ("per_commit", "per_kloc"):
        sub = rates[(rates["measure"] == measure) & rates["outcome"].isin(EVENTS)]
        assert (sub["ratio_lo"] > 1.0).all(), sub[["outcome", "ratio", "ratio_lo"]]
        assert ((sub["ratio_lo"] <= 2.0) & (2.0 <= sub["ratio_hi"])).mean() >= 0.7
        assert (sub["diff_lo"] > 0).all()


def test_no_effect_gives_intervals_around_one() -> None:
    rates = se.event_rates(_synthetic(1.0, seed=5), n_boot=300, seed=2)
    sub = rates[rates["measure"] == "per_commit"]
    covered = (sub["ratio_lo"] <= 1.0) & (1.0 <= sub["ratio_hi"])
    assert covered.mean() >= 0.75  # 9 intervals at 95%: most cover the null
    assert (sub["ai_lo"] <= sub["ai"]).all() and (sub["ai"] <= sub["ai_hi"]).all()


def test_rates_are_pooled_counts_over_commits_and_lines() -> None:
    df = _synthetic(1.5, seed=7, n_repos=5, per_repo=50)
    rates = se.event_rates(df, n_boot=50, seed=0).set_index(["outcome", "measure"])
    ai = df[df["group"] == "ai"]
    event = EVENTS[0]
    assert rates.loc[(event, "per_commit"), "ai"] == pytest.approx(ai[event].mean())
    assert rates.loc[(event, "per_kloc"), "ai"] == pytest.approx(
        1000 * ai[event].sum() / ai["churn"].sum()
    )
    assert rates.loc[(event, "per_commit"), "n_ai"] == len(ai)


def test_fig10_draws_every_event_beside_the_layer_readably(tmp_path) -> None:
    from analysis import figure_checks, figures, style

    df = _synthetic(2.0, seed=1, n_repos=12, per_repo=80)
    df["quarter"] = "2025Q1"
    odds = se.event_odds(df, n_boot=50, seed=0)
    layer = {"or": 1.2, "lo": 0.9, "hi": 1.6, "n": 900, "n_repos": 12}
    with style.keep_open() as kept:
        paths = figures.fig10_structure_events(odds, layer, tmp_path, formats=("png",))
        ((_, fig),) = kept
        assert figure_checks.all_problems(fig) == []
    table = pd.read_csv(tmp_path / "fig10-structure-events.csv")
    assert len(table) == len(odds) + 1 and table["outcome"].iloc[0].startswith(
        "architectural (classifier)"
    )
    assert any(p.suffix == ".png" for p in paths)


def test_odds_ratio_within_strata_finds_the_effect_and_matches_mantel_haenszel() -> None:
    from analysis.stats import mantel_haenszel

    df = _synthetic(2.0, seed=11)
    df["quarter"] = np.where(df.index % 2 == 0, "2025Q1", "2025Q2")
    odds = se.event_odds(df, n_boot=200, seed=0).set_index("outcome")
    assert (odds.loc[list(EVENTS), "lo"] > 1.0).all()
    assert ((odds["lo"] <= odds["or"]) & (odds["or"] <= odds["hi"])).all()
    event = EVENTS[2]
    ref = mantel_haenszel(
        df.assign(x=(df["group"] == "ai").astype(int), y=df[event].astype(int)),
        "x",
        "y",
        ["repo", "quarter"],
    )
    assert odds.loc[event, "or"] == pytest.approx(ref["or"])
    null = _synthetic(1.0, seed=12).assign(quarter="2025Q1")
    null_odds = se.event_odds(null, n_boot=200, seed=1)
    assert ((null_odds["lo"] <= 1.0) & (1.0 <= null_odds["hi"])).mean() >= 0.75
