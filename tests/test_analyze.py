"""`strata analyze` on repositories built here: one and two repositories, report from any folder,
intervals that never collapse to zero width while the data vary, resumable reruns."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from analysis import shares, stats, within_dev
from analysis.study import run_study
from mining import analyze as analyze_mod
from mining.cli import app

CLAUDE = ("Co-authored-by", "Claude <noreply@anthropic.com>")
PEOPLE = [("Ada Human", "ada@example.org"), ("Bo Person", "bo@example.net")]
DAY = 86400


def make_project(builder, name: str, n: int, start: int = 1704067200) -> Path:
    """A repository whose commits vary the way real ones do: new modules, edits, renames,
    dependency bumps, docs; every third one co-authored by Claude; one commit every two days."""
    repo = builder(name)
    repo.commit(
        "initial import",
        {
            "README.md": f"# {name}\n",
            "requirements.txt": "requests==2.0\n",
            "src/app.py": "def main():\n    return 0\n",
        },
        date=f"@{start} +0000",
    )
    for i in range(1, n):
        kind = i % 5
        author = PEOPLE[i % 2]
        trailers = [CLAUDE] if i % 3 == 0 else []
        when = f"@{start + 2 * DAY * i} +0000"
        if kind == 0:
            subject = f"add module {i} with its api"
            files = {
                f"src/mod{i}/__init__.py": f"from .core{i} import run{i}\n",
                f"src/mod{i}/core{i}.py": "".join(
                    f"def run{i}_{k}(x):\n    return x + {k}\n\n" for k in range(12)
                ),
                f"src/mod{i}/api{i}.py": f"class Api{i}:\n    def call(self):\n        return {i}\n",
            }
        elif kind == 1:
            subject = f"feat: helpers {i}"
            body = "".join(
                f"def f{i}_{k}(a, b):\n    return a * b + {k}\n\n" for k in range(i % 7 + 1)
            )
            files = {f"src/helpers{i}.py": body}
        elif kind == 2:
            subject = f"fix: off by one in main ({i})"
            files = {"src/app.py": f"def main():\n    return {i}\n"}
        elif kind == 3:
            subject = f"Bump requests to 2.{i}"
            files = {"requirements.txt": f"requests==2.{i}\n"}
        else:
            subject = f"docs: usage note {i}"
            files = {f"docs/note{i}.md": f"Step {i}.\n" * (i % 4 + 1)}
        repo.commit(subject, files, author=author, date=when, trailers=trailers)
    return repo.path


def run_cli(args: list[str], cwd: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(cwd)
    return CliRunner().invoke(app, args)


def assert_no_collapsed_interval(study) -> None:
    """Every share and difference interval has width, except where the data have no variation."""
    s = study.shares[study.shares["total"] > 0]
    assert (s["hi"] > s["lo"]).all(), s[s["hi"] <= s["lo"]]
    d = study.differences
    assert len(d) and (d["hi"] > d["lo"]).all(), d
    raw = study.corrected[study.corrected["method"] == "raw"]
    assert (raw["hi"] > raw["lo"]).all(), raw
    for table in (study.before_after, study.tool_shares):
        if len(table):
            lo, hi = table["lo"].astype(float), table["hi"].astype(float)
            finite = np.isfinite(lo) & np.isfinite(hi)
            assert (hi[finite] > lo[finite]).all(), table
    # within developer: zero width only for a layer where every developer's difference is the same
    per = within_dev.developer_shares(study.commits)
    for row in study.within_pairs.itertuples():
        if np.isfinite(row.lo) and row.lo == row.hi:
            assert per.loc[per["layer"] == row.layer, "diff"].nunique() == 1, (row, per)


@pytest.mark.parametrize("n_repos", [1, 2])
def test_analyze_one_and_two_repositories_from_another_folder(
    repo_builder, tmp_path, monkeypatch, n_repos
) -> None:
    sources = [str(make_project(repo_builder, f"proj{k}", 36 + 9 * k)) for k in range(n_repos)]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "analysis-out"
    res = run_cli(
        [
            "analyze",
            *sources,
            "--out",
            str(out),
            "--n-boot",
            "60",
            "--figure-formats",
            "png",
            "--no-notebooks",
            "--quiet",
        ],
        elsewhere,
        monkeypatch,
    )
    assert res.exit_code == 0, res.output
    report = out / "report" / "study.md"
    assert res.output.strip().splitlines()[-1] == f"report: {report}"
    assert (out / "strata.duckdb").is_file() and (out / "report" / "study.html").is_file()
    assert (out / "report" / "figures" / "fig01-layer-mix.png").is_file() or any(
        (out / "report" / "figures").glob("fig01*.png")
    )
    assert not (elsewhere / "data").exists() and not (elsewhere / "reports").exists()
    text = report.read_text()
    # the interval method and the scope are stated, computed from this data
    assert "time-block bootstrap within repository" in text
    plural = "repository" if n_repos == 1 else "repositories"
    assert f"only {n_repos} {plural} (fewer than {stats.MIN_REPOS}" in text
    assert "## What this data can and cannot show" in text
    assert "Generalise beyond these repositories" in text
    study = run_study(out / "strata.duckdb", n_boot=60, blame=out / "none.json", oof=None)
    assert study.commits["repo"].nunique() == n_repos
    assert set(study.shares["interval"]) <= {
        "time-block bootstrap within repository",
        stats.WILSON_LABEL,
    }
    assert_no_collapsed_interval(study)
    # no interval printed in the report has zero width where a share varies ([x, x] with x in (0, 100))
    for lo, hi in _intervals(text):
        assert lo != hi or lo in ("0.0%", "100.0%", "+0.0 pp", "n/a"), (lo, hi)


def _intervals(text: str) -> list[tuple[str, str]]:
    import re

    return re.findall(r"\[([^\[\],]+), ([^\[\],]+)\]", text)


def test_rerun_skips_what_is_done_and_report_on_change(repo_builder, tmp_path, monkeypatch) -> None:
    src = make_project(repo_builder, "proj", 30)
    out = tmp_path / "o"
    args = [
        "analyze",
        str(src),
        "--out",
        str(out),
        "--n-boot",
        "30",
        "--figure-formats",
        "png",
        "--no-notebooks",
    ]
    first = run_cli(args, tmp_path, monkeypatch)
    assert first.exit_code == 0, first.output
    stamp = json.loads((out / "analyze.json").read_text())["report"]["stamp"]
    again = run_cli(args, tmp_path, monkeypatch)
    assert again.exit_code == 0, again.output
    assert "report: up to date" in again.output
    assert json.loads((out / "analyze.json").read_text())["report"]["stamp"] == stamp
    # a new commit changes the head: the repository is rebuilt and the report redone
    from tests.gitrepo import RepoBuilder

    builder = RepoBuilder.__new__(RepoBuilder)
    builder.path, builder._tick = src, 99
    builder.commit("feat: one more", {"src/more.py": "def more():\n    return 1\n"})
    third = run_cli(args, tmp_path, monkeypatch)
    assert third.exit_code == 0, third.output
    assert "report: up to date" not in third.output
    assert json.loads((out / "analyze.json").read_text())["report"]["stamp"] != stamp
    # another repository into the same folder: the report covers both, and says so
    other = make_project(repo_builder, "other", 12)
    fourth = run_cli([*args[:1], str(other), *args[2:]], tmp_path, monkeypatch)
    assert fourth.exit_code == 0, fourth.output
    assert "also holds proj from earlier runs" in fourth.output.replace("\n", " ")


@pytest.mark.parametrize("who", ["only AI", "one human commit"])
def test_analyze_a_history_with_one_group_absent(repo_builder, tmp_path, monkeypatch, who) -> None:
    """Your own repository may hold no human commit, or a single commit: the report says what
    it cannot compare instead of failing (a division by zero, an empty figure's NaN count)."""
    repo = repo_builder("tiny")
    n = 3 if who == "only AI" else 1
    for i in range(n):
        repo.commit(
            f"change {i}",
            {"f.py": "".join(f"x{k} = {k}\n" for k in range(i + 1))},
            trailers=[CLAUDE] if who == "only AI" else [],
        )
    out = tmp_path / "o"
    args = ["analyze", str(repo.path), "--out", str(out), "--n-boot", "20"]
    res = run_cli([*args, "--figure-formats", "png", "--no-notebooks"], tmp_path, monkeypatch)
    assert res.exit_code == 0, res.output
    report = (out / "report" / "study.md").read_text()
    assert f"{n} classified non-merge commits" in report
    assert "No repository has both AI-assisted and human commits in the same quarter" in report


def test_analyze_refuses_a_folder_it_did_not_create(repo_builder, tmp_path, monkeypatch) -> None:
    src = make_project(repo_builder, "proj", 6)
    out = tmp_path / "mine"
    out.mkdir()
    (out / "thesis.tex").write_text("keep me")
    res = run_cli(["analyze", str(src), "--out", str(out)], tmp_path, monkeypatch)
    assert res.exit_code != 0 and "not written by `strata analyze`" in res.output
    assert sorted(p.name for p in out.iterdir()) == ["thesis.tex"]


def test_default_out_is_under_the_data_home_not_the_current_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("STRATA_HOME", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert (
        analyze_mod.default_out(["owner/name"])
        == tmp_path / "xdg" / "strata" / "analyses" / "owner+name"
    )
    monkeypatch.setenv("STRATA_HOME", str(tmp_path / "sh"))
    many = analyze_mod.default_out([f"org/repo-with-a-long-name-{i}" for i in range(9)])
    assert many.parent == tmp_path / "sh" / "analyses" and len(many.name) < 100


# --- the interval design on its own ---------------------------------------------------------


def _frame(n_repos: int, per_repo: int = 60, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for r in range(n_repos):
        for i in range(per_repo):
            rows.append(
                {
                    "repo": f"r{r}",
                    "group": "ai" if i % 3 == 0 else "human",
                    "layer": rng.choice(["boilerplate", "refactor", "feature", "architectural"]),
                    "authored_at": pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=i),
                }
            )
    return pd.DataFrame(rows)


def test_design_switches_at_the_stated_minimum() -> None:
    below = stats.choose_design(_frame(stats.MIN_REPOS - 1), "group")
    at = stats.choose_design(_frame(stats.MIN_REPOS), "group")
    assert below.kind == "time-block" and at.kind == "repository"
    # the minimum is where a repository bootstrap's coverage first reaches 90%
    assert (
        stats.cluster_coverage(stats.MIN_REPOS)
        >= 0.90
        > stats.cluster_coverage(stats.MIN_REPOS - 1)
    )


def test_time_block_bootstrap_keeps_each_stratum_and_has_width() -> None:
    df = _frame(1)
    design = stats.choose_design(df, "group")
    counts, groups, strata = stats.design_counts(df, "group", shares.LAYERS, design)
    weights = stats.bootstrap_weights(len(counts), 200, 0, strata)
    for s in set(strata):
        assert (weights[:, strata == s].sum(axis=1) == (strata == s).sum()).all()
    result = shares.layer_shares(df, n_boot=200)
    assert (result["hi"] > result["lo"]).all()
    # the old repository bootstrap collapses on one repository: the reason for the design
    counts1, _, _ = stats.cluster_counts(df, "repo", "group", shares.LAYERS)
    lo, hi = stats.percentile_ci(stats.shares_of(stats.bootstrap_sums(counts1, 200, 0)))
    assert np.allclose(lo, hi)


def test_share_no_resample_moves_gets_a_wilson_interval() -> None:
    df = _frame(2)
    df.loc[df["group"] == "ai", "layer"] = "feature"  # AI commits never architectural
    res = shares.layer_shares(df, n_boot=100)
    row = res[(res["group"] == "ai") & (res["layer"] == "architectural")].iloc[0]
    assert row["share"] == 0 and row["lo"] == 0 and row["hi"] > 0
    assert row["interval"] == stats.WILSON_LABEL


def test_difference_with_a_group_at_zero_is_not_read_as_a_difference() -> None:
    """0 of 60 AI commits architectural vs ~3% of humans: the bootstrap alone would borrow only the
    human spread and call AI 'lower'; Newcombe's interval keeps 0 inside."""
    df = _frame(1, per_repo=600, seed=3)
    ai = df["group"] == "ai"
    df.loc[ai, "layer"] = "feature"
    df = df[~ai | (df.index % 10 == 0)]  # 60 AI commits
    human = df.index[df["group"] == "human"]
    df.loc[human, "layer"] = "feature"
    df.loc[human[::30], "layer"] = "architectural"  # about 3% of human commits
    res = shares.share_differences(df, n_boot=200).set_index("layer")
    arch = res.loc["architectural"]
    assert arch["diff"] < 0 and arch["lo"] < 0 < arch["hi"], arch
    assert arch["interval"] == stats.NEWCOMBE_LABEL
