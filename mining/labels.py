"""Merge blind annotations of the labelled dev set: agreement, disagreements, adjudicated labels.

Why here: the dev set is the classifier's yardstick, so its reliability (Cohen's kappa between
independent annotators) must be computed the same way every time and stored next to the labels.
Inputs are content-free CSVs: annotator files `packet_id,layer,is_fix,docs_or_tests_only,
confidence`, the key `packet_id,repo,sha,...` and an optional adjudication file with the same
label columns for the packets the annotators disagreed on.

    python -m mining.labels --key key.csv --annotator a=a1.csv,a2.csv --annotator b=b1.csv \
        [--adjudication adj.csv] [--disagreements dis.csv] [--out data/labels/labels.csv] \
        [--report data/labels/agreement.json]
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mining.errors import LabelError, StrataError
from mining.vocabulary import LAYERS

FIELDS = ("layer", "is_fix", "docs_or_tests_only")
ANNOTATION_COLUMNS = ("packet_id", "layer", "is_fix", "docs_or_tests_only", "confidence")
LABEL_COLUMNS = ("repo", "sha", "layer", "is_fix", "docs_or_tests_only", "agreement")
#: out-of-fold predictions of every labelled commit: `strata evaluate` writes them; the classify
#: stage and the analysis read them. The one definition of this path.
OOF_PREDICTIONS = Path("data/labels/oof_predictions.csv")
LABELS_CSV = Path("data/labels/labels.csv")
"""The labelled commits (repo, sha, layer, is_fix, ...): what evaluate trains on, the study reads."""
LABEL_FEATURES = Path("data/labels/features.parquet")
"""The stored features of the labelled commits (evaluate computes missing ones from mirrors)."""
AI_STATUS = Path("data/labels/ai_status.csv")
"""repo, sha, ai of the labelled commits: evaluate's AI vs human split."""

Label = dict[str, str]  # field -> value for one packet


def cohen_kappa(a: Sequence[str], b: Sequence[str]) -> float:
    """Cohen's kappa of two raters over the same items: (p_o - p_e) / (1 - p_e).

    Returns 1.0 when both raters use one identical category throughout (p_e = 1, perfect
    agreement), and nan for no items.
    """
    if len(a) != len(b):
        raise LabelError(f"kappa needs paired ratings: {len(a)} vs {len(b)} items")
    n = len(a)
    if n == 0:
        return float("nan")
    p_o = sum(x == y for x, y in zip(a, b, strict=True)) / n
    ca, cb = Counter(a), Counter(b)
    p_e = sum(ca[k] * cb[k] for k in set(ca) | set(cb)) / (n * n)
    if p_e == 1.0:
        return 1.0 if p_o == 1.0 else 0.0
    return (p_o - p_e) / (1 - p_e)


def _norm_flag(value: str, where: str) -> str:
    v = value.strip().lower()
    if v in {"1", "true", "yes", "y"}:
        return "1"
    if v in {"0", "false", "no", "n"}:
        return "0"
    raise LabelError(f"{where}: flag must be 0 or 1, got {value!r}")


def _norm_label(row: dict[str, str], where: str) -> Label:
    layer = (row.get("layer") or "").strip().lower()
    if layer not in LAYERS:
        raise LabelError(f"{where}: layer must be one of {', '.join(LAYERS)}, got {layer!r}")
    return {
        "layer": layer,
        "is_fix": _norm_flag(row.get("is_fix") or "", where),
        "docs_or_tests_only": _norm_flag(row.get("docs_or_tests_only") or "", where),
    }


def _packet_id(value: str, where: str) -> str:
    """Packet ids are digits (round 1: `001`) or a round letter and digits (round 2: `Q0001`)."""
    v = value.strip()
    prefix = v[:1] if v[:1].isalpha() else ""
    digits = v[len(prefix) :]
    if not digits.isdigit():
        raise LabelError(
            f"{where}: packet_id must be digits after an optional letter, got {value!r}"
        )
    return f"{prefix.upper()}{int(digits):0{4 if prefix else 3}d}"


def read_labels(
    paths: Sequence[Path], *, required: Sequence[str] = ("packet_id", *FIELDS)
) -> dict[str, Label]:
    """Read one annotator's (or the adjudicator's) CSV files into packet_id -> label.

    A packet labelled twice with different labels is an error; an identical repeat is tolerated
    (annotators appending after a restart).
    """
    out: dict[str, Label] = {}
    for path in paths:
        try:
            fh = open(path, newline="", encoding="utf-8")
        except OSError as err:
            raise LabelError(f"{path}: cannot read annotation file ({err.strerror})") from err
        with fh:
            rows = [r for r in csv.reader(fh) if r and any(c.strip() for c in r)]
        if not rows:
            continue
        header = [h.strip().lower() for h in rows[0]]
        missing = [c for c in required if c not in header]
        if missing:
            raise LabelError(f"{path}: missing column(s) {', '.join(missing)} in header {rows[0]}")
        for lineno, values in enumerate(rows[1:], start=2):
            where = f"{path}:{lineno}"
            if len(values) < len(header):
                raise LabelError(f"{where}: expected {len(header)} columns, got {len(values)}")
            row = dict(zip(header, values[: len(header)], strict=True))
            pid = _packet_id(row["packet_id"], where)
            label = _norm_label(row, where)
            if pid in out and out[pid] != label:
                raise LabelError(f"{where}: packet {pid} labelled twice with different labels")
            out[pid] = label
    return out


def read_key(path: Path) -> dict[str, tuple[str, str]]:
    """packet_id -> (repo, sha) from the sampling key."""
    try:
        fh = open(path, newline="", encoding="utf-8")
    except OSError as err:
        raise LabelError(f"{path}: cannot read key file ({err.strerror})") from err
    with fh:
        reader = csv.DictReader(fh)
        if not reader.fieldnames or not {"packet_id", "repo", "sha"} <= set(reader.fieldnames):
            raise LabelError(f"{path}: key needs columns packet_id, repo, sha")
        return {_packet_id(r["packet_id"], f"{path}"): (r["repo"], r["sha"]) for r in reader}


@dataclass(frozen=True)
class PairAgreement:
    """Agreement of two annotators on the packets both labelled."""

    a: str
    b: str
    n: int
    kappa: dict[str, float]
    observed: dict[str, float]
    layer_confusion: dict[str, dict[str, int]]  # a's layer -> b's layer -> count


def pair_agreement(
    name_a: str, la: dict[str, Label], name_b: str, lb: dict[str, Label]
) -> PairAgreement:
    """Kappa and raw agreement per field, plus the layer confusion table, over shared packets."""
    common = sorted(set(la) & set(lb))
    kappa, observed = {}, {}
    for f in FIELDS:
        xa = [la[p][f] for p in common]
        xb = [lb[p][f] for p in common]
        kappa[f] = cohen_kappa(xa, xb)
        observed[f] = (
            sum(x == y for x, y in zip(xa, xb, strict=True)) / len(common)
            if common
            else float("nan")
        )
    conf = {x: {y: 0 for y in LAYERS} for x in LAYERS}
    for p in common:
        conf[la[p]["layer"]][lb[p]["layer"]] += 1
    return PairAgreement(name_a, name_b, len(common), kappa, observed, conf)


def layer_kappa_detail(
    la: dict[str, Label], lb: dict[str, Label], strata: dict[str, str] | None = None
) -> dict[str, object]:
    """Layer kappa one-vs-rest per layer, and per sampling stratum where the key names one.

    Why: a pooled kappa hides a rare layer or an enriched stratum that annotators find harder;
    issue 11 asks for agreement per layer and per stratum.
    """
    common = sorted(set(la) & set(lb))
    per_layer = {
        lay: cohen_kappa(
            [str(la[p]["layer"] == lay) for p in common],
            [str(lb[p]["layer"] == lay) for p in common],
        )
        for lay in LAYERS
    }
    out: dict[str, object] = {"per_layer_kappa": per_layer}
    if strata:
        groups: dict[str, list[str]] = {}
        for p in common:
            for stratum in strata.get(p, "").split("+"):
                groups.setdefault(stratum or "unknown", []).append(p)
        out["per_stratum_kappa"] = {
            g: {
                "n": len(ps),
                "layer_kappa": cohen_kappa(
                    [la[p]["layer"] for p in ps], [lb[p]["layer"] for p in ps]
                ),
            }
            for g, ps in sorted(groups.items())
        }
    return out


def read_strata(path: Path) -> dict[str, str]:
    """packet_id -> sampling stratum, when the key has a `stratum` column (else empty)."""
    with open(path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if "stratum" not in (reader.fieldnames or []):
            return {}
        return {_packet_id(r["packet_id"], f"{path}"): r["stratum"] for r in reader}


def disagreements(annotations: dict[str, dict[str, Label]]) -> list[dict[str, str]]:
    """One row per packet where labelled annotators differ on any field (for adjudication)."""
    names = sorted(annotations)
    packets = sorted(set().union(*(set(v) for v in annotations.values())))
    rows = []
    for p in packets:
        labels = {n: annotations[n][p] for n in names if p in annotations[n]}
        fields = [f for f in FIELDS if len({lab[f] for lab in labels.values()}) > 1]
        if fields:
            row = {"packet_id": p, "fields": ";".join(fields)}
            for n in names:
                lab = labels.get(n)
                row[n] = "" if lab is None else "/".join(lab[f] for f in FIELDS)
            rows.append(row)
    return rows


def merge_labels(
    key: dict[str, tuple[str, str]],
    annotations: dict[str, dict[str, Label]],
    adjudication: dict[str, Label] | None = None,
) -> list[dict[str, str]]:
    """Final label per key packet: the annotators' unanimous label, else the adjudicated one.

    Raises LabelError naming the packets that some annotator skipped or whose disagreement is not
    adjudicated, so an incomplete dev set is never written silently.
    """
    adjudication = adjudication or {}
    unknown = sorted(set().union(*(set(v) for v in annotations.values())) - set(key))
    if unknown:
        raise LabelError(f"annotations for packets not in the key: {', '.join(unknown[:10])}")
    missing = sorted(p for p in key for n in annotations if p not in annotations[n])
    if missing:
        raise LabelError(f"{len(missing)} packet labels missing, e.g. {', '.join(missing[:10])}")
    rows, unresolved = [], []
    for p in sorted(key):
        labels = [annotations[n][p] for n in sorted(annotations)]
        if all(lab == labels[0] for lab in labels):
            final, agreement = labels[0], "agreed"
        elif p in adjudication:
            final, agreement = adjudication[p], "adjudicated"
        else:
            unresolved.append(p)
            continue
        repo, sha = key[p]
        rows.append({"repo": repo, "sha": sha, **final, "agreement": agreement})
    if unresolved:
        raise LabelError(
            f"{len(unresolved)} disagreements not adjudicated, e.g. {', '.join(unresolved[:10])}"
        )
    return sorted(rows, key=lambda r: (r["repo"], r["sha"]))


def write_csv(path: Path, rows: list[dict[str, str]], columns: Sequence[str]) -> None:
    """Write rows with a fixed column order (creates the parent directory)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        w = csv.DictWriter(fh, fieldnames=list(columns), lineterminator="\n")
        w.writeheader()
        w.writerows(rows)


def run(
    key_path: Path,
    annotator_files: dict[str, list[Path]],
    *,
    adjudication_path: Path | None = None,
    out: Path | None = None,
    disagreements_out: Path | None = None,
    report: Path | None = None,
) -> dict[str, Any]:
    """Whole pipeline; returns the agreement report (also written to `report` when given)."""
    if len(annotator_files) < 2:
        raise LabelError("need at least two annotators to measure agreement")
    key = read_key(key_path)
    annotations = {n: read_labels(fs) for n, fs in annotator_files.items()}
    pairs = [
        pair_agreement(a, annotations[a], b, annotations[b])
        for a, b in itertools.combinations(sorted(annotations), 2)
    ]
    dis = disagreements(annotations)
    if disagreements_out is not None:
        write_csv(disagreements_out, dis, ["packet_id", "fields", *sorted(annotations)])
    result: dict[str, Any] = {
        "n_key": len(key),
        "n_labelled": {n: len(v) for n, v in annotations.items()},
        "n_disagreements": len(dis),
        "pairs": [p.__dict__ for p in pairs],
    }
    if len(annotations) == 2:
        a, b = sorted(annotations)
        result |= layer_kappa_detail(annotations[a], annotations[b], read_strata(key_path))
    if out is not None:
        adjudication = read_labels([adjudication_path]) if adjudication_path else None
        rows = merge_labels(key, annotations, adjudication)
        write_csv(out, rows, LABEL_COLUMNS)
        result["n_final"] = len(rows)
        result["final_agreement"] = dict(Counter(r["agreement"] for r in rows))
        result["final_layers"] = dict(Counter(r["layer"] for r in rows))
    if report is not None:
        report.parent.mkdir(parents=True, exist_ok=True)
        report.write_text(json.dumps(result, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return result


def _parse_annotator(spec: str) -> tuple[str, list[Path]]:
    name, sep, files = spec.partition("=")
    if not sep or not name or not files:
        raise LabelError(f"--annotator {spec!r}: expected NAME=FILE[,FILE...]")
    return name, [Path(f) for f in files.split(",") if f]


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m mining.labels`: print per-pair kappa; write disagreements and final labels."""
    ap = argparse.ArgumentParser(prog="python -m mining.labels", description=__doc__.split("\n")[0])
    ap.add_argument("--key", type=Path, required=True)
    ap.add_argument("--annotator", action="append", default=[], help="NAME=FILE[,FILE...]")
    ap.add_argument("--adjudication", type=Path)
    ap.add_argument("--disagreements", type=Path, help="write disagreements CSV here")
    ap.add_argument(
        "--out", type=Path, help="write final labels CSV (needs all disagreements adjudicated)"
    )
    ap.add_argument("--report", type=Path, help="write agreement report JSON here")
    args = ap.parse_args(argv)
    try:
        annotators = dict(_parse_annotator(s) for s in args.annotator)
        res = run(
            args.key,
            annotators,
            adjudication_path=args.adjudication,
            out=args.out,
            disagreements_out=args.disagreements,
            report=args.report,
        )
    except StrataError as err:
        print(f"mining.labels: error: {err}", file=sys.stderr)
        return err.exit_code
    for p in res["pairs"]:
        ks = ", ".join(f"{f}={p['kappa'][f]:.3f}" for f in FIELDS)
        print(f"{p['a']} vs {p['b']}: n={p['n']} kappa {ks}")
    print(f"disagreements: {res['n_disagreements']}")
    if "n_final" in res:
        print(f"final labels: {res['n_final']} {res['final_agreement']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
