"""`strata report` end to end on a small synthetic dataset: report, figures, executed notebooks."""

from __future__ import annotations

import json
import re

from typer.testing import CliRunner

from analysis import dataset, report
from mining.cli import app


def test_report_and_notebooks_end_to_end(small, tmp_path, monkeypatch) -> None:
    # from a folder outside the checkout: the notebooks come with the installed package
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "reports"
    paths = report.build_report(
        small.db,
        out,
        evaluation=small.evaluation,
        oof=small.oof,
        blame=small.blame,
        n_boot=50,
        formats=("png",),
    )
    text = paths["report"].read_text()
    # numbers come from the data: the population is what the generator wrote, less the commits
    # credited to AI only through a merged branch (they belong to neither group)
    con = dataset.open_db(small.db)
    facts = dataset.commit_facts(con)
    con.close()
    n_branch = int(
        (
            ~facts["is_merge"]
            & facts["ai"].fillna(False)
            & ~facts["ai_direct"].fillna(False)
            & facts["author_kind"].eq("human")
            & facts["layer"].notna()
        ).sum()
    )
    assert f"{small.truth.n_commits - n_branch:,} classified non-merge commits" in text
    assert f"of which {small.truth.n_ai - n_branch:,}" in text
    # the pre-specified primary analysis leads, with a computed verdict and the sensitivity rows
    assert text.index("## Primary analysis (pre-specified)") < text.index("## Corpus")
    assert re.search(r"the hypothesis is \*\*(supported|contradicted|not decided)\*\*", text)
    assert "### Sensitivity of the headline (pre-specified)" in text
    assert "language-model agents" in text
    for heading in (
        "## Question",
        "## Corpus",
        "## Methods",
        "## Results",
        "## Threats to validity",
        "## What the data cannot decide",
    ):
        assert heading in text
    assert "Corrected for classifier error" in text and "Note." not in text
    # the threats name each group's measured accuracy, and no longer claim that every correction
    # uses one error matrix for both groups (the constrained one gives each group its own)
    threats = text[text.index("## Threats to validity") :]
    assert re.search(r"AI-assisted \d+\.\d% and human \d+\.\d% on labelled commits", threats)
    assert "assumes the same error matrix" not in text
    assert re.search(r"\*\*Main result\.\*\* \d+\.\d% \[", text)
    assert "<table>" in paths["html"].read_text()
    html = [p.name for p in paths["notebooks"]]
    assert html == [f"{n}.html" for n in report.NOTEBOOKS]
    for p in paths["notebooks"]:
        assert "Traceback" not in p.read_text()
    assert (out / "figures" / "fig05-forest-architectural.png").exists()


def test_cli_figures_and_report(small, tmp_path) -> None:
    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "figures",
            "--db",
            str(small.db),
            "--out",
            str(tmp_path / "f"),
            "--figure-formats",
            "svg",
            "--evaluation",
            str(small.evaluation),
            "--blame",
            str(small.blame),
            "--n-boot",
            "20",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (tmp_path / "f" / "figures" / "fig06-confusion-matrix.svg").exists()
    assert not list((tmp_path / "f" / "figures").glob("*.png"))
    bad = runner.invoke(app, ["figures", "--db", str(small.db), "--format", "gif"])
    assert bad.exit_code != 0 and "gif" in bad.output
    res = runner.invoke(
        app,
        [
            "report",
            "--db",
            str(small.db),
            "--out",
            str(tmp_path),
            "--no-notebooks",
            "--n-boot",
            "20",
            "--blame",
            str(tmp_path / "none.json"),
            "--format",
            "png",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "note:" in res.output and (tmp_path / "study.md").exists()
    missing = runner.invoke(
        app, ["report", "--db", str(tmp_path / "absent.duckdb"), "--no-notebooks"]
    )
    assert missing.exit_code == 2 and "absent.duckdb" in missing.output


def test_notebooks_ship_as_package_data() -> None:
    """Every study notebook sits in the package and matches a package-data glob, so an install
    (not only a checkout) has them and `strata report` runs them from any folder."""
    import tomllib
    from fnmatch import fnmatch
    from pathlib import Path

    root = Path(report.__file__).resolve().parents[1]
    data = tomllib.loads((root / "pyproject.toml").read_text())
    globs = data["tool"]["setuptools"]["package-data"]["analysis"]
    for name in report.NOTEBOOKS:
        path = report.NOTEBOOK_DIR / f"{name}.py"
        assert path.is_file(), path
        rel = path.relative_to(root / "analysis").as_posix()
        assert any(fnmatch(rel, g) for g in globs), (rel, globs)


def _check(macro_f1: float, ci: list[float], cv: float, arch: float = 0.5) -> dict:
    full = {
        "n": 288,
        "repositories": 8,
        "macro_f1": macro_f1,
        "macro_f1_ci": ci,
        "per_layer_f1": {"architectural": arch},
        "labelled": {"architectural": 22},
        "frozen_model": {
            "version": "4.x",
            "n_train": 3484,
            "cv_macro_f1": cv,
            "cv_architectural_f1": 0.5,
        },
    }
    return {"round5": {"models": {"full": full}}}


def test_heldout_paragraph_reads_its_numbers_and_direction() -> None:
    below = report.heldout_paragraphs(_check(0.63, [0.55, 0.69], cv=0.73, arch=0.18))
    assert "macro-F1 is 0.63 [0.55, 0.69] against 0.73 in cross-validation" in below
    assert "(lower than its cross-validated estimate" in below
    assert "corrected intervals are too narrow" in below
    inside = report.heldout_paragraphs(_check(0.72, [0.66, 0.78], cv=0.73, arch=0.55))
    assert "(within the held-out interval" in inside and "does not contradict them" in inside
    assert report.heldout_paragraphs({}) == ""
    assert "standing held-out set" not in below


def test_rounds_read_in_numeric_order_and_a_standing_one_says_so() -> None:
    early = _check(0.63, [0.55, 0.69], cv=0.73)["round5"]
    late = {**_check(0.70, [0.60, 0.75], cv=0.74)["round5"], "standing": True}
    text = report.heldout_paragraphs({"round10": late, "round5": early})
    assert text.index("(round 5)") < text.index("(round 10)")
    assert text.count("standing held-out set") == 1
    assert text.index("standing held-out set") > text.index("(round 10)")


def test_evaluation_keeps_its_heldout_checks(tmp_path) -> None:
    order = ["feature", "architectural", "boilerplate", "refactor"]
    path = tmp_path / "evaluation.json"
    body = {"classifier": {"confusion": {"rows_true_cols_pred": order, "counts": [[1] * 4] * 4}}}
    path.write_text(json.dumps(body | {"heldout": _check(0.63, [0.55, 0.69], cv=0.73)}))
    ev = dataset.load_evaluation(path)
    assert ev is not None and ev.heldout["round5"]["models"]["full"]["macro_f1"] == 0.63


def test_standing_paragraph_reads_the_pooled_rounds() -> None:
    full = _check(0.68, [0.59, 0.74], cv=0.74, arch=0.57)["round5"]["models"]["full"]
    full = {
        **full,
        "n": 572,
        "repositories": 16,
        "accuracy": 0.823,
        "per_layer_f1": {"architectural": 0.57, "refactor": 0.44},
        "labelled": {"architectural": 50, "refactor": 32},
        "standardised_accuracy_gap_ai_minus_human": -0.021,
        "standardised_accuracy_gap_ci": [-0.178, 0.086],
    }
    diff = {**full, "macro_f1": 0.685, "macro_f1_ci": [0.60, 0.76]}
    text = report.standing_paragraph(
        {"rounds": [8, 9], "models": {"full": full, "diff-only": diff}}
    )
    assert "(rounds 8 and 9, pooled).** 572 commits of 16 repositories" in text
    assert "macro-F1 0.68 [0.59, 0.74] against 0.74 in cross-validation" in text
    assert "architectural F1 0.57 and refactor F1 0.44 (50 and 32 labels)" in text
    assert "-2.1 points [-17.8, +8.6]" in text and "the diff-only model 0.69 [0.60, 0.76]" in text
    assert "holds both no gap and gaps beyond 3 points" in text
    narrow = {**full, "standardised_accuracy_gap_ci": [-0.025, 0.01]}
    assert "within 3 points of none" in report.standing_paragraph(
        {"rounds": [8, 9], "models": {"full": narrow}}
    )
    assert report.standing_paragraph({}) == ""


def test_group_error_paragraph_names_the_layer_that_carries_the_gap(tmp_path) -> None:
    # LAYERS order: boilerplate, refactor, feature, architectural; rows true, columns predicted
    human = [[90, 2, 7, 1], [5, 80, 15, 0], [5, 5, 85, 5], [0, 0, 40, 60]]
    ai = [[60, 10, 28, 2], [5, 78, 17, 0], [5, 5, 85, 5], [0, 0, 42, 58]]
    pooled = [[150, 12, 34, 4], [10, 158, 32, 0], [10, 10, 170, 10], [0, 0, 82, 118]]
    body = {
        "labels": list(report.LAYERS),
        "confusion_matrix": pooled,
        "by_authorship": {"ai": {"confusion": ai}, "human": {"confusion": human}},
        "targets": {
            "ai_human_standardised_accuracy_gap": {
                "value": -0.093,
                "interval_95_repo_bootstrap": [-0.151, -0.035],
            }
        },
    }
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps(body))
    ev = dataset.load_evaluation(path)
    assert ev is not None and ev.cv_gap["value"] == -0.093
    text = report.group_error_paragraph(ev)
    assert "-9.3 points [-15.1, -3.5]" in text and "beyond 3 points on one side" in text
    assert "most of it is boilerplate: recall 60.0% on AI-evidenced commits against 90.0%" in text
    assert "28.0% of the AI-evidenced boilerplate labels are read as feature" in text
    assert "(2.0% of them and 1.0% of the human ones as architectural" in text
    # the layer is computed: move the AI-evidenced error to the architectural row instead
    body["by_authorship"]["ai"]["confusion"] = [
        [90, 2, 6, 2],
        [5, 80, 15, 0],
        [5, 5, 85, 5],
        [0, 0, 70, 30],
    ]
    path.write_text(json.dumps(body))
    moved = report.group_error_paragraph(dataset.load_evaluation(path))
    assert "most of it is architectural: recall 30.0%" in moved and "read as feature" in moved
    # without the cross-validated gap (an older evaluation.json) there is nothing to say
    del body["targets"]
    path.write_text(json.dumps(body))
    assert report.group_error_paragraph(dataset.load_evaluation(path)) == ""
