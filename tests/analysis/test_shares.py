"""Layer shares with repo-cluster bootstrap CIs must cover the planted population shares."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import LAYERS, shares


def _grid(frame: pd.DataFrame, group: str, col: str = "group") -> pd.DataFrame:
    return frame[frame[col] == group].set_index("layer").reindex(list(LAYERS))


def test_shares_cover_expected_shares(noisy) -> None:
    df = noisy.commits()
    result = shares.layer_shares(df, n_boot=300, seed=1)
    for group in ("human", "ai"):
        g = _grid(result, group)
        truth = noisy.truth.expected_observed_shares[group]
        assert np.isclose(g["share"].sum(), 1)
        assert ((g["lo"] <= truth) & (truth <= g["hi"])).all(), (group, g, truth)
        assert (g["lo"] <= g["share"]).all() and (g["share"] <= g["hi"]).all()


def test_difference_ci_covers_expected_difference(noisy) -> None:
    df = noisy.commits()
    diff = shares.share_differences(df, n_boot=300, seed=2).set_index("layer").reindex(list(LAYERS))
    truth = (
        noisy.truth.expected_observed_shares["ai"] - noisy.truth.expected_observed_shares["human"]
    )
    assert ((diff["lo"] <= truth) & (truth <= diff["hi"])).all()
    np.testing.assert_allclose(diff["diff"].sum(), 0, atol=1e-12)


def _frame(rows: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    out = [{"repo": r, "group": g, "layer": layer} for r, g, layer, n in rows for _ in range(n)]
    return pd.DataFrame(out)


def test_shares_exact_on_a_small_table_and_chi_square() -> None:
    df = _frame(
        [
            ("a", "ai", "boilerplate", 30),
            ("a", "ai", "architectural", 10),
            ("a", "human", "boilerplate", 10),
            ("a", "human", "architectural", 30),
            ("b", "ai", "boilerplate", 30),
            ("b", "human", "feature", 20),
        ]
    )
    result = shares.layer_shares(df, n_boot=50)
    ai = _grid(result, "ai")
    assert ai.loc["boilerplate", "share"] == 60 / 70 and ai.loc["refactor", "n"] == 0
    chi = shares.chi_square(df)
    assert chi["p"] < 1e-6 and 0.5 < chi["cramers_v"] <= 1
    none = shares.chi_square(
        _frame(
            [
                ("a", "ai", "feature", 5),
                ("a", "human", "feature", 5),
                ("a", "ai", "refactor", 5),
                ("a", "human", "refactor", 5),
            ]
        )
    )
    assert none["chi2"] == 0 and none["cramers_v"] == 0


def test_tool_and_channel_shares_pool_rare_values(noisy) -> None:
    df = noisy.commits()
    tools = shares.tool_shares(df, n_boot=50, min_n=20)
    assert "human" in set(tools["tool"])
    assert (tools.groupby("tool")["total"].first().drop("human") >= 20).all() or "other" in set(
        tools["tool"]
    )
    channels = shares.channel_shares(df, n_boot=50, min_n=10_000)
    assert set(channels["channel"]) == {"human", "other"}
