"""`strata evaluate` wiring on synthetic labelled features: folds, report shape, figure, training."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mining import classify, evaluate, features
from mining.classify import LAYERS
from mining.cli import app
from mining.errors import StageError


def _dataset(n_repos: int = 4, per_repo: int = 24, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = n_repos * per_repo
    layer = np.array(LAYERS)[np.arange(n) % 4]
    feats = pd.DataFrame(
        {c: rng.integers(0, 3, n) for c in features.NUMERIC_COLUMNS}
        | {c: rng.integers(0, 2, n).astype(bool) for c in features.BOOL_COLUMNS}
        | {"cc_type": rng.choice(["feat", "fix", "none"], n)}
    )
    feats["n_files"] += 1
    feats["formatting_only"] = False
    feats["syn_types_added"] = np.where(layer == "architectural", 5, 0)  # learnable signal
    feats.insert(0, "sha", [f"{i:040x}" for i in range(n)])
    feats.insert(0, "repo", [f"org/r{i % n_repos}" for i in range(n)])
    labels = feats[["repo", "sha"]].assign(layer=layer, is_fix=np.arange(n) % 5 == 0)
    ai = feats[["repo", "sha"]].assign(ai=np.arange(n) % 2 == 0)
    return labels, feats, ai


def test_report_has_grouped_cv_metrics_baselines_and_ai_split():
    labels, feats, ai = _dataset()
    r = evaluate.evaluate(labels, feats, ai, kind="logreg", compare_estimators=False)
    assert r["cv"]["folds"] == 4 and r["cv"]["repos"] == 4
    c = r["classifier"]
    assert set(c["per_layer"]) == set(LAYERS)
    cm = np.array(c["confusion"]["counts"])
    assert cm.shape == (4, 4) and cm.sum() == len(labels)
    assert cm.sum(axis=1).tolist() == [r["label_distribution"][x] for x in LAYERS]
    assert set(r["baselines"]) == {"majority", "message_keywords_only", "conventional_prefix_only"}
    assert r["by_authorship"]["ai"]["n"] + r["by_authorship"]["human"]["n"] == len(labels)
    gap = r["by_authorship"]["ai"]["accuracy"] - r["by_authorship"]["human"]["accuracy"]
    assert r["by_authorship"]["accuracy_gap_ai_minus_human"] == pytest.approx(gap, abs=1e-3)
    assert set(r["targets"]) == {"macro_f1", "architectural_f1", "ai_human_accuracy_gap",
                                 "beats_every_baseline"}  # fmt: skip
    json.dumps(r)  # serialisable


def test_folds_never_split_a_repository(monkeypatch):
    labels, feats, _ = _dataset(n_repos=3)
    seen = []
    real = evaluate._oof_full

    def spy(X, y, fix, folds, kind):
        for train, test in folds:
            repos_train = set(feats["repo"].iloc[train])
            repos_test = set(feats["repo"].iloc[test])
            seen.append(repos_train & repos_test)
        return real(X, y, fix, folds, kind)

    monkeypatch.setattr(evaluate, "_oof_full", spy)
    evaluate.evaluate(labels, feats, None, kind="logreg", compare_estimators=False)
    assert seen and all(not s for s in seen)


def test_one_repository_is_refused():
    labels, feats, _ = _dataset(n_repos=1)
    with pytest.raises(StageError, match=">= 2 repositories"):
        evaluate.evaluate(labels, feats, None, kind="logreg")


def test_bad_labels_file_is_named(tmp_path):
    p = tmp_path / "labels.csv"
    p.write_text("repo,sha,layer\nr,abc,epic\n")
    with pytest.raises(StageError, match="epic"):
        evaluate.read_labels(p)


def test_cli_evaluate_writes_report_figure_and_model(tmp_path):
    labels, feats, ai = _dataset()
    labels.to_csv(tmp_path / "labels.csv", index=False)
    feats.to_parquet(tmp_path / "features.parquet", index=False)
    ai.to_csv(tmp_path / "ai.csv", index=False)
    out, model = tmp_path / "out", tmp_path / "model"
    res = CliRunner().invoke(app, [
        "evaluate", "--labels", str(tmp_path / "labels.csv"),
        "--features", str(tmp_path / "features.parquet"), "--ai-status", str(tmp_path / "ai.csv"),
        "--out", str(out), "--train", "--model", str(model), "--estimator", "logreg",
    ])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert "macro-F1" in res.stdout and "baseline majority" in res.stdout
    report = json.loads((out / "evaluation.json").read_text())
    assert report["n_evaluated"] == len(labels)
    assert (out / "confusion_matrix.pdf").stat().st_size > 0
    cm = pd.read_csv(out / "confusion_matrix.csv", index_col=0)
    assert cm.to_numpy().sum() == len(labels)
    m = classify.load_model(model)
    assert m.meta["n_train"] == len(labels)
    assert m.meta["feature_columns"] == features.FEATURE_COLUMNS


def test_stored_feature_file_is_content_free():
    path = evaluate.FEATURES
    if not path.is_file():
        pytest.skip("no stored features in this checkout")
    frame = pd.read_parquet(path)
    assert list(frame.columns) == ["repo", "sha", *features.FEATURE_COLUMNS]
    numeric = frame.select_dtypes(include=["number", "bool"]).columns
    text_cols = [c for c in frame.columns if c not in set(numeric) and c not in ("repo", "sha")]
    assert text_cols == ["cc_type"]
    assert set(frame["cc_type"]) <= set(features.CC_TYPES)
