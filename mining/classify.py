"""Stage `classify`: one layer per non-merge commit (../shared/codebook.md), plus `is_fix`.

Reads: `commit_features`. Writes: `commit_layers` (30_classify.sql).

Two parts. Rules decide the unambiguous cases (an empty or formatting-only commit, a change that
only touches lockfiles, manifests without new dependencies, or generated files, a pure rename
inside one package); their probability is the rule's precision measured on the labelled set.
Everything else goes to a scikit-learn model with calibrated per-layer probabilities, trained on
`data/labels/` by `strata evaluate --train` and shipped in `mining/models/` with its version and
feature list. Inputs are `mining.features.FEATURE_COLUMNS` only: nothing about authorship.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from mining import features, store
from mining.errors import StageError, StrataError

LAYERS = ("boilerplate", "refactor", "feature", "architectural")
PROB_COLUMNS = [f"p_{x}" for x in LAYERS]
CSV_COLUMNS = ["sha", "layer", *PROB_COLUMNS, "is_fix"]
MODEL_NAME = "layer_model"
#: the shipped estimator (see docs/classifier.md for why)
DEFAULT_ESTIMATOR = "rf"
#: precision assumed for a rule before it was measured on labels
DEFAULT_RULE_PRECISION = 0.9


class ModelError(StrataError):
    """The shipped or given model file is missing, unreadable or for other features."""


# --- rules ----------------------------------------------------------------------------------

RULES: dict[str, str] = {
    "empty": "boilerplate",
    "formatting_only": "boilerplate",
    "lockfile_or_generated_only": "boilerplate",
    "dependency_bump_only": "boilerplate",
    "pure_rename_local": "refactor",
}


def rule_names(frame: pd.DataFrame) -> pd.Series:
    """Name of the first rule that decides each commit, or None (then the model decides)."""
    n = frame["n_files"]
    mech = frame["n_lockfile"] + frame["n_generated"] + frame["n_vendored"]
    dep_files = frame["n_lockfile"] + frame["n_manifest"]
    out = pd.Series([None] * len(frame), index=frame.index, dtype=object)
    conditions = [
        ("empty", n == 0),
        ("formatting_only", frame["formatting_only"].astype(bool)),
        ("lockfile_or_generated_only", (n > 0) & (mech == n)),
        (
            "dependency_bump_only",
            (n > 0) & (dep_files == n) & (frame["dep_added"] == 0) & (frame["dep_removed"] == 0)
            & ((frame["dep_bumped"] > 0) | (frame["n_lockfile"] > 0)),
        ),
        (
            "pure_rename_local",
            (n > 0) & (frame["n_pure_renames"] == n) & (frame["n_cross_pkg_moves"] == 0) & (n <= 10),
        ),
    ]  # fmt: skip
    for name, cond in conditions:
        out[cond.to_numpy() & out.isna().to_numpy()] = name
    return out


# --- model ----------------------------------------------------------------------------------


def _count_columns() -> list[str]:
    return [c for c in features.NUMERIC_COLUMNS if not features._is_float(c)]


def make_estimator(kind: str = DEFAULT_ESTIMATOR, columns: list[str] | None = None) -> Any:
    """An unfitted scikit-learn pipeline over feature columns (`columns` subset or all).

    `kind`: "rf" random forest (the shipped model), "hgb" gradient-boosted trees, "logreg". Counts go through
    log1p so that one huge commit does not dominate a linear model; cc_type is one-hot coded.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    cols = columns or features.FEATURE_COLUMNS
    counts = [c for c in cols if c in set(_count_columns())]
    other_num = [c for c in cols if c in set(features.NUMERIC_COLUMNS) and c not in set(counts)]
    bools = [c for c in cols if c in set(features.BOOL_COLUMNS)]
    cats = [c for c in cols if c in set(features.CATEGORICAL_COLUMNS)]
    parts: list[tuple[str, Any, list[str]]] = []
    if counts:
        parts.append(("counts", FunctionTransformer(_signed_log1p), counts))
    if other_num or bools:
        parts.append(("num", "passthrough", other_num + bools))
    if cats:
        parts.append(
            (
                "cat",
                OneHotEncoder(
                    categories=[list(features.CC_TYPES)] * len(cats),
                    handle_unknown="ignore",
                    sparse_output=False,
                ),
                cats,
            )  # fmt: skip
        )
    pre = ColumnTransformer(parts, remainder="drop")
    if kind == "logreg":
        clf = Pipeline([
            ("pre", pre), ("scale", StandardScaler()),
            ("clf", LogisticRegression(C=0.3, max_iter=3000, class_weight="balanced")),
        ])  # fmt: skip
    elif kind == "rf":
        clf = Pipeline([
            ("pre", pre),
            ("clf", RandomForestClassifier(n_estimators=400, min_samples_leaf=2,
                                           class_weight="balanced_subsample", random_state=0,
                                           n_jobs=1)),
        ])  # fmt: skip
    elif kind == "hgb":
        clf = Pipeline([
            ("pre", pre),
            ("clf", HistGradientBoostingClassifier(max_iter=200, learning_rate=0.05,
                                                   max_leaf_nodes=15, min_samples_leaf=8,
                                                   l2_regularization=1.0,
                                                   class_weight="balanced", random_state=0)),
        ])  # fmt: skip
    else:
        raise ValueError(f"unknown model kind {kind!r}")
    return clf


def _signed_log1p(x: Any) -> Any:
    arr = np.asarray(x, dtype="float64")
    return np.sign(arr) * np.log1p(np.abs(arr))


def calibrated(kind: str = DEFAULT_ESTIMATOR, columns: list[str] | None = None) -> Any:
    """`make_estimator` wrapped in sigmoid calibration (3 internal folds)."""
    from sklearn.calibration import CalibratedClassifierCV

    return CalibratedClassifierCV(make_estimator(kind, columns), method="sigmoid", cv=3)


@dataclass
class LayerModel:
    """A fitted layer model plus rule precisions and an is_fix model, as shipped."""

    layer_model: Any
    fix_model: Any
    rule_precision: dict[str, float] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def version(self) -> str:
        return str(self.meta.get("version", "unversioned"))

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Layer, per-layer probabilities, is_fix and decided_by for each feature row."""
        cols = self.meta.get("feature_columns", features.FEATURE_COLUMNS)
        missing = [c for c in cols if c not in frame.columns]
        if missing:
            raise ModelError(f"feature rows lack columns {missing[:3]} (features version differs)")
        n = len(frame)
        if n == 0:
            return pd.DataFrame(columns=["layer", *PROB_COLUMNS, "is_fix", "decided_by"])
        X = frame[cols]
        probs = _ordered_proba(self.layer_model, X)
        rules = rule_names(frame)
        decided = np.array(["model"] * n, dtype=object)
        for i, name in enumerate(rules.to_numpy()):
            if name is None:
                continue
            target = LAYERS.index(RULES[name])
            prec = float(self.rule_precision.get(name, DEFAULT_RULE_PRECISION))
            rest = probs[i].copy()
            rest[target] = 0.0
            rest = rest / rest.sum() if rest.sum() > 0 else np.full(4, 1 / 3)
            rest[target] = 0.0
            probs[i] = rest * (1 - prec)
            probs[i, target] = prec
            decided[i] = f"rule:{name}"
        probs = probs / probs.sum(axis=1, keepdims=True)
        layer = np.array(LAYERS, dtype=object)[probs.argmax(axis=1)]
        if self.fix_model is not None:
            fix = _positive_proba(self.fix_model, X) >= 0.5
        else:
            fix = (frame["cc_type"] == "fix").to_numpy() | frame["kws_fix"].to_numpy(bool)
        out = pd.DataFrame(probs, columns=PROB_COLUMNS, index=frame.index)
        out.insert(0, "layer", layer)
        out["is_fix"] = fix.astype(bool)
        out["decided_by"] = decided
        return out


def _ordered_proba(model: Any, X: pd.DataFrame) -> np.ndarray:
    """predict_proba with columns in LAYERS order (a class absent in training gets 0)."""
    raw = model.predict_proba(X)
    out = np.zeros((len(X), len(LAYERS)))
    for j, cls in enumerate(model.classes_):
        out[:, LAYERS.index(str(cls))] = raw[:, j]
    return out


def _positive_proba(model: Any, X: pd.DataFrame) -> np.ndarray:
    raw = model.predict_proba(X)
    classes = [bool(c) for c in model.classes_]
    return raw[:, classes.index(True)] if True in classes else np.zeros(len(X))


def rule_precision(frame: pd.DataFrame, layers: pd.Series) -> dict[str, float]:
    """Laplace-smoothed precision of each rule on labelled rows (the probability a rule gives)."""
    names = rule_names(frame)
    out = {}
    for name, target in RULES.items():
        mask = (names == name).to_numpy()
        hits = int((layers.to_numpy()[mask] == target).sum())
        out[name] = round((hits + DEFAULT_RULE_PRECISION * 2) / (int(mask.sum()) + 2), 4)
    return out


def fit(
    frame: pd.DataFrame,
    layers: pd.Series,
    is_fix: pd.Series | None = None,
    kind: str = DEFAULT_ESTIMATOR,
    meta: dict[str, Any] | None = None,
) -> LayerModel:
    """Fit the layer model (+ is_fix model) on labelled feature rows."""
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    X = frame[features.FEATURE_COLUMNS]
    y = layers.astype(str).to_numpy()
    n_min = pd.Series(y).value_counts().min()
    if n_min >= 3:
        model = calibrated(kind)
    else:  # too few of some class for calibration folds
        model = make_estimator(kind)
    model.fit(X, y)
    fix_model = None
    if is_fix is not None and is_fix.astype(bool).nunique() == 2:
        base = make_estimator("logreg")
        steps = [*base.steps[:-1], ("clf", LogisticRegression(C=0.3, max_iter=3000,
                                                               class_weight="balanced"))]  # fmt: skip
        fix_est = Pipeline(steps)
        if is_fix.astype(bool).value_counts().min() >= 3:
            fix_est = CalibratedClassifierCV(fix_est, method="sigmoid", cv=3)
        fix_model = fix_est.fit(X, is_fix.astype(bool).to_numpy())
    m = dict(meta or {})
    m.setdefault("feature_columns", list(features.FEATURE_COLUMNS))
    m.setdefault("features_version", features.FEATURES_VERSION)
    m.setdefault("estimator", kind)
    return LayerModel(model, fix_model, rule_precision(frame, layers), m)


# --- persistence ----------------------------------------------------------------------------


def default_model_dir() -> Path:
    return Path(str(resources.files("mining") / "models"))


def save_model(model: LayerModel, model_dir: Path | None = None) -> Path:
    """Write `<dir>/layer_model.joblib` and the human-readable `layer_model.json`."""
    import joblib

    d = Path(model_dir) if model_dir else default_model_dir()
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{MODEL_NAME}.joblib"
    joblib.dump(
        {"layer_model": model.layer_model, "fix_model": model.fix_model,
         "rule_precision": model.rule_precision}, path, compress=3,
    )  # fmt: skip
    meta = dict(model.meta)
    meta["rule_precision"] = model.rule_precision
    meta["rules"] = RULES
    meta["layers"] = list(LAYERS)
    meta["joblib_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    meta.setdefault("trained_at", datetime.now(UTC).isoformat(timespec="seconds"))
    (d / f"{MODEL_NAME}.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path


def load_model(model_dir: str | Path | None = None) -> LayerModel:
    """Load the shipped model (or one from `model_dir`); ModelError if absent or mismatched."""
    import joblib

    d = Path(model_dir) if model_dir else default_model_dir()
    path, meta_path = d / f"{MODEL_NAME}.joblib", d / f"{MODEL_NAME}.json"
    if not path.is_file() or not meta_path.is_file():
        raise ModelError(f"{path}: no trained model (run `strata evaluate --train`)")
    meta = json.loads(meta_path.read_text())
    if meta.get("features_version") != features.FEATURES_VERSION:
        raise ModelError(
            f"{path}: trained on features version {meta.get('features_version')}, this ai-strata "
            f"computes version {features.FEATURES_VERSION} (retrain with `strata evaluate --train`)"
        )
    try:
        blob = joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - any unpickling failure is a bad model file
        raise ModelError(f"{path}: unreadable model file ({exc})") from exc
    return LayerModel(blob["layer_model"], blob["fix_model"], blob["rule_precision"], meta)


# --- entry points ---------------------------------------------------------------------------


def classify_frame(frame: pd.DataFrame, model: LayerModel | None = None) -> pd.DataFrame:
    """Predictions for feature rows (keeps `repo`/`sha` columns if present)."""
    model = model or load_model()
    pred = model.predict(frame)
    keys = [c for c in ("repo", "sha") if c in frame.columns]
    return pd.concat([frame[keys].reset_index(drop=True), pred.reset_index(drop=True)], axis=1)


def classify_shas(
    git_dir: str | Path, shas: list[str], model: LayerModel | None = None
) -> pd.DataFrame:
    """The scripting contract: layer, probabilities and is_fix for listed commits, no database.

    Columns exactly CSV_COLUMNS; merges are left out (they have no layer).
    """
    model = model or load_model()
    frame = features.compute_features(git_dir, shas)
    return classify_frame(frame, model)[CSV_COLUMNS]


def classify_stage(
    con: duckdb.DuckDBPyConnection, repos: list[str] | None = None, model: LayerModel | None = None
) -> dict[str, int]:
    """Write `commit_layers` for every featured commit (all repos, or those named)."""
    store.require_rows(con, "commit_features", "features")
    model = model or load_model()
    known = [
        r[0] for r in con.execute("SELECT DISTINCT repo FROM commit_features ORDER BY 1").fetchall()
    ]
    wanted = repos or known
    missing = [r for r in wanted if r not in known]
    if missing:
        raise StageError(f"{missing[0]}: no featured commits (run `strata features` first)")
    counts: dict[str, int] = {}
    for repo in wanted:
        frame = con.execute(
            "SELECT * FROM commit_features WHERE repo = ? ORDER BY sha", [repo]
        ).df()
        pred = classify_frame(frame, model)
        pred["model_version"] = model.version
        pred["is_fix"] = pred["is_fix"].astype(bool)
        with store.transaction(con):
            counts[repo] = store.replace_repo_rows(con, "commit_layers", repo, pred)
    return counts
