"""The pre-declared experiment of experiments/message_half.md: the full and diff-only models'
out-of-fold probabilities averaged, scored the way `strata evaluate` scores (1/pi weights,
standardised accuracy, repository bootstrap). Reads committed files only:
data/labels/oof_predictions.csv, ai_status.csv and features.parquet.

    .venv/bin/python experiments/message_half.py
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mining import classify, evaluate
from mining.classify import LAYERS

PROBS = [f"p_{layer}" for layer in LAYERS]


def _row(name: str, pred: np.ndarray, data: dict) -> str:
    """One table row: macro-F1 [CI], per-layer F1, architectural recall per size band,
    standardised accuracy AI / human (gap), AI boilerplate recall."""
    y, w, g, ai, bands = (data[k] for k in ("y", "w", "g", "ai", "bands"))
    s = evaluate.scores(y, pred, w)
    lo, hi = evaluate.cluster_interval(y, pred, w, g)["macro_f1"]
    sa, sh, _ = evaluate.standardised_gap(y, pred, w, ai)
    bp = ai & (y == "boilerplate")
    bp_recall = (w[bp] * (pred[bp] == "boilerplate")).sum() / w[bp].sum()
    recall = []
    for band in evaluate.SIZE_BAND_NAMES:
        m = (bands == band) & (y == "architectural")
        hit = (w[m] * (pred[m] == "architectural")).sum() / w[m].sum() if m.any() else np.nan
        recall.append(f"{hit:.2f} ({m.sum()})")
    f1 = " / ".join(f"{s['per_layer'][layer]['f1']:.3f}" for layer in LAYERS)
    return (
        f"| {name} | {s['macro_f1']:.4f} [{lo:.3f}, {hi:.3f}] | {f1} | {', '.join(recall)} "
        f"| {sa:.3f} / {sh:.3f} ({100 * (sa - sh):+.1f}) | {bp_recall:.3f} |"
    )


def design(oof: pd.DataFrame) -> dict:
    """What `_row` scores against, per OOF row: true layer, unit-mean 1/pi weight, repository,
    AI status (committed ai_status.csv), size band (committed features' churn)."""
    status = evaluate.read_ai_status()
    feats = pd.read_parquet("data/labels/features.parquet", columns=["repo", "sha", "churn"])
    churn = oof[["repo", "sha"]].merge(feats, on=["repo", "sha"], how="left")["churn"]
    y = oof["true"].to_numpy(object)
    w = classify.unit_mean(oof["weight"].to_numpy(float), len(oof))
    return {
        "y": y,
        "w": w,
        "g": oof["repo"].to_numpy(),
        "ai": oof[["repo", "sha"]]
        .merge(status, on=["repo", "sha"], how="left")["ai"]
        .fillna(False)
        .to_numpy(bool),
        "bands": evaluate.size_band(churn.to_numpy(float)),
    }


def main() -> None:
    oof = pd.read_csv("data/labels/oof_predictions.csv")
    data = design(oof)
    y, w = data["y"], data["w"]
    full = oof["layer"].to_numpy(object)
    diff_only = oof["layer_diff_only"].to_numpy(object)
    p_full = oof[PROBS].to_numpy()
    p_diff = oof[[f"{c}_diff_only" for c in PROBS]].to_numpy()
    same = (classify.argmax_layers(p_full) == full).all()
    same &= (classify.argmax_layers(p_diff) == diff_only).all()
    print(f"main's layers are the argmax of its stored probabilities: {bool(same)}")
    half = classify.argmax_layers((p_full + p_diff) / 2)
    print(
        "| run | macro-F1 [95% CI] | B / R / F / A F1 | arch recall by size band (labels) "
        "| std acc AI / human (gap) | AI boilerplate recall |"
    )
    print("|---|---|---|---|---|---|")
    for name, pred in (("full (main)", full), ("diff-only (main)", diff_only), ("half", half)):
        print(_row(name, pred, data))
    g = data["g"]
    repos = np.unique(g)
    idx = {r: np.flatnonzero(g == r) for r in repos}
    rng = np.random.default_rng(0)
    draws = [np.concatenate([idx[r] for r in rng.choice(repos, len(repos))]) for _ in range(2000)]

    def gain(s: np.ndarray | slice) -> float:
        return classify.weighted_macro_f1(y[s], half[s], w[s]) - classify.weighted_macro_f1(
            y[s], full[s], w[s]
        )

    lo, hi = np.percentile([gain(s) for s in draws], [2.5, 97.5])
    print(
        f"paired repository bootstrap, half - full macro-F1: {gain(slice(None)):+.4f} "
        f"[{lo:+.4f}, {hi:+.4f}]"
    )


if __name__ == "__main__":
    main()
