"""Held-out checks: frozen models scored on labels that were made after the models were frozen.

Why: cross-validation reuses one labelled set for every choice ever measured on it, so its score
carries some selection optimism (docs/classifier.md). A labelling round drawn from repositories
no earlier round drew from, and labelled after the shipped models were frozen and their
predictions stored, measures the models where they will be used. The predictions are kept,
content-free, as `data/labels/heldout/round<N>_frozen_predictions.csv` (`repo, sha, model,
layer, p_*, is_fix`: `strata classify --repo --shas` output, one block per model; beside it
`round<N>_frozen_models.json` names the frozen models), so anyone can
recompute the check; `strata evaluate` scores every such file against labels.csv's rows of round
N, weighted by that round's own inclusion probabilities (`pi_r<N>`), and reports it under
`heldout` in evaluation.json.

A round that joins labels.csv afterwards measures a model that is no longer shipped. A *standing*
round keeps its labels beside its predictions instead (`round<N>_labels.csv`: repo, sha, layer,
flags, agreement, stratum, `pi` of that round and the commit's `ai` status, content-free) and never
joins the training set, so it goes on measuring the model it froze, on repositories no model was
trained on; a standing round whose commits also sit in labels.csv is refused.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mining.errors import StageError

HELDOUT_DIR = Path("data/labels/heldout")
_FILE = re.compile(r"^round(\d+)_frozen_predictions\.csv$")
_STANDING = re.compile(r"^round(\d+)_labels\.csv$")


def prediction_files(folder: Path = HELDOUT_DIR) -> dict[int, Path]:
    """round -> its frozen predictions file, for every `round<N>_frozen_predictions.csv`."""
    if not folder.is_dir():
        return {}
    found = {int(m.group(1)): p for p in folder.iterdir() if (m := _FILE.match(p.name))}
    return dict(sorted(found.items()))


def standing_labels(folder: Path = HELDOUT_DIR) -> dict[int, pd.DataFrame]:
    """round -> the labels of a standing held-out round (`round<N>_labels.csv`), with `round`
    set to N; each needs a positive `pi` (that round's own) and an `ai` column."""
    if not folder.is_dir():
        return {}
    out: dict[int, pd.DataFrame] = {}
    for path in sorted(folder.iterdir()):
        if not (m := _STANDING.match(path.name)):
            continue
        try:
            rows = pd.read_csv(path, dtype={"repo": str, "sha": str})
        except (OSError, ValueError) as exc:
            raise StageError(f"{path}: not readable as CSV ({exc})") from exc
        need = {"repo", "sha", "layer", "pi", "ai"}
        if not need <= set(rows.columns):
            raise StageError(f"{path}: needs columns {', '.join(sorted(need))}")
        if not (pd.to_numeric(rows["pi"], errors="coerce") > 0).all():
            raise StageError(f"{path}: needs a positive pi on every row")
        rows["round"] = int(m.group(1))
        rows["ai"] = rows["ai"].astype(str).str.lower().isin(["1", "true", "yes"])
        out[int(m.group(1))] = rows
    return out


def frozen_models(predictions: Path) -> dict[str, Any]:
    """The sidecar `round<N>_frozen_models.json` of a predictions file: per model, the frozen
    model's version, training size and cross-validated scores (empty when absent)."""
    sidecar = predictions.with_name(predictions.name.replace("_predictions.csv", "_models.json"))
    if not sidecar.is_file():
        return {}
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise StageError(f"{sidecar}: not readable as JSON ({exc})") from exc
    return data if isinstance(data, dict) else {}


def score_round(
    labels: pd.DataFrame, preds: pd.DataFrame, ai: pd.DataFrame | None, where: str
) -> dict[str, dict[str, Any]]:
    """Per model in `preds`: the scores `strata evaluate` reports for a group (macro-F1 with a
    repository-bootstrap interval, accuracy, per-layer F1) and the AI / human accuracy
    standardised to the round's pooled layer mix, each difference with its repository-bootstrap
    interval (the full model also gets its macro-F1 minus the diff-only model's, on the same
    draws). `labels` carries the weights' `pi`."""
    from mining import classify, evaluate

    out: dict[str, dict[str, Any]] = {}
    predicted: dict[str, np.ndarray] = {}
    for model, p in preds.groupby("model", sort=True):
        d = labels.merge(
            p[["repo", "sha", "layer"]].rename(columns={"layer": "pred"}),
            on=["repo", "sha"],
            how="left",
        )
        missing = int(d["pred"].isna().sum())
        if missing:
            raise StageError(
                f"{where}: model {model!r} has no prediction for {missing} labelled commits"
            )
        # the labels' columns: the same rows, in the same order, for every model
        y, pred = d["layer"].to_numpy(object), d["pred"].to_numpy(object)
        w = classify.unit_mean(1.0 / d["pi"].to_numpy(float), len(d))
        groups = d["repo"].to_numpy(object)
        s = evaluate.scores(y, pred, w)
        row: dict[str, Any] = {
            "n": s["n"],
            "repositories": len(set(groups)),
            "macro_f1": s["macro_f1"],
            "macro_f1_ci": evaluate.cluster_interval(y, pred, w, groups, n_boot=2000)["macro_f1"],
            "accuracy": s["accuracy"],
            "per_layer_f1": {k: v["f1"] for k, v in s["per_layer"].items()},
            "labelled": {k: v["support"] for k, v in s["per_layer"].items()},
        }
        if ai is not None:
            flags = d[["repo", "sha"]].merge(ai, on=["repo", "sha"], how="left")["ai"]
            if flags.notna().all():
                is_ai = flags.astype(bool).to_numpy()
                sa, sh, gap = evaluate.standardised_gap(y, pred, w, is_ai)
                row["n_ai"] = int(is_ai.sum())
                row["standardised_accuracy_ai"] = sa
                row["standardised_accuracy_human"] = sh
                if gap is not None:
                    row["standardised_accuracy_gap_ai_minus_human"] = gap
                    row["standardised_accuracy_gap_ci"] = evaluate.gap_interval(
                        y, pred, w, is_ai, groups
                    )
        out[str(model)] = row
        predicted[str(model)] = pred
    if {"full", "diff-only"} <= set(predicted):
        full, diff = predicted["full"], predicted["diff-only"]
        out["full"]["diff_only_macro_f1_drop"] = round(
            out["full"]["macro_f1"] - out["diff-only"]["macro_f1"], 4
        )
        out["full"]["diff_only_macro_f1_drop_ci"] = evaluate.drop_interval(
            y, (full, diff), w, groups
        )
    return out


def heldout_checks(
    labels: pd.DataFrame, ai: pd.DataFrame | None, folder: Path = HELDOUT_DIR
) -> dict[str, dict[str, Any]]:
    """`round<N>` -> its source file, whether it is standing, and per model scores, for every
    frozen predictions file in `folder` whose round has labels (in labels.csv, or standing in
    `folder`). The weights are the round's own (`pi_r<N>`, else `pi`), since the check is of
    that draw alone."""
    standing = standing_labels(folder)
    trained = set(zip(labels["repo"], labels["sha"], strict=True))
    for rnd, rows in standing.items():
        both = trained & set(zip(rows["repo"], rows["sha"], strict=True))
        if both:
            raise StageError(
                f"{folder / f'round{rnd}_labels.csv'}: a standing held-out round, but "
                f"{len(both)} of its commits are also in the training labels"
            )
    rounds = (
        pd.to_numeric(labels["round"], errors="coerce")
        if "round" in labels
        else pd.Series(float("nan"), index=labels.index)
    )
    out: dict[str, dict[str, Any]] = {}
    for rnd, path in prediction_files(folder).items():
        rows = labels[rounds == rnd].copy()
        round_ai = ai
        if rnd in standing:
            rows, round_ai = standing[rnd].copy(), standing[rnd][["repo", "sha", "ai"]]
        if rows.empty:
            continue
        col = f"pi_r{rnd}" if f"pi_r{rnd}" in rows else "pi"
        pi = pd.to_numeric(rows[col], errors="coerce") if col in rows else None
        if pi is None or not (pi > 0).all():
            raise StageError(f"{path}: labels of round {rnd} need a positive {col} column")
        rows["pi"] = pi
        models = score_round(rows, read_predictions(path), round_ai, str(path))
        _attach_frozen(models, frozen_models(path))
        out[f"round{rnd}"] = {"source": str(path), "standing": rnd in standing, "models": models}
    return out


def read_predictions(path: Path) -> pd.DataFrame:
    """A frozen predictions file, checked for the columns a check reads."""
    try:
        preds = pd.read_csv(path, dtype={"repo": str, "sha": str})
    except (OSError, ValueError) as exc:
        raise StageError(f"{path}: not readable as CSV ({exc})") from exc
    need = {"repo", "sha", "model", "layer"}
    if not need <= set(preds.columns):
        raise StageError(f"{path}: needs columns {', '.join(sorted(need))}")
    return preds


def _attach_frozen(models: dict[str, dict[str, Any]], frozen: dict[str, Any]) -> None:
    for model, meta in frozen.items():
        if model in models and isinstance(meta, dict):
            models[model]["frozen_model"] = meta


def standing_pool(folder: Path = HELDOUT_DIR) -> dict[str, Any]:
    """The standing rounds scored as one held-out set, when two or more of them froze the same
    full model: one draw per round from disjoint repositories, so their own 1/pi weights carry
    the pooled rows to the union of their frames, and the interval narrows with the
    repositories. Empty when there is nothing to pool."""
    standing, files = standing_labels(folder), prediction_files(folder)
    rounds = [r for r in standing if r in files]
    frozen = {r: frozen_models(files[r]) for r in rounds}
    versions = {str((frozen[r].get("full") or {}).get("version")) for r in rounds}
    if len(rounds) < 2 or len(versions) != 1:
        return {}
    rows = pd.concat([standing[r] for r in rounds], ignore_index=True)
    preds = pd.concat([read_predictions(files[r]) for r in rounds], ignore_index=True)
    where = ", ".join(str(files[r]) for r in rounds)
    models = score_round(rows, preds, rows[["repo", "sha", "ai"]], where)
    _attach_frozen(models, frozen[rounds[0]])
    return {"rounds": rounds, "models": models}
