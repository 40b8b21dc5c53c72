"""The pre-declared experiment of experiments/group_balance.md: inside each layer, AI-evidenced and
other training commits get equal total fitting weight (each layer's total unchanged).

    # 1. the evaluation with those fitting weights (outputs outside the tracked files)
    STRATA_MIRRORS=/work/.mirror .venv/bin/python experiments/group_balance.py run
    # 2. the rows against main's committed evaluation, and the decision rule
    .venv/bin/python experiments/group_balance.py compare
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

from mining import classify, evaluate

OUT = Path("/tmp/groupbal")


def group_balanced(layers: np.ndarray, ai: np.ndarray) -> np.ndarray:
    """N_y / (2 * N_{g,y}) per commit: each layer keeps its total weight, split equally between
    the AI-evidenced commits and the others; a layer with one group only keeps weight 1."""
    out = np.ones(len(layers))
    for layer in set(layers.tolist()):
        in_layer = layers == layer
        n_y = int(in_layer.sum())
        cells = [in_layer & ai, in_layer & ~ai]
        if all(c.any() for c in cells):
            for cell in cells:
                out[cell] = n_y / (2 * int(cell.sum()))
    return out


def run() -> None:
    status = evaluate.read_ai_status()
    assert status is not None, "data/labels/ai_status.csv is missing"
    fit_labelled = evaluate.fit_labelled
    current: dict[str, np.ndarray] = {}

    def fit_labelled_balanced(frame: pd.DataFrame, *args, **kwargs):  # type: ignore[no-untyped-def]
        ai = frame[["repo", "sha"]].merge(status, on=["repo", "sha"], how="left", validate="1:1")
        assert ai["ai"].notna().all(), "labelled commits without AI status"
        flags = ai["ai"].astype(bool).to_numpy()
        current["w"] = group_balanced(frame["layer"].astype(str).to_numpy(object), flags)
        w = current["w"]
        print(
            f"fit on {len(frame)} commits, AI-evidenced {flags.sum()}; weight range "
            f"{w.min():.3f}-{w.max():.3f}, sum {w.sum():.1f}",
            file=sys.stderr,
            flush=True,
        )
        return fit_labelled(frame, *args, **kwargs)

    def fit_weights(w: np.ndarray) -> np.ndarray:
        assert len(w) == len(current["w"]), "fit_weights called on other rows than the fit's"
        return current["w"]

    evaluate.fit_labelled = fit_labelled_balanced
    classify.fit_weights = fit_weights
    from nested_c import run_branch

    run_branch(OUT)


def compare() -> None:
    from nested_c import compare as compare_runs

    reports, _, _, heads = compare_runs(
        OUT / "report" / "evaluation.json", OUT / "oof_predictions.csv"
    )
    full_m, full_b = heads["full", "main"], heads["full", "branch"]
    per_layer = reports["branch"]["classifier"]["per_layer"]
    report = {k: per_layer[k]["f1"] for k in ("architectural", "refactor")}
    rule = {
        "1. |AI - human standardised gap| shrinks >= 2 points": abs(full_m["gap_points"])
        - abs(full_b["gap_points"])
        >= 2,
        "2. full macro-F1 branch - main >= -0.005": full_b["macro_f1"] - full_m["macro_f1"]
        >= -0.005,
        "3. full architectural and refactor F1 >= 0.55": min(
            report["architectural"], report["refactor"]
        )
        >= 0.55,
    }
    print("\ndecision rule (experiments/group_balance.md):")
    for name, ok in rule.items():
        print(f"- {name}: {ok}")
    print(f"=> {'ship' if all(rule.values()) else 'do not ship'}")


if __name__ == "__main__":
    from nested_c import run_or_compare

    run_or_compare(__doc__.splitlines()[0], run, compare)
