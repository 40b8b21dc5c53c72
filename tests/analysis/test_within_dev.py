"""Within-developer comparison recovers the planted odds ratio from people with both kinds of commit."""

from __future__ import annotations

import numpy as np

from analysis import within_dev

from .conftest import PLANTED_OR


def test_developer_model_recovers_planted_or(clean) -> None:
    row = within_dev.conditional_logit(clean.commits())
    assert row["n_developers"] >= 10
    assert row["lo"] <= PLANTED_OR <= row["hi"] and row["hi"] < 1


def test_mixed_developers_have_both_kinds(clean) -> None:
    mixed = within_dev.mixed_developers(clean.commits(), min_each=2)
    counts = mixed.groupby("developer")["is_ai"].agg(["sum", "size"])
    assert (counts["sum"] >= 2).all() and ((counts["size"] - counts["sum"]) >= 2).all()
    assert (mixed["author_kind"] == "human").all()


def test_paired_differences_architectural_is_negative(clean) -> None:
    result = within_dev.paired_differences(clean.commits(), n_boot=200).set_index("layer")
    np.testing.assert_allclose(result["diff"].sum(), 0, atol=1e-9)
    assert result.loc["architectural", "hi"] < 0
    assert (result["lo"] <= result["diff"]).all() and (result["diff"] <= result["hi"]).all()
