"""Per-channel results and bounds on the difference under assumed detection recall."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import sensitivity


def _frame(n_ai: int, k_ai: int, n_h: int, k_h: int) -> pd.DataFrame:
    layer = (
        ["architectural"] * k_ai
        + ["feature"] * (n_ai - k_ai)
        + ["architectural"] * k_h
        + ["feature"] * (n_h - k_h)
    )
    return pd.DataFrame({"layer": layer, "is_ai": [1] * n_ai + [0] * n_h})


def test_recall_bounds_by_hand() -> None:
    df = _frame(100, 10, 900, 180)  # AI 10% architectural, human 20%
    b = sensitivity.recall_bounds(df, recalls=(1.0, 0.5)).set_index("recall")
    assert b.loc[1.0, "diff_detected"] == -0.10
    assert b.loc[1.0, "diff_min"] == b.loc[1.0, "diff_max"] == -0.10
    # recall 0.5: 100 undetected AI commits among the 900 "human" ones
    assert b.loc[0.5, "n_undetected"] == 100
    # alike: they are 10% architectural -> human becomes (180 - 10) / 800
    np.testing.assert_allclose(b.loc[0.5, "diff_if_alike"], 20 / 200 - 170 / 800)
    np.testing.assert_allclose(b.loc[0.5, "diff_min"], 10 / 200 - 180 / 800)  # none architectural
    np.testing.assert_allclose(b.loc[0.5, "diff_max"], 110 / 200 - 80 / 800)  # all architectural


def test_recall_bounds_with_one_group_empty_are_undefined_not_an_error() -> None:
    """A history with only AI commits (or none) has no difference to bound (it divided by 0)."""
    for n_ai, k_ai, n_h, k_h, note in (
        (0, 0, 5, 1, "no AI commits"),
        (4, 1, 0, 0, "no human commits"),
    ):
        b = sensitivity.recall_bounds(_frame(n_ai, k_ai, n_h, k_h), recalls=(1.0, 0.5))
        assert len(b) == 2 and (b["note"] == note).all()
        assert b[["diff_detected", "diff_if_alike", "diff_min", "diff_max"]].isna().all().all()


def test_bounds_open_up_below_full_recall(noisy) -> None:
    b = sensitivity.recall_bounds(noisy.commits(), recalls=(1.0, 0.5, 0.25))
    width = (b["diff_max"] - b["diff_min"]).to_numpy()
    assert width[0] == 0 and (width[1:] > 0.1).all()
    assert ((b["diff_min"] <= b["diff_if_alike"]) & (b["diff_if_alike"] <= b["diff_max"])).all()


def test_channel_odds_ratios(clean) -> None:
    result = sensitivity.channel_odds_ratios(clean.commits(), min_n=20).set_index("channel")
    assert {"all AI", "direct evidence only", "co-author"} <= set(result.index)
    assert result.loc["all AI", "n_ai"] == clean.commits()["is_ai"].sum()
    assert result.loc["all AI", "lo"] <= 0.5 <= result.loc["all AI", "hi"]
