"""Held-out checks: frozen predictions scored on a later round's labels, with that round's own
weights, and refused with one line when a labelled commit has no prediction."""

from __future__ import annotations

import pandas as pd
import pytest

from mining import classify, heldout
from mining.errors import StageError

LAYER_OF = {"1": "feature", "2": "boilerplate", "3": "architectural", "4": "refactor"}


def _labels() -> pd.DataFrame:
    """Round 5: every layer once in repository r/a (AI commits) and once in r/b (human); the
    architectural commit of r/b has pi 0.1, the others 0.5. One round-4 commit is not scored."""
    rows = [
        (repo, f"{repo[-1]}{k}", layer, "5", "0.1" if (repo, k) == ("r/b", "3") else "0.5", "0")
        for repo in ("r/a", "r/b")
        for k, layer in LAYER_OF.items()
    ]
    rows.append(("r/c", "c1", "feature", "4", "0", "0.2"))
    return pd.DataFrame(rows, columns=["repo", "sha", "layer", "round", "pi_r5", "pi_r4"]).assign(
        pi="0.9"  # the union over rounds: must not be the check's weight
    )


def _write(folder, preds: list[tuple[str, str, str, str]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(preds, columns=["repo", "sha", "model", "layer"]).to_csv(
        folder / "round5_frozen_predictions.csv", index=False
    )


def test_scores_each_model_with_the_rounds_own_weights(tmp_path):
    folder = tmp_path / "heldout"
    truth = [(r, f"{r[-1]}{k}", lay) for r in ("r/a", "r/b") for k, lay in LAYER_OF.items()]
    perfect = [(r, s, "full", lay) for r, s, lay in truth]
    one_miss = [(r, s, "diff-only", "feature" if s == "b3" else lay) for r, s, lay in truth]
    _write(folder, perfect + one_miss)
    ai = pd.DataFrame({"repo": [r for r, _, _ in truth], "sha": [s for _, s, _ in truth]})
    ai["ai"] = ai["repo"].eq("r/a")

    out = heldout.heldout_checks(_labels(), ai, folder)

    assert list(out) == ["round5"]
    full, diff = out["round5"]["models"]["full"], out["round5"]["models"]["diff-only"]
    assert full["n"] == 8 and full["repositories"] == 2 and full["n_ai"] == 4
    assert full["macro_f1"] == pytest.approx(1.0)
    assert full["standardised_accuracy_gap_ai_minus_human"] == pytest.approx(0.0)
    assert full["standardised_accuracy_gap_ci"] == [0.0, 0.0]  # perfect on every draw
    # the paired drop: the full model is never worse than diff-only on a draw of repositories
    assert full["diff_only_macro_f1_drop"] == pytest.approx(1.0 - diff["macro_f1"], abs=1e-4)
    assert 0 <= full["diff_only_macro_f1_drop_ci"][0] <= full["diff_only_macro_f1_drop_ci"][1]
    # the missed architectural commit has pi 0.1, so it weighs 5 times each of the others
    y = pd.Series([lay for _, _, lay in truth]).to_numpy(object)
    pred = pd.Series([lay for _, _, _, lay in one_miss]).to_numpy(object)
    w = 1 / pd.Series([0.1 if s == "b3" else 0.5 for _, s, _ in truth]).to_numpy()
    w = w * len(w) / w.sum()
    assert diff["macro_f1"] == pytest.approx(classify.weighted_macro_f1(y, pred, w), abs=1e-4)
    assert diff["accuracy"] == pytest.approx(7 / 12, abs=1e-4)  # 7 of 12 weight units right
    # the miss is a human commit: the human group's architectural recall is 0, the AI group's 1
    assert diff["standardised_accuracy_ai"] == pytest.approx(1.0)
    assert diff["standardised_accuracy_gap_ai_minus_human"] > 0


def test_a_labelled_commit_without_prediction_is_named(tmp_path):
    folder = tmp_path / "heldout"
    _write(folder, [("r/a", "a1", "full", "feature"), ("r/a", "a2", "full", "boilerplate")])
    with pytest.raises(StageError, match=r"round5_frozen_predictions\.csv: model 'full' has no "):
        heldout.heldout_checks(_labels(), None, folder)


def test_no_folder_or_no_labels_of_the_round_means_no_check(tmp_path):
    assert heldout.heldout_checks(_labels(), None, tmp_path / "absent") == {}
    folder = tmp_path / "heldout"
    _write(folder, [("r/a", "a1", "full", "feature")])
    labels = _labels()
    assert heldout.heldout_checks(labels[labels["round"] == "4"], None, folder) == {}


def _standing(folder, rows: list[tuple[str, str, str, float, bool]]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows, columns=["repo", "sha", "layer", "pi", "ai"]).to_csv(
        folder / "round8_labels.csv", index=False
    )


def test_a_standing_round_is_scored_from_its_own_labels_and_ai_status(tmp_path):
    folder = tmp_path / "heldout"
    truth = [("s/a", "x1", "feature", 0.5, True), ("s/a", "x2", "boilerplate", 0.5, True)]
    truth += [("s/b", "y1", "feature", 0.5, False), ("s/b", "y2", "boilerplate", 0.25, False)]
    _standing(folder, truth)
    # the model misses one AI commit only: the gap must come from the standing file's ai column
    preds = [(r, s, "full", "feature" if s == "x2" else lay) for r, s, lay, _, _ in truth]
    pd.DataFrame(preds, columns=["repo", "sha", "model", "layer"]).to_csv(
        folder / "round8_frozen_predictions.csv", index=False
    )

    out = heldout.heldout_checks(_labels(), None, folder)

    assert list(out) == ["round8"] and out["round8"]["standing"] is True
    full = out["round8"]["models"]["full"]
    assert full["n"] == 4 and full["n_ai"] == 2
    assert full["standardised_accuracy_human"] == pytest.approx(1.0)
    assert full["standardised_accuracy_gap_ai_minus_human"] < 0
    # y2 has pi 0.25, so weighs twice each of the others: 5 weight units in all, 4 of them right
    assert full["accuracy"] == pytest.approx(4 / 5, abs=1e-4)


def test_a_standing_round_that_was_trained_on_is_refused(tmp_path):
    folder = tmp_path / "heldout"
    _standing(folder, [("r/a", "a1", "feature", 0.5, True)])
    with pytest.raises(StageError, match=r"round8_labels\.csv: a standing held-out round, but 1 "):
        heldout.heldout_checks(_labels(), None, folder)


def test_standing_rounds_of_one_frozen_model_pool_into_one_set(tmp_path):
    folder = tmp_path / "heldout"
    folder.mkdir()
    for rnd, repo, miss in ((8, "s/a", False), (9, "s/b", True)):
        rows = pd.DataFrame(
            {"repo": repo, "sha": [f"{rnd}1", f"{rnd}2"], "layer": ["feature", "refactor"]}
        ).assign(pi=0.5, ai=[True, False])
        rows.to_csv(folder / f"round{rnd}_labels.csv", index=False)
        preds = rows.assign(model="full", layer=["feature", "feature" if miss else "refactor"])
        preds.to_csv(folder / f"round{rnd}_frozen_predictions.csv", index=False)
        (folder / f"round{rnd}_frozen_models.json").write_text('{"full": {"version": "4.x"}}')

    pool = heldout.standing_pool(folder)

    assert pool["rounds"] == [8, 9]
    full = pool["models"]["full"]
    assert full["n"] == 4 and full["repositories"] == 2 and full["accuracy"] == 0.75
    assert full["frozen_model"]["version"] == "4.x"
    # another model frozen for round 9: two models' errors are not one set's
    (folder / "round9_frozen_models.json").write_text('{"full": {"version": "5.y"}}')
    assert heldout.standing_pool(folder) == {}


def test_a_standing_file_without_its_weights_or_ai_status_is_named(tmp_path):
    folder = tmp_path / "heldout"
    folder.mkdir()
    pd.DataFrame({"repo": ["s/a"], "sha": ["x1"], "layer": ["feature"], "pi": [0.5]}).to_csv(
        folder / "round8_labels.csv", index=False
    )
    with pytest.raises(StageError, match=r"round8_labels\.csv: needs columns ai, layer, pi, "):
        heldout.heldout_checks(_labels(), None, folder)
    pd.DataFrame(
        {"repo": ["s/a"], "sha": ["x1"], "layer": ["feature"], "pi": [0.0], "ai": [True]}
    ).to_csv(folder / "round8_labels.csv", index=False)
    with pytest.raises(StageError, match=r"round8_labels\.csv: needs a positive pi"):
        heldout.heldout_checks(_labels(), None, folder)
