"""The pre-declared experiment of experiments/comment_words.md: a comment line's words read as
`#word` diff tokens, scored against main's committed evaluation the way `strata evaluate` scores
(1/pi weights, standardised accuracy, repository bootstrap), rows as in message_half.py, the
paired bootstrap as in nested_c.py.

Reads main's committed reports/classifier/evaluation.json and data/labels/oof_predictions.csv,
the branch run's evaluation.json and OOF file (written outside the tracked files), and the CPU
runs of experiments/comment_words_docs.py `dump` (condition 3 of the rule):

    .venv/bin/python experiments/comment_words.py --report /tmp/comments/report/evaluation.json \
        --oof /tmp/comments/oof_predictions.csv \
        --cpu-main /tmp/comments/crush_main_{1,2,3}.json \
        --cpu-branch /tmp/comments/crush_branch_{1,2,3}.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from nested_c import VARIANTS, compare


def cpu_ratio(main_runs: list[Path], branch_runs: list[Path]) -> tuple[float, list, list]:
    """Mean branch / mean main CPU of `diff_tokens` over the same commits, and the runs."""
    m, b = ([json.loads(p.read_text())["cpu_s"] for p in runs] for runs in (main_runs, branch_runs))
    return float(np.mean(b) / np.mean(m)), m, b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--report", type=Path, default=Path("/tmp/comments/report/evaluation.json"))
    ap.add_argument("--oof", type=Path, default=Path("/tmp/comments/oof_predictions.csv"))
    ap.add_argument("--cpu-main", type=Path, nargs="+", required=True)
    ap.add_argument("--cpu-branch", type=Path, nargs="+", required=True)
    args = ap.parse_args()
    _, _, _, heads = compare(args.report, args.oof)
    for variant in VARIANTS:
        print(
            f"{variant} AI - human standardised gap (points): main "
            f"{heads[variant, 'main']['gap_points']:+.1f}, branch "
            f"{heads[variant, 'branch']['gap_points']:+.1f}"
        )
    ratio, cpu_m, cpu_b = cpu_ratio(args.cpu_main, args.cpu_branch)
    print(
        f"diff_tokens CPU over 1,000 crush commits (s): main {' / '.join(f'{x:.3f}' for x in cpu_m)}"
        f", branch {' / '.join(f'{x:.3f}' for x in cpu_b)}; branch / main {ratio:.3f}"
    )
    full_m, full_b = heads["full", "main"], heads["full", "branch"]
    diff_gain = heads["diff-only", "branch"]["macro_f1"] - heads["diff-only", "main"]["macro_f1"]
    rule = {
        "1. full macro-F1 branch - main >= 0": full_b["macro_f1"] - full_m["macro_f1"] >= 0,
        "2a. diff-only macro-F1 gain >= 0.01": diff_gain >= 0.01,
        "2b. full architectural F1 gain >= 0.02": full_b["architectural_f1"]
        - full_m["architectural_f1"]
        >= 0.02,
        "2c. |AI - human standardised gap| shrinks >= 2 points": abs(full_m["gap_points"])
        - abs(full_b["gap_points"])
        >= 2,
        "3. diff-token CPU at most 10% more": ratio <= 1.10,
    }
    print("\ndecision rule (experiments/comment_words.md):")
    for name, ok in rule.items():
        print(f"- {name}: {ok}")
    ship = (
        rule["1. full macro-F1 branch - main >= 0"]
        and any(ok for name, ok in rule.items() if name.startswith("2"))
        and rule["3. diff-token CPU at most 10% more"]
    )
    print(f"=> {'ship' if ship else 'do not ship'}")


if __name__ == "__main__":
    main()
