"""Like with like: the integration-mode confound, and Mantel-Haenszel pooling over strata."""

from __future__ import annotations

import numpy as np
import pandas as pd
from statsmodels.stats.contingency_tables import StratifiedTable

from analysis import units
from analysis.stats import mantel_haenszel

from .conftest import PLANTED_OR


def test_ai_arrives_more_often_as_squash_prs(clean) -> None:
    mix = units.mode_mix(clean.commits()).set_index(["group", "integration_mode"])["share"]
    assert mix[("ai", "squash_pr")] > mix[("human", "squash_pr")] + 0.15


def test_holding_mode_and_size_fixed_recovers_the_planted_or(clean) -> None:
    moves = units.how_the_answer_moves(clean.commits()).set_index("adjustment")
    full = moves.loc["repo x mode x size band"]
    assert full["lo"] <= PLANTED_OR <= full["hi"]
    # larger squash PRs are more often architectural, so the crude ratio is pulled towards 1
    assert moves.loc["none (crude)", "or"] > full["or"]


def test_mantel_haenszel_matches_statsmodels() -> None:
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"s": rng.integers(0, 5, 2000), "x": rng.integers(0, 2, 2000)})
    df["y"] = (rng.random(2000) < 0.2 + 0.1 * df["x"] + 0.05 * df["s"]).astype(int)
    ours = mantel_haenszel(df, "x", "y", ["s"])
    tables = [
        np.array(
            [
                [((g.x == 1) & (g.y == 1)).sum(), ((g.x == 1) & (g.y == 0)).sum()],
                [((g.x == 0) & (g.y == 1)).sum(), ((g.x == 0) & (g.y == 0)).sum()],
            ]
        )
        for _, g in df.groupby("s")
    ]
    ref = StratifiedTable(tables)
    np.testing.assert_allclose(ours["or"], ref.oddsratio_pooled)
    lo, hi = ref.oddsratio_pooled_confint()
    np.testing.assert_allclose([ours["lo"], ours["hi"]], [lo, hi], rtol=1e-6)


def test_strata_table_and_by_mode(clean) -> None:
    df = clean.commits()
    table = units.strata_table(df)
    assert table["n_ai"].sum() == df["is_ai"].sum()
    assert table["n_human"].sum() == (df["is_ai"] == 0).sum()
    modes = units.by_mode(df)
    assert set(modes["integration_mode"]) == {"squash_pr", "merged_branch", "direct"}
