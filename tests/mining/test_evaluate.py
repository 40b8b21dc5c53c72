"""`strata evaluate`: nested repository-grouped CV, 1/pi weights, OOF file, report and models.

Real git repositories built here carry the labelled commits; the nested CV runs with the
smallest fold counts (3 outer, 2 inner) so the suite stays fast on a loaded machine.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mining import classify, evaluate
from mining.classify import LAYERS
from mining.cli import app
from mining.errors import StageError
from mining.labels import LABEL_FEATURES, LABELS_CSV, OOF_PREDICTIONS
from tests.mining.labelled_repos import labelled_set


def test_weights_move_the_scores_to_the_population():
    y = np.array(["feature", "feature", "refactor", "refactor"], dtype=object)
    pred = np.array(["feature", "refactor", "refactor", "refactor"], dtype=object)
    plain = evaluate.scores(y, pred)
    heavy = evaluate.scores(y, pred, np.array([1.0, 9.0, 1.0, 1.0]))  # the miss stands for 9
    assert plain["accuracy"] == pytest.approx(0.75)
    assert heavy["accuracy"] == pytest.approx(3 / 12)
    assert heavy["confusion"]["counts_unweighted"] == plain["confusion"]["counts_unweighted"]
    assert np.sum(heavy["confusion"]["counts"]) == pytest.approx(4)  # rescaled to n


def test_standardised_accuracy_uses_the_pooled_mix():
    y = np.array(["feature"] * 3 + ["refactor"], dtype=object)
    pred = np.array(["feature"] * 3 + ["feature"], dtype=object)
    # recall 1 on feature, 0 on refactor; pooled mix half/half -> 0.5 (raw accuracy 0.75)
    assert (
        evaluate.standardised_accuracy(y, pred, np.ones(4), {"feature": 0.5, "refactor": 0.5})
        == 0.5
    )


def test_intervals_of_the_gap_and_the_drop_resample_whole_repositories():
    """In every repository the full model misses exactly the human architectural commit, and the
    diff-only model calls everything feature: whatever repositories a draw takes, the gap is
    the architectural share (AI 1, human 0.75) and the drop is positive."""
    rows = [
        (f"r{i}", f"{i}{lay}{who}", lay, who == "ai")
        for i in range(6)
        for lay in LAYERS
        for who in ("ai", "human")
    ]
    data = pd.DataFrame(rows, columns=["repo", "sha", "layer", "ai"]).assign(weight=1.0)
    miss = (data["layer"] == "architectural") & ~data["ai"]
    oof = data[["repo", "sha"]].assign(
        layer=np.where(miss, "feature", data["layer"]), layer_diff_only="feature"
    )

    out = evaluate.target_intervals(data, oof, data["ai"].to_numpy(bool), n_boot=200)

    assert out["ai_human_standardised_accuracy_gap"] == [0.25, 0.25]
    lo, hi = out["diff_only_macro_f1_drop"]
    assert 0 < lo <= hi
    # a statistic of the repositories drawn: never more distinct ones than there are
    draws = evaluate.repo_bootstrap(
        lambda t: float(data["repo"].iloc[t].nunique()), data["repo"].to_numpy(), n_boot=200
    )
    assert draws is not None and 1 <= draws[0] <= draws[1] <= 6


def test_bad_pi_and_bad_layer_are_named(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("repo,sha,layer,pi\nr,abc,feature,0\n")
    with pytest.raises(StageError, match="pi must be in"):
        evaluate.read_labels(p)
    p.write_text("repo,sha,layer\nr,abc,epic\n")
    with pytest.raises(StageError, match="epic"):
        evaluate.read_labels(p)
    p.write_text("repo,sha,layer\nr,abc,feature\n")
    assert evaluate.read_labels(p)["weight"].tolist() == [1.0]  # no pi column: weight 1


def test_every_choice_is_made_inside_grouped_training_folds(repo_builder, tmp_path, monkeypatch):
    labels_csv, repos_toml, labels = labelled_set(repo_builder, tmp_path / "l", n_repos=3, rounds=1)
    labels = evaluate.read_labels(labels_csv)
    mirrors = evaluate.mirror_paths(repos_toml)
    feats = evaluate.refresh_features(labels, mirrors, tmp_path / "f.parquet")
    from mining.text_features import labelled_texts

    texts = labelled_texts(labels, mirrors)
    seen = []
    real = classify.inner_probabilities

    def spy(X, y, w, groups, variant, n_splits, bases=classify.BASES):
        seen.append(set(groups))
        return real(X, y, w, groups, variant, n_splits, bases)

    monkeypatch.setattr(classify, "inner_probabilities", spy)
    report, oof = evaluate.evaluate(
        labels,
        feats,
        texts,
        None,
        n_splits=3,
        inner_splits=2,
        variants=("full",),
        learning_curve=False,
    )
    # one inner run per outer fold, each seeing only the two training repositories
    assert len(seen) == 3 and all(len(s) == 2 for s in seen)
    for fold in report["classifier"]["chosen_per_fold"]:
        assert not set(fold["test_repos"]) & seen[fold["fold"]]
        assert list(fold["inner_candidates"]) == classify.candidate_names()
    # the procedure and every comparison are scored on the same held-out repositories
    assert set(report["classifier"]["fixed_candidates"]) == set(classify.candidate_names())
    assert len(oof) == len(labels) and set(oof["fold"]) == {0, 1, 2}
    with pytest.raises(StageError, match=">= 3 repositories"):
        evaluate.evaluate(labels[labels["repo"] != "org/r0"], feats, texts, None, n_splits=3)


def test_cli_evaluate_writes_report_oof_doc_and_both_models(repo_builder, tmp_path):
    labels_csv, repos_toml, labels = labelled_set(repo_builder, tmp_path / "l", n_repos=3, rounds=2)
    ai = labels[["repo", "sha"]].assign(
        ai=(np.arange(len(labels)) // 2) % 2 == 0
    )  # every layer in both
    ai.to_csv(tmp_path / "ai.csv", index=False)
    tsv = tmp_path / "mirrors.tsv"
    tsv.write_text("".join(f"org/r{i}\t{tmp_path / f'r{i}'}\n" for i in range(3)))
    doc = tmp_path / "doc.md"
    doc.write_text(
        f"# x\n\n{evaluate.DOC_MARKERS[0]}\nSTALE-BLOCK\n{evaluate.DOC_MARKERS[1]}\ntail\n"
    )
    out, model, oof = tmp_path / "out", tmp_path / "model", tmp_path / "oof.csv"
    res = CliRunner().invoke(
        app,
        [
            "evaluate",
            "--labels",
            str(labels_csv),
            "--features",
            str(tmp_path / "f.parquet"),
            "--ai-status",
            str(tmp_path / "ai.csv"),
            "--mirrors",
            str(tsv),
            "--out",
            str(out),
            "--oof",
            str(oof),
            "--doc",
            str(doc),
            "--folds",
            "3",
            "--inner-folds",
            "2",
            "--train",
            "--model",
            str(model),
        ],
    )
    assert res.exit_code == 0, res.output
    assert "full: n=" in res.stdout and "diff-only: n=" in res.stdout
    report = json.loads((out / "evaluation.json").read_text())
    c = report["classifier"]
    assert report["cv"]["weights"] == "1/pi" and report["n_evaluated"] == len(labels)
    assert set(c["by_size_band"]) == {"<10", "10-99", "100-999", ">=1000"}
    assert set(c["by_language"]) == {"Python"} and set(c["by_stratum"]) == {"enrich", "srs"}
    outside = int(labels["repo"].eq("org/r2").sum())
    assert {k: g["n"] for k, g in c["by_round"].items()} == {
        "1": len(labels) - outside,
        "4": outside,
    }
    for group in ("ai", "human"):
        g = report["by_authorship"][group]
        assert np.array(g["confusion"]).shape == (4, 4) and g["standardised_accuracy"] is not None
    assert [p["fraction"] for p in c["learning_curve"]["vs_commits"]][-1] == 1.0
    assert set(report["variants"]) == {"full", "diff-only"}
    frame = pd.read_csv(oof)
    assert len(frame) == len(labels) and set(frame["true"]) <= set(LAYERS)
    assert {"fold", "layer", "pred", "layer_diff_only", *classify.PROB_COLUMNS} <= set(
        frame.columns
    )
    assert np.allclose(frame[classify.PROB_COLUMNS].sum(axis=1), 1, atol=1e-3)
    text = doc.read_text()
    assert "STALE-BLOCK" not in text and "macro-F1" in text and text.endswith("tail\n")
    for variant in classify.VARIANTS:
        m = classify.load_model(model, variant)
        assert m.meta["variant"] == variant and m.meta["n_train"] == len(labels)


def test_stored_feature_file_is_content_free():
    from mining import features

    path = LABEL_FEATURES
    if not path.is_file():
        pytest.skip("no stored features in this checkout")
    frame = pd.read_parquet(path)
    assert list(frame.columns) == ["repo", "sha", *features.FEATURE_COLUMNS]
    numeric = frame.select_dtypes(include=["number", "bool"]).columns
    text_cols = [c for c in frame.columns if c not in set(numeric) and c not in ("repo", "sha")]
    assert text_cols == ["cc_type"]
    assert set(frame["cc_type"]) <= set(features.CC_TYPES)


def test_oof_file_covers_every_labelled_commit():
    if not (OOF_PREDICTIONS.is_file() and LABELS_CSV.is_file()):
        pytest.skip("no labels or OOF predictions in this checkout")
    labels = evaluate.read_labels()
    oof = classify.read_oof()
    assert oof is not None
    want = set(zip(labels["repo"], labels["sha"], strict=True))
    assert want <= set(zip(oof["repo"], oof["sha"], strict=True))


def test_ai_status_of_labelled_commits_follows_the_attribution_stage(repo_builder, tmp_path):
    """The AI flags evaluate splits its scores by are the stage's: a Claude co-author and an
    aider author are AI, a review-bot suggestion and a plain commit are not."""
    r = repo_builder("labelled")
    human = r.commit("init", {"a.py": "a\n"}, author=("Pat Dev", "pat@example.org"))
    claude = r.commit(
        "add b",
        {"b.py": "b\n"},
        author=("Pat Dev", "pat@example.org"),
        trailers=[("Co-authored-by", "Claude <noreply@anthropic.com>")],
    )
    aider = r.commit("edit a", {"a.py": "A\n"}, author=("Pat Dev (aider)", "pat@example.org"))
    bot = "coderabbitai[bot] <136622811+coderabbitai[bot]@users.noreply.github.com>"
    suggestion = r.commit(
        "Update a.py",
        {"a.py": "AA\n"},
        author=("Pat Dev", "pat@example.org"),
        trailers=[("Co-authored-by", bot)],
    )
    labels = pd.DataFrame({"repo": "o/labelled", "sha": [suggestion, human, aider, claude]})
    out = tmp_path / "ai_status.csv"
    frame = evaluate.refresh_ai_status(labels, {"o/labelled": str(r.path)}, out)
    got = dict(zip(frame["sha"], frame["ai"], strict=True))
    assert got == {human: False, claude: True, aider: True, suggestion: False}
    assert pd.read_csv(out).equals(frame)


def test_heldout_only_rescores_the_rounds_into_the_last_report(tmp_path):
    """--heldout-only adds a new round's check to evaluation.json without touching the rest (no
    cross-validation, no mirrors), and without an earlier report it names the missing file."""
    labels = tmp_path / "labels" / "labels.csv"
    (tmp_path / "labels" / "heldout").mkdir(parents=True)
    pd.DataFrame({"repo": ["r/a"], "sha": ["a1"], "layer": ["feature"]}).to_csv(labels, index=False)
    rows = pd.DataFrame(
        {"repo": ["s/x", "s/x", "s/y"], "sha": ["x1", "x2", "y1"], "layer": ["feature"] * 3}
    )
    rows.assign(pi=0.5, ai=[True, False, False]).to_csv(
        labels.parent / "heldout" / "round9_labels.csv", index=False
    )
    rows.assign(model="full").to_csv(
        labels.parent / "heldout" / "round9_frozen_predictions.csv", index=False
    )
    out = tmp_path / "out"
    args = ["evaluate", "--heldout-only", "--labels", str(labels), "--out", str(out)]
    args += ["--ai-status", str(tmp_path / "none.csv"), "--doc", str(tmp_path / "none.md")]

    missing = CliRunner().invoke(app, args)
    assert missing.exit_code != 0 and "evaluation.json: no evaluation" in missing.output
    assert "Traceback" not in missing.output

    out.mkdir()
    (out / "evaluation.json").write_text(json.dumps({"n_labels": 4347}))
    done = CliRunner().invoke(app, args)
    assert done.exit_code == 0, done.output
    report = json.loads((out / "evaluation.json").read_text())
    assert report["n_labels"] == 4347
    check = report["heldout"]["round9"]
    assert check["standing"] is True and check["models"]["full"]["n"] == 3
    assert check["models"]["full"]["n_ai"] == 1
    assert "round9 full: n=3 macro-F1" in done.output
