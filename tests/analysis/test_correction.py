"""Classifier-error correction recovers the true layer shares that the misclassification hid."""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis import LAYERS, correction, dataset
from tests.analysis.synthetic import MISCLASSIFICATION


def test_inversion_is_exact_on_a_known_matrix() -> None:
    p = np.array([0.1, 0.2, 0.3, 0.4])
    q = p @ MISCLASSIFICATION
    np.testing.assert_allclose(correction.invert(q, MISCLASSIFICATION), p)


def test_rogan_gladen_is_exact_when_other_layers_share_one_error_rate() -> None:
    # symmetric errors: specificity is the same whatever the true mix of the other layers
    m = np.full((4, 4), 0.05) + np.eye(4) * 0.8
    counts = m * 1000
    p = np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(correction.rogan_gladen(p @ m, counts), p, atol=1e-12)


def test_corrected_cis_cover_the_true_shares(noisy) -> None:
    df = noisy.commits()
    ev = dataset.load_evaluation(noisy.evaluation, noisy.oof)
    result = correction.corrected_shares(df, ev, n_boot=300, seed=3)
    assert set(result["method"]) == {"raw", "inverse", "rogan_gladen", "inverse_by_group"}
    for group in ("human", "ai"):
        truth = noisy.truth.true_shares[group]
        for method in ("inverse", "rogan_gladen"):
            g = (
                result[(result["method"] == method) & (result["group"] == group)]
                .set_index("layer")
                .reindex(list(LAYERS))
            )
            assert ((g["lo"] <= truth) & (truth <= g["hi"])).all(), (method, group, g, truth)
    # the raw architectural share is inflated by errors from the larger layers; correction moves it back
    raw = result[
        (result["method"] == "raw")
        & (result["group"] == "human")
        & (result["layer"] == "architectural")
    ]
    inv = result[
        (result["method"] == "inverse")
        & (result["group"] == "human")
        & (result["layer"] == "architectural")
    ]
    true_arch = noisy.truth.true_shares["human"][3]
    assert abs(inv["share"].iloc[0] - true_arch) < abs(raw["share"].iloc[0] - true_arch)


def test_without_oof_the_matrix_rows_are_resampled(noisy) -> None:
    ev = dataset.load_evaluation(noisy.evaluation)
    assert ev is not None and ev.oof is None
    draws = correction.labelled_draws(ev, 200, 0)
    np.testing.assert_array_equal(draws.sum(axis=2)[0], ev.confusion.sum(axis=1))
    assert draws.std(axis=0).sum() > 0


def test_missing_evaluation_gives_raw_only(noisy) -> None:
    result = correction.corrected_shares(noisy.commits(), None, n_boot=50)
    assert set(result["method"]) == {"raw"}


def test_accuracy_by_group_from_the_evaluation(noisy) -> None:
    ev = dataset.load_evaluation(noisy.evaluation)
    acc = correction.accuracy_by_group(ev, noisy.commits()).set_index("group")
    assert set(acc.index) == {"ai", "human"}
    assert 0.6 < acc.loc["ai", "accuracy"] < 0.95


def test_weighted_matrices_count_their_commits_rounded() -> None:
    # evaluate's 1/pi-weighted matrices are rescaled to n: fractional counts, a sum a hair short
    rng = np.random.default_rng(3)
    weighted = rng.uniform(1, 300, size=(4, 4))
    weighted *= 1395 / weighted.sum() * (1 - 1e-12)
    assert weighted.sum() < 1395
    ev = dataset.Evaluation(
        labels=tuple(LAYERS),
        confusion=weighted,
        oof=None,
        source="test",
        by_group={"ai": weighted, "human": weighted * 2},
    )
    draws = correction.labelled_draws(ev, 50, 0)
    np.testing.assert_array_equal(draws.sum(axis=2)[0], np.round(weighted.sum(axis=1)))
    acc = correction.accuracy_by_group(ev, pd.DataFrame()).set_index("group")
    assert acc.loc["ai", "n"] == 1395 and acc.loc["human", "n"] == 2790
