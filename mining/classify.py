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

import functools
import hashlib
import json
import os
from collections.abc import Callable
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
from mining.gitcmd import full_commit_ids, resolve_git_dir
from mining.labels import OOF_PREDICTIONS
from mining.shared_vectorizers import share_transforms
from mining.vocabulary import DIFF_TOKENS_VERSION, LAYERS, MESSAGE_TEXT_COLUMNS, TEXT_COLUMNS

# One OpenMP thread unless the user says otherwise: scikit-learn's gradient boosting otherwise
# spins a thread per core and stalls (40x slower measured) on a loaded 2-core machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

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
            (n > 0)
            & (dep_files == n)
            & (frame["dep_added"] == 0)
            & (frame["dep_removed"] == 0)
            & ((frame["dep_bumped"] > 0) | (frame["n_lockfile"] > 0)),
        ),
        (
            "pure_rename_local",
            (n > 0)
            & (frame["n_pure_renames"] == n)
            & (frame["n_cross_pkg_moves"] == 0)
            & (n <= 10),
        ),
    ]
    for name, cond in conditions:
        out[cond.to_numpy() & out.isna().to_numpy()] = name
    return out


# --- model ----------------------------------------------------------------------------------


def _count_columns() -> list[str]:
    return [c for c in features.NUMERIC_COLUMNS if not features.is_float_column(c)]


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
            )
        )
    pre = ColumnTransformer(parts, remainder="drop")
    if kind == "logreg":
        clf = Pipeline(
            [
                ("pre", pre),
                ("scale", StandardScaler()),
                ("clf", LogisticRegression(C=0.3, max_iter=3000, class_weight="balanced")),
            ]
        )
    elif kind == "rf":
        clf = Pipeline(
            [
                ("pre", pre),
                (
                    "clf",
                    RandomForestClassifier(
                        n_estimators=400,
                        min_samples_leaf=2,
                        class_weight="balanced_subsample",
                        random_state=0,
                        n_jobs=1,
                    ),
                ),
            ]
        )
    elif kind == "hgb":
        clf = Pipeline(
            [
                ("pre", pre),
                (
                    "clf",
                    HistGradientBoostingClassifier(
                        max_iter=200,
                        learning_rate=0.05,
                        max_leaf_nodes=15,
                        min_samples_leaf=8,
                        l2_regularization=1.0,
                        class_weight="balanced",
                        random_state=0,
                    ),
                ),
            ]
        )
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


# --- the change-reading model: text + structure, stacked by a logistic meta-learner ----------

#: model variants: "full" reads the cleaned message, paths and structure; "diff-only" drops
#: every message feature (the study uses it to show how much message style moves the answer)
VARIANTS = ("full", "diff-only")
MESSAGE_PREFIXES = ("kw_", "kws_", "cc_", "msg_")
#: the training procedure: the mean of the three bases' probabilities, argmax, nothing tuned,
#: not even which bases count (why, and what else was measured: docs/classifier.md)
PROCEDURE_NAME = "mean of the three bases"
PROCEDURE = "mean of the linear, linear_text and trees bases' probabilities (nothing tuned)"
PROCEDURE_WEIGHTS = {"linear": 1 / 3, "linear_text": 1 / 3, "trees": 1 / 3}
#: how the bases weight training commits: "equal" (each labelled commit once: lower variance,
#: keeps the enrichment stratum's rare layers) or "1/pi" (the population); scores use 1/pi
FIT_WEIGHTING = "equal"
#: base learners fitted inside the folds
BASES = ("linear", "linear_text", "trees")
#: gradient-boosting settings per tree base: "trees" is the shipped one; "trees_slow" (slower
#: learning, larger leaves, half the columns per split, early stopping) was measured only
TREE_PARAMS: dict[str, dict[str, Any]] = {
    "trees": {
        "max_iter": 80,
        "learning_rate": 0.1,
        "max_leaf_nodes": 12,
        "min_samples_leaf": 10,
        "l2_regularization": 1.0,
    },
    "trees_slow": {
        "max_iter": 400,
        "learning_rate": 0.04,
        "max_leaf_nodes": 8,
        "min_samples_leaf": 20,
        "l2_regularization": 3.0,
        "max_features": 0.5,
        "early_stopping": True,
        "validation_fraction": 0.15,
        "n_iter_no_change": 25,
    },
}
#: inverse regularisation of the stacking comparison's meta-learner (4 log-probabilities a base)
META_C = 1.0
#: probabilities are clipped here before the log, so one confident base cannot dominate
PROB_FLOOR = 1e-4
#: linear weight in a linear + trees blend (the reported comparison, no longer the procedure)
BLEND_WEIGHTS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: multiplicative per-layer weights tried when tuning the decision thresholds
THRESHOLD_GRID = (0.5, 0.7, 0.85, 1.0, 1.2, 1.45, 1.75, 2.1, 2.5, 3.0)


def variant_columns(variant: str) -> tuple[list[str], list[str]]:
    """(feature columns incl. size-relative ratios, text columns) a variant reads."""
    from mining.text_features import RATIO_COLUMNS

    if variant not in VARIANTS:
        raise ModelError(f"unknown model variant {variant!r}; choose from {', '.join(VARIANTS)}")
    cols = [
        c
        for c in features.FEATURE_COLUMNS
        if variant == "full" or not c.startswith(MESSAGE_PREFIXES)
    ]
    texts = [t for t in TEXT_COLUMNS if variant == "full" or t not in MESSAGE_TEXT_COLUMNS]
    return [*cols, *RATIO_COLUMNS], texts


def model_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Feature rows plus the size-relative ratios (computed, never stored)."""
    from mining.text_features import RATIO_COLUMNS, ratio_features

    if all(c in frame.columns for c in RATIO_COLUMNS):
        return frame
    return pd.concat(
        [frame.reset_index(drop=True), ratio_features(frame).reset_index(drop=True)], axis=1
    )


def base_estimator(name: str, variant: str, binary: bool = False) -> Any:
    """An unfitted base learner of `variant`'s columns.

    "linear": logistic regression over TF-IDF of the message (word 1-2 grams), of path tokens and
    of diff tokens (`text_features.diff_tokens`) next to log-scaled structure; "linear_text": the
    same with the structure block down-weighted (text leads); "trees": gradient-boosted trees on
    structure and its size-relative ratios.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

    cols, texts = variant_columns(variant)
    cats = [c for c in cols if c in set(features.CATEGORICAL_COLUMNS)]
    num = [c for c in cols if c not in set(cats)]
    onehot = OneHotEncoder(
        categories=[list(features.CC_TYPES)] * len(cats),
        handle_unknown="ignore",
        sparse_output=False,
    )
    if name in TREE_PARAMS:
        parts: list[tuple[str, Any, Any]] = [("num", "passthrough", num)]
        if cats:
            parts.append(("cat", onehot, cats))
        clf = HistGradientBoostingClassifier(
            **TREE_PARAMS[name], class_weight="balanced", random_state=0
        )
        return Pipeline([("pre", ColumnTransformer(parts, remainder="drop")), ("clf", clf)])
    if name not in ("linear", "linear_text"):
        raise ModelError(f"unknown base learner {name!r}; choose from {', '.join(BASES)}")
    scaled = Pipeline([("log", FunctionTransformer(_signed_log1p)), ("scale", StandardScaler())])
    parts = [("num", scaled, num)]
    if cats:
        parts.append(("cat", onehot, cats))
    if "msg_text" in texts:
        parts.append(
            (
                "msg",
                TfidfVectorizer(
                    ngram_range=(1, 2),
                    min_df=2,
                    sublinear_tf=True,
                    max_features=30000,
                    strip_accents="unicode",
                ),
                "msg_text",
            )
        )
    parts.append(
        (
            "path",
            TfidfVectorizer(token_pattern=r"\S+", min_df=2, sublinear_tf=True, max_features=20000),
            "path_text",
        )
    )
    if "diff_text" in texts:
        from mining.text_features import token_counts

        parts.append(
            (
                "diff",
                TfidfVectorizer(
                    analyzer=token_counts, min_df=2, sublinear_tf=True, max_features=30000
                ),
                "diff_text",
            )
        )
    structure_weight = 0.35 if name == "linear_text" else 1.0
    weights = {"num": structure_weight / 4, "cat": 1.0, "msg": 1.0, "path": 1.0, "diff": 1.0}
    pre = ColumnTransformer(
        parts, remainder="drop", transformer_weights={k: weights[k] for k, _, _ in parts}
    )
    clf = LogisticRegression(C=0.5 if binary else 1.0, max_iter=5000, class_weight="balanced")
    return Pipeline([("pre", pre), ("clf", clf)])


def blend_candidates() -> list[dict[str, float]]:
    """The blends the former procedure chose among (now scored for the report only)."""
    out: list[dict[str, float]] = [{"trees": 1.0}]
    for lin in ("linear", "linear_text"):
        for a in BLEND_WEIGHTS[1:]:
            out.append({lin: a} if a == 1.0 else {lin: a, "trees": round(1 - a, 2)})
    return out


def blend_name(blend: dict[str, float]) -> str:
    return "+".join(f"{k}*{v:g}" for k, v in sorted(blend.items()))


def fit_base(name: str, variant: str, X: pd.DataFrame, y: np.ndarray, w: np.ndarray) -> Any:
    """Fit one base learner with per-commit weights (1/pi, mean 1) on top of class balance."""
    est = base_estimator(name, variant)
    est.fit(X, y, clf__sample_weight=w)
    return est


def tune_thresholds(
    probs: np.ndarray, y: np.ndarray, w: np.ndarray, passes: int = 2
) -> tuple[np.ndarray, float]:
    """Per-layer multiplicative weights on the probabilities that maximise weighted macro-F1.

    Coordinate ascent over THRESHOLD_GRID (feature's weight fixed at 1). Called only on
    predictions of commits the scored model did not train on.
    """
    t = np.ones(len(LAYERS))
    best = weighted_macro_f1(y, argmax_layers(probs * t), w)
    fixed = LAYERS.index("feature")
    for _ in range(passes):
        for k in range(len(LAYERS)):
            if k == fixed:
                continue
            for v in THRESHOLD_GRID:
                trial = t.copy()
                trial[k] = v
                score = weighted_macro_f1(y, argmax_layers(probs * trial), w)
                if score > best + 1e-9:
                    best, t = score, trial
    return t, best


def argmax_layers(scores: np.ndarray) -> np.ndarray:
    return np.array(LAYERS, dtype=object)[scores.argmax(axis=1)]


def weighted_macro_f1(y: np.ndarray, pred: np.ndarray, w: np.ndarray | None = None) -> float:
    """Macro-F1 over the four layers with per-commit weights (1/pi): the population's score."""
    from sklearn.metrics import f1_score

    return float(
        f1_score(y, pred, labels=list(LAYERS), average="macro", sample_weight=w, zero_division=0)
    )


def meta_inputs(probs: dict[str, np.ndarray]) -> np.ndarray:
    """A meta-learner's inputs: each base's clipped log-probabilities, in BASES order."""
    return np.hstack([np.log(np.clip(probs[b], PROB_FLOOR, 1.0)) for b in BASES])


def fit_meta(probs: dict[str, np.ndarray], y: np.ndarray, w: np.ndarray) -> Any:
    """Multinomial logistic regression from the bases' out-of-fold probabilities to the layer
    (class-balanced, 1/pi-weighted): the stacking comparison."""
    from sklearn.linear_model import LogisticRegression

    meta = LogisticRegression(C=META_C, class_weight="balanced", max_iter=5000)
    return meta.fit(meta_inputs(probs), y, sample_weight=w)


@dataclass
class Stack:
    """Fitted base learners and how their probabilities become layer scores: a weighted mean
    times per-layer thresholds, or a fitted meta-learner (the stacking comparison).

    `predict_proba` sums to 1 and its argmax is the layer: scores of class-balanced learners,
    not probabilities calibrated to the population's layer mix.
    """

    bases: dict[str, Any]
    weights: dict[str, float] = field(default_factory=dict)
    thresholds: list[float] = field(default_factory=lambda: [1.0] * len(LAYERS))
    meta_learner: Any = None

    @property
    def classes_(self) -> np.ndarray:
        return np.array(LAYERS, dtype=object)

    def base_probabilities(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        return {k: ordered_proba(est, X) for k, est in self.bases.items()}

    def combine(self, probs: dict[str, np.ndarray]) -> np.ndarray:
        """Layer scores (rows sum to 1) from the bases' probabilities."""
        if self.meta_learner is not None:
            return _ordered_columns(
                self.meta_learner, self.meta_learner.predict_proba(meta_inputs(probs))
            )
        s = np.asarray(sum(w * probs[k] for k, w in self.weights.items()))
        s = s * np.asarray(self.thresholds)
        return s / s.sum(axis=1, keepdims=True)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        return self.combine(self.base_probabilities(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return argmax_layers(self.predict_proba(X))


@dataclass
class Selection:
    """What the inner, repository-grouped folds of a training set gave: the bases' out-of-fold
    probabilities, the procedure's inner score, and the comparisons, each fixed there."""

    inner_probs: dict[str, np.ndarray]
    inner_score: float
    #: name -> inner weighted macro-F1 (the procedure's first)
    candidates: dict[str, float]
    #: name -> combination (a Stack without bases) of each comparison
    comparisons: dict[str, Stack] = field(default_factory=dict)
    name: str = PROCEDURE_NAME


def fit_weights(w: np.ndarray) -> np.ndarray:
    """The bases' fitting weights (FIT_WEIGHTING); scores and the is_fix model keep 1/pi."""
    return np.ones(len(w)) if FIT_WEIGHTING == "equal" else w


def inner_probabilities(
    X: pd.DataFrame,
    y: np.ndarray,
    w: np.ndarray,
    groups: np.ndarray,
    variant: str,
    n_splits: int,
    bases: tuple[str, ...] = BASES,
) -> dict[str, np.ndarray]:
    """Out-of-fold probabilities of each base learner over repository-grouped folds."""
    from sklearn.model_selection import GroupKFold

    k = min(n_splits, len(set(groups)))
    if k < 2:
        raise StageError("model selection needs labelled commits from >= 2 repositories")
    out = {b: np.zeros((len(y), len(LAYERS))) for b in bases}
    for train, test in GroupKFold(n_splits=k).split(X, y, groups):
        for b in bases:
            est = fit_base(b, variant, X.iloc[train], y[train], w[train])
            out[b][test] = ordered_proba(est, X.iloc[test])
    return out


def comparisons(probs: dict[str, np.ndarray], y: np.ndarray, w: np.ndarray) -> dict[str, Stack]:
    """The procedure (mean of the three bases) and fixed alternatives, each decided on the
    inner probabilities only: every base alone, the mean of linear and trees, stacking by a
    meta-learner, and the former procedure (best of 9 blends, with and without tuned thresholds). Evaluation scores them
    all on the outer folds, so the report shows what each choice is worth."""
    out = {PROCEDURE_NAME: Stack({}, dict(PROCEDURE_WEIGHTS))}
    out.update({f"{b} alone": Stack({}, {b: 1.0}) for b in BASES})
    out["mean of linear and trees"] = Stack({}, {"linear": 0.5, "trees": 0.5})
    out["stack (logistic meta-learner)"] = Stack({}, meta_learner=fit_meta(probs, y, w))
    best: tuple[float, dict[str, float], np.ndarray] | None = None
    plain: tuple[float, dict[str, float]] | None = None
    for blend in blend_candidates():
        p = np.asarray(sum(a * probs[b] for b, a in blend.items()))
        t, score = tune_thresholds(p, y, w)
        if best is None or score > best[0] + 1e-9:
            best = (score, blend, t)
        s0 = weighted_macro_f1(y, argmax_layers(p), w)
        if plain is None or s0 > plain[0] + 1e-9:
            plain = (s0, blend)
    if best is None or plain is None:
        raise StageError("no candidate blend to select from")
    out["best blend + thresholds (former procedure)"] = Stack({}, best[1], list(best[2]))
    out["best blend, no thresholds"] = Stack({}, plain[1])
    return out


def candidate_names() -> list[str]:
    """What the report scores on the outer folds: the procedure, then its comparisons."""
    return [
        PROCEDURE_NAME,
        *(f"{b} alone" for b in BASES),
        "mean of linear and trees",
        "stack (logistic meta-learner)",
        "best blend + thresholds (former procedure)",
        "best blend, no thresholds",
    ]


def refit_bases(stack: Stack, X: pd.DataFrame, y: np.ndarray, w: np.ndarray, variant: str) -> Stack:
    """The same combination over bases refitted on other rows (the learning curve's points)."""
    bases = {b: fit_base(b, variant, X, y, fit_weights(w)) for b in stack.bases}
    return Stack(bases, dict(stack.weights), list(stack.thresholds), stack.meta_learner)


def fit_stack(
    X: pd.DataFrame, y: np.ndarray, w: np.ndarray, variant: str, selection: Selection
) -> Stack:
    """Refit the procedure's bases on all of X and combine them as it says."""
    combo = selection.comparisons[PROCEDURE_NAME]
    bases = {b: fit_base(b, variant, X, y, fit_weights(w)) for b in PROCEDURE_WEIGHTS}
    return Stack(bases, dict(combo.weights), list(combo.thresholds), combo.meta_learner)


def fit_fix_model(X: pd.DataFrame, is_fix: np.ndarray, w: np.ndarray, variant: str) -> Any:
    """is_fix from the same columns (message words matter most): weighted logistic regression."""
    if len(set(is_fix.tolist())) < 2:
        return None
    est = base_estimator("linear", variant, binary=True)
    est.fit(X, is_fix, clf__sample_weight=w)
    return est


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

    @property
    def text_columns(self) -> list[str]:
        """Text columns (TEXT_COLUMNS subset) the model reads next to the feature columns."""
        return list(self.meta.get("text_columns", []))

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Layer, per-layer probabilities, is_fix and decided_by for each feature row."""
        cols = self.meta.get("feature_columns", features.FEATURE_COLUMNS)
        missing = [c for c in [*cols, *self.text_columns] if c not in frame.columns]
        if missing:
            raise ModelError(f"feature rows lack columns {missing[:3]} (features version differs)")
        n = len(frame)
        if n == 0:
            return pd.DataFrame(columns=["layer", *PROB_COLUMNS, "is_fix", "decided_by"])
        X = model_frame(frame) if self.meta.get("ratio_columns") else frame[cols]
        probs = ordered_proba(self.layer_model, X)
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


def ordered_proba(model: Any, X: pd.DataFrame) -> np.ndarray:
    """predict_proba with columns in LAYERS order (a class absent in training gets 0)."""
    return _ordered_columns(model, model.predict_proba(X))


def _ordered_columns(model: Any, raw: np.ndarray) -> np.ndarray:
    """A classifier's probability columns put in LAYERS order (absent classes get 0)."""
    out = np.zeros((len(raw), len(LAYERS)))
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
        steps = [
            *base.steps[:-1],
            ("clf", LogisticRegression(C=0.3, max_iter=3000, class_weight="balanced")),
        ]
        fix_est = Pipeline(steps)
        if is_fix.astype(bool).value_counts().min() >= 3:
            fix_est = CalibratedClassifierCV(fix_est, method="sigmoid", cv=3)
        fix_model = fix_est.fit(X, is_fix.astype(bool).to_numpy())
    m = dict(meta or {})
    m.setdefault("feature_columns", list(features.FEATURE_COLUMNS))
    m.setdefault("features_version", features.FEATURES_VERSION)
    m.setdefault("estimator", kind)
    return LayerModel(model, fix_model, rule_precision(frame, layers), m)


def fit_layer_model(
    frame: pd.DataFrame,
    layers: pd.Series,
    is_fix: pd.Series | None,
    groups: np.ndarray,
    *,
    weights: np.ndarray | None = None,
    variant: str = "full",
    inner_splits: int = 4,
    meta: dict[str, Any] | None = None,
) -> tuple[LayerModel, Selection]:
    """The whole training procedure: the bases' out-of-fold probabilities on repository-grouped
    inner folds of `frame` only teach the meta-learner; the bases are then refitted on all of it.
    `frame` holds feature and text columns.

    `strata evaluate` runs exactly this inside each outer fold, so its score is this procedure's.
    """
    cols, texts = variant_columns(variant)
    missing = [c for c in texts if c not in frame.columns]
    if missing:
        raise ModelError(
            f"training rows lack text columns {missing} (read them with text_features)"
        )
    X = model_frame(frame)
    y = layers.astype(str).to_numpy(dtype=object)
    w = unit_mean(weights, len(y))
    groups = np.asarray(groups)
    probs = inner_probabilities(X, y, fit_weights(w), groups, variant, inner_splits)
    combos = comparisons(probs, y, w)
    table = {
        name: round(weighted_macro_f1(y, argmax_layers(c.combine(probs)), w), 4)
        for name, c in combos.items()
    }
    selection = Selection(probs, table[PROCEDURE_NAME], table, combos)
    stack = fit_stack(X, y, w, variant, selection)
    fix_model = None
    if is_fix is not None:
        fix_model = fit_fix_model(X, is_fix.astype(bool).to_numpy(), w, variant)
    m = dict(meta or {})
    m.update(
        {
            "feature_columns": list(features.FEATURE_COLUMNS),
            "ratio_columns": [c for c in cols if c.startswith("r_")],
            "text_columns": texts,
            "features_version": features.FEATURES_VERSION,
            "diff_tokens_version": DIFF_TOKENS_VERSION if "diff_text" in texts else None,
            "variant": variant,
            "estimator": "stack",
            "procedure": PROCEDURE,
            "bases": list(stack.bases),
            "base_weights": stack.weights,
            "fit_weighting": FIT_WEIGHTING,
            "inner_macro_f1": round(selection.inner_score, 4),
            "inner_comparisons": selection.candidates,
        }
    )
    return LayerModel(stack, fix_model, rule_precision(frame, layers), m), selection


def unit_mean(weights: np.ndarray | None, n: int) -> np.ndarray:
    """Weights rescaled to mean 1 (so regularisation means the same with or without pi)."""
    if weights is None:
        return np.ones(n)
    w = np.asarray(weights, dtype=float)
    return w * (n / w.sum())


# --- persistence ----------------------------------------------------------------------------


def default_model_dir() -> Path:
    return Path(str(resources.files("mining") / "models"))


def model_stem(variant: str = "full") -> str:
    """File stem of a variant's shipped files: layer_model, layer_model_diff_only."""
    if variant not in VARIANTS:
        raise ModelError(f"unknown model variant {variant!r}; choose from {', '.join(VARIANTS)}")
    return MODEL_NAME if variant == "full" else f"{MODEL_NAME}_{variant.replace('-', '_')}"


def save_model(model: LayerModel, model_dir: Path | None = None, variant: str = "full") -> Path:
    """Write `<dir>/<stem>.joblib` and the human-readable `<stem>.json` (atomically)."""
    import joblib

    d = Path(model_dir) if model_dir else default_model_dir()
    d.mkdir(parents=True, exist_ok=True)
    stem = model_stem(variant)
    path = d / f"{stem}.joblib"
    tmp = d / f".{stem}.joblib.tmp"
    joblib.dump(
        {
            "layer_model": model.layer_model,
            "fix_model": model.fix_model,
            "rule_precision": model.rule_precision,
        },
        tmp,
        compress=3,
    )
    meta = dict(model.meta)
    meta["rule_precision"] = model.rule_precision
    meta["rules"] = RULES
    meta["layers"] = list(LAYERS)
    meta["joblib_sha256"] = hashlib.sha256(tmp.read_bytes()).hexdigest()
    meta.setdefault("trained_at", datetime.now(UTC).isoformat(timespec="seconds"))
    tmp.replace(path)
    (d / f"{stem}.json").write_text(json.dumps(meta, indent=2, sort_keys=True) + "\n")
    return path


def load_model(model_dir: str | Path | None = None, variant: str = "full") -> LayerModel:
    """Load a shipped model (`variant`), or one from `model_dir`; ModelError if absent or
    mismatched. `model_dir` may also name a variant ("full", "diff-only")."""
    import joblib

    if model_dir is not None and str(model_dir) in VARIANTS:
        variant, model_dir = str(model_dir), None
    d = Path(model_dir) if model_dir else default_model_dir()
    stem = model_stem(variant)
    path, meta_path = d / f"{stem}.joblib", d / f"{stem}.json"
    if not path.is_file() or not meta_path.is_file():
        raise ModelError(f"{path}: no trained model (run `strata evaluate --train`)")
    meta = json.loads(meta_path.read_text())
    if meta.get("features_version") != features.FEATURES_VERSION:
        raise ModelError(
            f"{path}: trained on features version {meta.get('features_version')}, this ai-strata "
            f"computes version {features.FEATURES_VERSION} (retrain with `strata evaluate --train`)"
        )
    if "diff_text" in meta.get("text_columns", []) and (
        meta.get("diff_tokens_version") != DIFF_TOKENS_VERSION
    ):
        raise ModelError(
            f"{path}: trained on diff tokens version {meta.get('diff_tokens_version')}, this "
            f"ai-strata computes version {DIFF_TOKENS_VERSION} (retrain with `strata evaluate --train`)"
        )
    try:
        blob = joblib.load(path)
    except Exception as exc:  # any unpickling failure is a bad model file
        raise ModelError(f"{path}: unreadable model file ({exc})") from exc
    layer_model, fix_model = blob["layer_model"], blob["fix_model"]
    share_transforms([*getattr(layer_model, "bases", {}).values(), layer_model, fix_model])
    return LayerModel(layer_model, fix_model, blob["rule_precision"], meta)


# --- entry points ---------------------------------------------------------------------------


def classify_frame(frame: pd.DataFrame, model: LayerModel | None = None) -> pd.DataFrame:
    """Predictions for feature rows (keeps `repo`/`sha` columns if present)."""
    model = model or load_model()
    pred = model.predict(frame)
    keys = [c for c in ("repo", "sha") if c in frame.columns]
    return pd.concat([frame[keys].reset_index(drop=True), pred.reset_index(drop=True)], axis=1)


def classify_shas(
    git_dir: str | Path,
    shas: list[str],
    model: LayerModel | None = None,
    jobs: int = 1,
    progress: Callable[[str, int, int], None] | None = None,
) -> pd.DataFrame:
    """The scripting contract: layer, probabilities and is_fix for listed commits, no database.

    Columns CSV_COLUMNS, then `incomplete` (git could not read the commit's diff, e.g. blobs
    missing from a partial clone: its layer rests on the file list alone, which the caller
    says); merges are left out (they have no layer). The texts the model reads come from the
    features' own patch stream, and each of the `jobs` feature processes classifies its own
    rows: no second pass over git, no serial tail. `progress(repo, done, total)`: after each
    batch of `features.BATCH` listed commits (a long listing is otherwise silent for minutes).
    """
    model = model or load_model()
    then = functools.partial(_classify_telling_incomplete, model=model)
    gd = resolve_git_dir(git_dir)
    listed = [s.strip() for s in shas if s.strip()]
    ids = full_commit_ids(gd, listed) if listed else []  # a repeat in two batches: once
    parts = []
    for start in range(0, max(len(ids), 1), features.BATCH):
        batch = ids[start : start + features.BATCH]
        parts.append(
            features.compute_features(gd, batch, jobs, texts=model.text_columns, then=then)
        )
        if progress is not None and batch:
            progress(str(git_dir), start + len(batch), len(ids))
    return pd.concat(parts, ignore_index=True)[[*CSV_COLUMNS, "incomplete"]]


def _classify_telling_incomplete(frame: pd.DataFrame, model: LayerModel) -> pd.DataFrame:
    """`classify_frame`, keeping the feature rows' `incomplete` flag beside the predictions."""
    return classify_frame(frame, model).assign(incomplete=frame["incomplete"].to_numpy())


def oof_suffix(variant: str) -> str:
    """Column suffix of a variant in the OOF file ("" for full, "_diff_only" for diff-only)."""
    return "" if variant == "full" else f"_{variant.replace('-', '_')}"


def read_oof(path: Path = OOF_PREDICTIONS) -> pd.DataFrame | None:
    """The out-of-fold predictions `strata evaluate` wrote, or None when there are none."""
    if not Path(path).is_file():
        return None
    frame = pd.read_csv(path, dtype={"repo": str, "sha": str})
    need = {"repo", "sha", "layer", *PROB_COLUMNS, "is_fix"}
    if not need <= set(frame.columns):
        raise StageError(f"{path}: needs columns {sorted(need)} (rerun `strata evaluate`)")
    frame["is_fix"] = frame["is_fix"].astype(str).str.lower().isin(["1", "true", "yes"])
    return frame


def apply_oof(pred: pd.DataFrame, oof: pd.DataFrame | None, variant: str) -> pd.DataFrame:
    """Labelled commits get their out-of-fold layer (is_oof), never the in-sample one.

    The model was trained on their labels, so its own prediction for them would be flattering.
    """
    pred = pred.copy()
    pred["is_oof"] = False
    suffix = oof_suffix(variant)
    cols = [f"layer{suffix}", *(f"{c}{suffix}" for c in PROB_COLUMNS)]
    if oof is None or not len(pred) or not set(cols) <= set(oof.columns):
        return pred
    keyed = oof.set_index(["repo", "sha"])
    idx = pd.MultiIndex.from_frame(pred[["repo", "sha"]])
    hit = idx.isin(keyed.index)
    if not hit.any():
        return pred
    rows = keyed.loc[idx[hit]]
    pred.loc[hit, "layer"] = rows[cols[0]].to_numpy()
    for c, src in zip(PROB_COLUMNS, cols[1:], strict=True):
        pred.loc[hit, c] = rows[src].to_numpy(dtype=float)
    pred.loc[hit, "is_fix"] = rows["is_fix"].to_numpy(bool)
    pred.loc[hit, "decided_by"] = "oof"
    pred.loc[hit, "is_oof"] = True
    return pred


def classify_stage(
    con: duckdb.DuckDBPyConnection,
    repos: list[str] | None = None,
    model: LayerModel | None = None,
    oof_path: Path | None = OOF_PREDICTIONS,
) -> dict[str, int]:
    """Write `commit_layers` for every featured commit (all repos, or those named).

    A model that reads messages needs the `messages` table (a crawled database), one that reads
    diff tokens the `commit_diff_tokens` the features stage wrote; labelled commits listed in
    `oof_path` get their out-of-fold layer, flagged `is_oof`.
    """
    from mining.text_features import texts_from_db

    store.require_rows(con, "commit_features", "features")
    model = model or load_model()
    # beside the full model, the shipped diff-only one (no message features) fills layer_diff_only
    diff_only = (
        load_model(variant="diff-only") if model.meta.get("variant", "full") == "full" else None
    )
    oof = read_oof(oof_path) if oof_path is not None else None
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
        wanted_texts = [
            t
            for t in TEXT_COLUMNS
            if t in model.text_columns or (diff_only is not None and t in diff_only.text_columns)
        ]
        if wanted_texts:
            texts = texts_from_db(con, repo, list(frame["sha"]), wanted_texts)
            frame = frame.merge(texts, on="sha", how="left")
        pred = apply_oof(classify_frame(frame, model), oof, model.meta.get("variant", "full"))
        if diff_only is not None:  # the study's message-style sensitivity reads both layers
            other = apply_oof(classify_frame(frame, diff_only), oof, "diff-only")
            pred["layer_diff_only"] = pred[["sha"]].merge(other[["sha", "layer"]], on="sha")[
                "layer"
            ]
        pred["model_version"] = model.version
        pred["is_fix"] = pred["is_fix"].astype(bool)
        with store.transaction(con):
            counts[repo] = store.replace_repo_rows(con, "commit_layers", repo, pred)
    return counts
