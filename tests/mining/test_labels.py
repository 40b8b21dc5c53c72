"""Dev-set merging: kappa against a hand computation, adjudication, and refusal of gaps."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from sklearn.metrics import cohen_kappa_score

from mining.errors import LabelError
from mining.labels import cohen_kappa, disagreements, main, merge_labels, read_labels

# 10 packets; annotator b differs on packets 004 (boilerplate->feature) and 008 (feature->refactor)
A_LAYERS = ["boilerplate"] * 4 + ["feature"] * 4 + ["refactor", "architectural"]
B_LAYERS = ["boilerplate"] * 3 + ["feature"] * 4 + ["refactor"] * 2 + ["architectural"]
# by hand: p_o = 8/10; marginals a (B4 F4 R1 A1), b (B3 F4 R2 A1)
# p_e = (4*3 + 4*4 + 1*2 + 1*1) / 100 = 0.31; kappa = (0.8 - 0.31) / (1 - 0.31) = 0.49 / 0.69
HAND_KAPPA = 0.49 / 0.69


def _write(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    return path


def _annotator(path: Path, layers: list[str], fix_at: int | None = None) -> Path:
    rows = [[f"{i + 1:03d}", layer, int(i == fix_at), 0, 2] for i, layer in enumerate(layers)]
    return _write(path, ["packet_id", "layer", "is_fix", "docs_or_tests_only", "confidence"], rows)


def _key(path: Path, n: int = 10) -> Path:
    rows = [[f"{i + 1:03d}", "o/r", f"{i + 1:040x}", "ai" if i % 2 else "human"] for i in range(n)]
    return _write(path, ["packet_id", "repo", "sha", "ai_bucket"], rows)


def test_kappa_matches_hand_computation_and_sklearn() -> None:
    assert cohen_kappa(A_LAYERS, B_LAYERS) == pytest.approx(HAND_KAPPA, abs=1e-12)
    assert cohen_kappa(A_LAYERS, B_LAYERS) == pytest.approx(cohen_kappa_score(A_LAYERS, B_LAYERS))


def test_kappa_edge_cases() -> None:
    assert cohen_kappa(["feature"] * 5, ["feature"] * 5) == 1.0
    assert math.isnan(cohen_kappa([], []))
    # systematic disagreement is worse than chance
    assert cohen_kappa(["a", "b"] * 5, ["b", "a"] * 5) == pytest.approx(-1.0)
    with pytest.raises(LabelError, match="paired"):
        cohen_kappa(["a"], ["a", "b"])


def test_disagreements_and_merge_need_adjudication(tmp_path: Path) -> None:
    a = read_labels([_annotator(tmp_path / "a.csv", A_LAYERS, fix_at=4)])
    b = read_labels([_annotator(tmp_path / "b.csv", B_LAYERS, fix_at=4)])
    dis = disagreements({"a": a, "b": b})
    assert [d["packet_id"] for d in dis] == ["004", "008"]
    assert dis[0]["fields"] == "layer" and dis[0]["a"] == "boilerplate/0/0"
    key = {f"{i + 1:03d}": ("o/r", f"{i + 1:040x}") for i in range(10)}
    with pytest.raises(LabelError, match="2 disagreements not adjudicated"):
        merge_labels(key, {"a": a, "b": b})
    adj = {
        "004": {"layer": "feature", "is_fix": "0", "docs_or_tests_only": "0"},
        "008": {"layer": "refactor", "is_fix": "0", "docs_or_tests_only": "0"},
    }
    rows = merge_labels(key, {"a": a, "b": b}, adj)
    by_sha = {r["sha"]: r for r in rows}
    assert by_sha[f"{4:040x}"]["layer"] == "feature"
    assert by_sha[f"{4:040x}"]["agreement"] == "adjudicated"
    assert by_sha[f"{5:040x}"]["is_fix"] == "1"
    assert sum(r["agreement"] == "agreed" for r in rows) == 8


def test_missing_packet_is_refused(tmp_path: Path) -> None:
    a = read_labels([_annotator(tmp_path / "a.csv", A_LAYERS)])
    b = read_labels([_annotator(tmp_path / "b.csv", B_LAYERS[:9])])
    key = {f"{i + 1:03d}": ("o/r", f"{i + 1:040x}") for i in range(10)}
    with pytest.raises(LabelError, match="1 packet labels missing, e.g. 010"):
        merge_labels(key, {"a": a, "b": b}, {})


def test_bad_layer_names_the_line(tmp_path: Path) -> None:
    bad = _write(
        tmp_path / "bad.csv",
        ["packet_id", "layer", "is_fix", "docs_or_tests_only"],
        [["001", "feature", 0, 0], ["002", "chore", 0, 0]],
    )
    with pytest.raises(LabelError, match=r"bad\.csv:3: layer must be one of"):
        read_labels([bad])


def test_entry_point_writes_labels_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = _key(tmp_path / "key.csv")
    # annotator a split over two batch files, as the parallel annotator agents write them
    a1 = _annotator(tmp_path / "a1.csv", A_LAYERS[:5])
    a2 = _write(
        tmp_path / "a2.csv",
        ["packet_id", "layer", "is_fix", "docs_or_tests_only", "confidence"],
        [[f"{i + 1:03d}", A_LAYERS[i], 0, 0, 3] for i in range(5, 10)],
    )
    b = _annotator(tmp_path / "b.csv", B_LAYERS)
    adj = _write(
        tmp_path / "adj.csv",
        ["packet_id", "layer", "is_fix", "docs_or_tests_only"],
        [["4", "boilerplate", 0, 0], ["8", "feature", 1, 0]],
    )
    out, rep = tmp_path / "labels" / "labels.csv", tmp_path / "labels" / "agreement.json"
    rc = main(
        [
            "--key",
            str(key),
            "--annotator",
            f"a={a1},{a2}",
            "--annotator",
            f"b={b}",
            "--adjudication",
            str(adj),
            "--out",
            str(out),
            "--report",
            str(rep),
            "--disagreements",
            str(tmp_path / "dis.csv"),
        ]
    )
    assert rc == 0
    assert f"layer={HAND_KAPPA:.3f}" in capsys.readouterr().out
    rows = list(csv.DictReader(open(out)))
    assert list(rows[0]) == ["repo", "sha", "layer", "is_fix", "docs_or_tests_only", "agreement"]
    assert len(rows) == 10
    eighth = next(r for r in rows if r["sha"] == f"{8:040x}")
    assert (eighth["layer"], eighth["is_fix"], eighth["agreement"]) == (
        "feature",
        "1",
        "adjudicated",
    )
    report = json.loads(rep.read_text())
    assert report["pairs"][0]["kappa"]["layer"] == pytest.approx(HAND_KAPPA)
    assert report["pairs"][0]["layer_confusion"]["boilerplate"]["feature"] == 1
    assert report["n_disagreements"] == 2


def test_entry_point_reports_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rc = main(
        ["--key", str(tmp_path / "nope.csv"), "--annotator", "a=x.csv", "--annotator", "b=y.csv"]
    )
    assert rc != 0
    assert "nope.csv" in capsys.readouterr().err


def test_kappa_per_layer_and_per_stratum(tmp_path: Path) -> None:
    """One-vs-rest kappa per layer and layer kappa per stratum (a `+` joins two strata)."""
    from mining.labels import layer_kappa_detail, read_labels, read_strata

    a = read_labels([_annotator(tmp_path / "a.csv", A_LAYERS)])
    b = read_labels([_annotator(tmp_path / "b.csv", B_LAYERS)])
    rows = [
        [f"{i + 1:03d}", "o/r", f"{i + 1:040x}", "enrich" if i < 5 else "ai+enrich"]
        for i in range(10)
    ]
    key = _write(tmp_path / "key.csv", ["packet_id", "repo", "sha", "stratum"], rows)
    detail = layer_kappa_detail(a, b, read_strata(key))
    arch = (
        [str(x == "architectural") for x in A_LAYERS],
        [str(x == "architectural") for x in B_LAYERS],
    )
    assert detail["per_layer_kappa"]["architectural"] == pytest.approx(1.0)
    assert detail["per_layer_kappa"]["architectural"] == pytest.approx(cohen_kappa_score(*arch))
    boiler = (
        [str(x == "boilerplate") for x in A_LAYERS],
        [str(x == "boilerplate") for x in B_LAYERS],
    )
    assert detail["per_layer_kappa"]["boilerplate"] == pytest.approx(cohen_kappa_score(*boiler))
    strata = detail["per_stratum_kappa"]
    assert strata["enrich"]["n"] == 10 and strata["ai"]["n"] == 5
    assert strata["ai"]["layer_kappa"] == pytest.approx(
        cohen_kappa_score(A_LAYERS[5:], B_LAYERS[5:])
    )
    assert read_strata(_key(tmp_path / "plain.csv")) == {}
