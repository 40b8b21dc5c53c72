"""The pre-declared experiment of experiments/nested_c.md: the linear bases' C chosen inside the
training folds, scored against main's committed evaluation the way `strata evaluate` scores
(1/pi weights, standardised accuracy, repository bootstrap), rows as in message_half.py.

Reads main's committed reports/classifier/evaluation.json and data/labels/oof_predictions.csv,
and the branch run's evaluation.json and OOF file (written outside the tracked files):

    .venv/bin/python experiments/nested_c.py --report /tmp/nestedc/report/evaluation.json \
        --oof /tmp/nestedc/oof_predictions.csv
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
from message_half import _row, design

from mining import classify, evaluate

MAIN_REPORT = Path("reports/classifier/evaluation.json")
MAIN_OOF = Path("data/labels/oof_predictions.csv")
#: the report's key and the OOF file's column suffix of each variant
VARIANTS = {"full": ("classifier", ""), "diff-only": ("diff_only", "_diff_only")}


def run_branch(out: Path) -> None:
    """`strata evaluate` in-process as an experiment runs it after patching the procedure: the
    same labels, features and folds, learning curve off, every output under `out` (the
    report in out/report, the OOF file out/oof_predictions.csv), none over the tracked files."""
    import sys

    evaluate.run(
        out_dir=out / "report",
        oof_path=out / "oof_predictions.csv",
        doc=None,
        learning_curve=False,
        progress=lambda m: print(m, file=sys.stderr, flush=True),
    )


def paired_gain(
    data: dict, branch: np.ndarray, main: np.ndarray, n_boot: int = 2000
) -> tuple[float, float, float]:
    """Branch - main weighted macro-F1, and its 95% interval over repository bootstrap draws
    (the same draws for both, so the repositories' difficulty cancels)."""
    y, w, g = data["y"], data["w"], data["g"]

    def gain(s: np.ndarray | slice) -> float:
        return classify.weighted_macro_f1(y[s], branch[s], w[s]) - classify.weighted_macro_f1(
            y[s], main[s], w[s]
        )

    lo_hi = evaluate.repo_bootstrap(gain, g, n_boot)
    assert lo_hi is not None  # macro-F1 is defined on every draw
    return gain(slice(None)), *lo_hi


def headline(data: dict, pred: np.ndarray) -> dict[str, float]:
    """What the decision rule reads: macro-F1, architectural F1, AI - human standardised gap."""
    y, w, ai = data["y"], data["w"], data["ai"]
    s = evaluate.scores(y, pred, w)
    gap = evaluate.standardised_gap(y, pred, w, ai)[2]
    return {
        "macro_f1": classify.weighted_macro_f1(y, pred, w),
        "architectural_f1": s["per_layer"]["architectural"]["f1"],
        "gap_points": 100 * gap,
    }


def compare(report: Path, oof: Path) -> tuple[dict, dict, dict, dict]:
    """Print main's and a branch run's rows and the paired bootstraps; return (reports, data,
    preds, heads) for the experiment's own lines. Checks both runs used the same labels and
    folds, and that each row's macro-F1 equals its run's evaluation.json."""
    main_oof = pd.read_csv(MAIN_OOF)
    branch_oof = main_oof[["repo", "sha"]].merge(
        pd.read_csv(oof), on=["repo", "sha"], how="left", validate="1:1"
    )
    assert (branch_oof["true"] == main_oof["true"]).all(), "the two OOF files differ in labels"
    assert (branch_oof["fold"] == main_oof["fold"]).all(), "the two runs used different folds"
    reports = {
        "main": json.loads(MAIN_REPORT.read_text()),
        "branch": json.loads(report.read_text()),
    }
    data = design(main_oof)
    print(
        "| run | macro-F1 [95% CI] | B / R / F / A F1 | arch recall by size band (labels) "
        "| std acc AI / human (gap) | AI boilerplate recall |"
    )
    print("|---|---|---|---|---|---|")
    preds, heads = {}, {}
    for variant, (key, suffix) in VARIANTS.items():
        for run, oof in (("main", main_oof), ("branch", branch_oof)):
            pred = oof[f"layer{suffix}"].to_numpy(object)
            preds[variant, run] = pred
            heads[variant, run] = headline(data, pred)
            stored = reports[run][key]["macro_f1"]
            assert abs(heads[variant, run]["macro_f1"] - stored) < 6e-5, (variant, run, stored)
            print(_row(f"{variant} ({run})", pred, data))
    print()
    for variant in VARIANTS:
        d, lo, hi = paired_gain(data, preds[variant, "branch"], preds[variant, "main"])
        print(
            f"paired repository bootstrap (2,000 draws), {variant} branch - main macro-F1: "
            f"{d:+.4f} [{lo:+.4f}, {hi:+.4f}]"
        )
    return reports, data, preds, heads


def decide(heads: dict, doc: str) -> bool:
    """The decision rule shared by the experiments that pre-declared it (nested_c.md,
    repo_relative.md): the full model's macro-F1 does not drop, and at least one secondary gain
    (architectural F1 +0.02, the AI-human standardised gap 2 points smaller, diff-only +0.01).
    Prints each condition and the verdict; returns whether to ship."""
    full_m, full_b = heads["full", "main"], heads["full", "branch"]
    diff_gain = heads["diff-only", "branch"]["macro_f1"] - heads["diff-only", "main"]["macro_f1"]
    rule = {
        "1. full macro-F1 branch - main >= 0": full_b["macro_f1"] - full_m["macro_f1"] >= 0,
        "2a. full architectural F1 gain >= 0.02": full_b["architectural_f1"]
        - full_m["architectural_f1"]
        >= 0.02,
        "2b. |AI - human standardised gap| shrinks >= 2 points": abs(full_m["gap_points"])
        - abs(full_b["gap_points"])
        >= 2,
        "2c. diff-only macro-F1 gain >= 0.01": diff_gain >= 0.01,
    }
    print(f"\ndecision rule ({doc}):")
    for name, ok in rule.items():
        print(f"- {name}: {ok}")
    ship = rule["1. full macro-F1 branch - main >= 0"] and any(
        ok for name, ok in rule.items() if name.startswith("2")
    )
    print(f"=> {'ship' if ship else 'do not ship'}")
    return ship


def compare_branch(out: Path, doc: str) -> bool:
    """Main against the branch run that `run_branch(out)` wrote, by the shared decision rule."""
    _, _, _, heads = compare(out / "report" / "evaluation.json", out / "oof_predictions.csv")
    return decide(heads, doc)


def run_or_compare(
    description: str, run: Callable[[], None], compare_step: Callable[[], None]
) -> None:
    """The command line of an experiment with two steps: `run` (the evaluation) and `compare`."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("step", choices=["run", "compare"])
    (run if ap.parse_args().step == "run" else compare_step)()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report", type=Path, default=Path("/tmp/nestedc/report/evaluation.json"))
    ap.add_argument("--oof", type=Path, default=Path("/tmp/nestedc/oof_predictions.csv"))
    args = ap.parse_args()
    reports, data, preds, heads = compare(args.report, args.oof)
    print(
        "\n| variant | outer fold | linear: C (inner macro-F1 at 0.1 / 0.3 / 1 / 3) | linear_text: C (same) |"
    )
    print("|---|---|---|---|")
    for variant, (key, _) in VARIANTS.items():
        for fold in reports["branch"][key]["chosen_per_fold"]:
            cells = []
            for rec in fold["linear_c"].values():  # linear, then linear_text
                inner = " / ".join(f"{v:.3f}" for v in rec["inner_macro_f1"].values())
                cells.append(f"{rec['C']:g} ({inner})")
            print(f"| {variant} | {fold['fold']} | {' | '.join(cells)} |")
    decide(heads, "experiments/nested_c.md")


if __name__ == "__main__":
    main()
