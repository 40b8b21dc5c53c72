"""Odds-ratio models must recover the planted architectural odds ratio with CIs covering it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import models

from .conftest import PLANTED_OR


def test_fixed_and_random_effects_recover_planted_or(clean) -> None:
    result = models.architectural_models(clean.commits())
    assert list(result["model"]) == ["repo fixed effects", "repo random intercepts"]
    for row in result.itertuples():
        assert row.lo <= PLANTED_OR <= row.hi, row
        assert row.hi < 1, row  # the planted effect is detected, not only covered


def test_random_intercepts_subsample_keeps_the_answer(clean) -> None:
    df = clean.commits()
    row = models.random_intercept_logit(df, max_rows=2500)
    assert row["n"] == 2500 and "sample" in row["note"]
    assert row["lo"] <= PLANTED_OR <= row["hi"]


def test_multinomial_architectural_vs_feature_is_the_planted_ratio(clean) -> None:
    # only the architectural logit depends on AI, so its relative-risk ratio vs feature is the planted OR
    result = models.multinomial_logit(clean.commits()).set_index("outcome")
    row = result.loc["architectural vs feature"]
    assert row["lo"] <= PLANTED_OR <= row["hi"]
    for other in ("boilerplate vs feature", "refactor vs feature"):
        assert result.loc[other, "lo"] <= 1 <= result.loc[other, "hi"]


def test_layer_models_one_row_per_layer(clean) -> None:
    result = models.layer_models(clean.commits())
    assert list(result["outcome"]) == ["boilerplate", "refactor", "feature", "architectural"]
    assert result.set_index("outcome").loc["architectural", "hi"] < 1


def test_per_repo_odds_ratios_and_pool(clean) -> None:
    result = models.per_repo_odds_ratios(clean.commits(), min_ai=5)
    pooled = result.iloc[-1]
    assert pooled["repo"].startswith("pooled")
    assert pooled["lo"] <= PLANTED_OR <= pooled["hi"]
    assert (result["lo"] <= result["or"]).all() and (result["or"] <= result["hi"]).all()


def test_no_ai_gives_an_empty_row_not_an_error() -> None:
    rng = np.random.default_rng(0)
    df = pd.DataFrame(
        {
            "repo": rng.choice(["a", "b"], 200),
            "is_ai": 0,
            "arch": rng.integers(0, 2, 200),
            "log_churn": rng.normal(3, 1, 200),
            "years": rng.uniform(2, 5, 200),
            "language": "go",
        }
    )
    row = models.fixed_effects_logit(df)
    assert np.isnan(row["or"]) and row["note"]
    assert np.isnan(models.random_intercept_logit(df)["or"])
