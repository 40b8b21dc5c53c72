"""Every figure, rendered at print size, passes the readability checks; the checks themselves bite.

Figures are drawn from the small synthetic dataset (built through the real schema); a slow test
draws them from the shipped release too.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from analysis import figure_checks, figures, study, style

REPO_ROOT = Path(__file__).resolve().parents[2]
NAMED_N = ("fig01", "fig02", "fig03", "fig05", "fig06", "fig09")
"""Figures whose groups are categories: each group's n must be written in the figure."""


@pytest.fixture(scope="module")
def drawn(small, tmp_path_factory):
    """All figures of the small study, kept open for inspection, plus their output folder."""
    computed = study.run_study(
        small.db, evaluation=small.evaluation, oof=small.oof, blame=small.blame, n_boot=50
    )
    out = tmp_path_factory.mktemp("figures")
    with style.keep_open() as kept:
        written = figures.all_figures(computed, out, formats=("png",), blame_repo="example/repo")
        yield {name.split("-")[0]: fig for name, fig in kept}, written, out


def _texts(fig: plt.Figure) -> str:
    fig.canvas.draw()
    parts = [t.get_text() for _, t in figure_checks._texts(fig)]
    for leg in figure_checks._legends(fig):
        parts += [t.get_text() for t in leg.get_texts()]
    return "\n".join(parts)


def test_every_figure_passes_the_readability_checks(drawn) -> None:
    figs, written, _ = drawn
    assert set(figs) == {k for k, v in written.items() if v} and len(figs) == 10
    problems = {name: figure_checks.all_problems(fig) for name, fig in figs.items()}
    assert {k: v for k, v in problems.items() if v} == {}


def test_figures_are_column_wide_at_300_dpi(drawn) -> None:
    _, written, _ = drawn
    widths = {round(w / 72 * 300) for w in (style.ONE_COLUMN_PT, style.TWO_COLUMN_PT)}
    for name, paths in written.items():
        if not paths:  # a figure without input (fig10 needs commit_structure rows)
            continue
        png = next(p for p in paths if p.suffix == ".png")
        with Image.open(png) as img:
            assert img.size[0] in widths, (name, img.size)
            assert round(img.info["dpi"][0]) == 300


def test_intervals_only_where_the_minimum_is_met(drawn) -> None:
    _, written, out = drawn
    checked = 0
    for name, paths in written.items():
        data = pd.read_csv(next(p for p in paths if p.suffix == ".csv"))
        if not {"lo", "hi", "min_n"} <= set(data.columns):
            continue
        count = "total" if "total" in data else "n"
        with_ci = data[data["lo"].notna()]
        assert (with_ci[count] >= with_ci["min_n"]).all(), name
        if "min_repos" in data and "n_repos" in data:
            assert (with_ci["n_repos"] >= with_ci["min_repos"]).all(), name
        checked += 1
    assert checked >= 5


def test_a_tool_in_too_few_repositories_gets_no_interval(drawn, tmp_path) -> None:
    _, _, out = drawn
    table = pd.read_csv(out / "fig02-tool-mix.csv").drop(columns=["min_n", "min_repos"])
    assert table["lo"].notna().all()  # every synthetic tool meets the minimums...
    thin = table.loc[table["tool"] != "human", "tool"].iloc[0]
    table.loc[table["tool"] == thin, "n_repos"] = (
        style.MIN_INTERVAL_REPOS - 1
    )  # ...until it doesn't
    with style.keep_open() as kept:
        figures.fig02_tool_mix(table, tmp_path, ("png",))
        fig = kept[0][1]
        bars = [
            seg
            for ax in fig.axes
            for c in ax.containers
            for coll in c.lines[2]
            for seg in coll.get_segments()
        ]
    data = pd.read_csv(tmp_path / "fig02-tool-mix.csv")
    assert data.loc[data["tool"] == thin, "lo"].isna().all()
    assert data.loc[data["tool"] != thin, "lo"].notna().all()
    assert len(bars) == data["lo"].notna().sum()


def test_every_group_shows_its_n(drawn) -> None:
    figs, written, out = drawn
    for name in NAMED_N:
        data = pd.read_csv(next(p for p in written[name] if p.suffix == ".csv"))
        text = _texts(figs[name])
        column = {"fig05": "n_ai", "fig06": "n_true"}.get(name, "total" if "total" in data else "n")
        for n in data[column].dropna().unique():
            assert style.count(n) in text, (name, n)
    monthly = pd.read_csv(out / "fig04-ai-share-over-time.csv")
    months = monthly[monthly["series"] == "month"]
    counts_panel = figs["fig04"].axes[1]
    heights = sorted(p.get_height() for p in counts_panel.patches)
    assert heights == sorted(months["n"].tolist())


def test_csv_holds_the_plotted_numbers(drawn) -> None:
    figs, _, out = drawn
    data = pd.read_csv(out / "fig01-layer-mix.csv")
    ax = figs["fig01"].axes[0]
    heights = sorted(round(p.get_height(), 9) for p in ax.patches)
    assert heights == sorted(round(v, 9) for v in data["share"])
    caps = [c for c in ax.containers if c.__class__.__name__ == "ErrorbarContainer"]
    assert (
        sum(
            len(c.lines[0].get_xdata()) if c.lines[0] else len(c.lines[2][0].get_segments())
            for c in caps
        )
        == data["lo"].notna().sum()
    )
    moves = pd.read_csv(out / "fig09-like-with-like.csv")
    points = np.asarray(figs["fig09"].axes[0].lines[0].get_xdata(), dtype=float)
    assert sorted(np.round(points, 9)) == sorted(np.round(moves["or"].to_numpy(), 9))


def test_blame_figure_names_the_repository_and_thins_release_labels(small, tmp_path) -> None:
    rows = json.loads(Path(small.blame).read_text())
    many = [
        {**rows[0], "from": f"v0.{i}.0", "to": f"v0.{i + 1}.0", "ai_lines": i % 7}
        for i in range(81)
    ]
    blame = pd.DataFrame(many)[["from", "to", "total_lines", "ai_lines", "ai_share", "by_tool"]]
    with style.keep_open() as kept:
        figures.fig07_blame_releases(blame, tmp_path, ("png",), repo="owner/project")
        fig = kept[0][1]
        assert figure_checks.all_problems(fig) == []
        labels = [t.get_text() for t in figure_checks._drawn_tick_labels(fig.axes[1].xaxis)]
        assert 3 <= len(labels) <= figures.RELEASE_LABELS and labels[0] == "v0.1.0"
        assert "owner/project" in _texts(fig)
    assert "owner/project" in (tmp_path / "fig07-blame-releases.caption.txt").read_text()


def test_contact_sheet_shows_every_figure_with_a_caption(drawn) -> None:
    _, written, out = drawn
    page = (out / "index.html").read_text()
    for paths in written.values():
        png = next(p for p in paths if p.suffix == ".png")
        assert f"src='{png.name}'" in page
        caption = (out / f"{png.stem}.caption.txt").read_text().strip()
        assert "n=" in caption or any(ch.isdigit() for ch in caption)
        assert html.escape(caption.split(". ")[0]) in page


# --- the checks find what they claim to find --------------------------------------------------


def test_checks_catch_overlap_canvas_colour_and_log_ticks() -> None:
    fig, ax = style.figure(1, height=2.0)
    ax.set_xticks(range(4), ["a very long tick label"] * 4)
    ax.set_xlim(0, 3)
    fig.text(0.8, 0.5, "runs off the right edge of the canvas for sure")
    ax.plot([0, 1], [0, 1], color="#D55E00", label="one")
    ax.plot([1, 2], [0, 1], color="#D55E00", label="two")
    ax.legend()
    ax.set_yscale("log")
    ax.set_ylim(0.5, 2)
    text = figure_checks.text_problems(fig)
    assert any(p.startswith("overlap: axes0 x-tick") for p in text), text
    assert any(p.startswith("off the canvas") for p in text)
    assert figure_checks.legend_problems(fig)
    assert figure_checks.log_axis_problems(fig)
    plt.close(fig)


def test_plain_log_axis_passes_the_checks_at_any_range() -> None:
    for lo, hi in ((0.8, 1.3), (0.5, 2.0), (0.01, 400.0), (1.0, 1e4)):
        fig, ax = style.figure(1, height=1.5)
        ax.plot([lo, hi], [0, 1])
        style.log_axis(ax, lo, hi)
        assert figure_checks.log_axis_problems(fig) == [], (lo, hi)
        plt.close(fig)


def test_small_text_and_odd_width_are_flagged() -> None:
    fig, ax = plt.subplots(figsize=(5, 2))
    ax.set_title("tiny", fontsize=5)
    problems = figure_checks.size_problems(fig)
    assert any("width" in p for p in problems) and any("'tiny'" in p for p in problems)
    plt.close(fig)


@pytest.mark.slow
def test_shipped_release_renders_readable_figures(tmp_path) -> None:
    from mining.release import load_release

    db = tmp_path / "release.duckdb"
    load_release(REPO_ROOT / "data" / "release", db)
    computed = study.run_study(
        db,
        evaluation=REPO_ROOT / "reports" / "classifier" / "evaluation.json",
        oof=None,
        blame=REPO_ROOT / "reports" / "blame_releases.json",
        n_boot=20,
    )
    with style.keep_open() as kept:
        figures.all_figures(computed, tmp_path / "figures", ("png",), blame_repo="Aider-AI/aider")
        assert len(kept) == 9
        assert {n: p for n, f in kept if (p := figure_checks.all_problems(f))} == {}
