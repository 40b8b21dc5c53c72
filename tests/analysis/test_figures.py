"""Figures are written in every format with their data, and skipped (not failed) without input."""

from __future__ import annotations

import pandas as pd
import pytest
from PIL import Image

from analysis import figures, study

ALL = ("fig01", "fig02", "fig03", "fig04", "fig05", "fig06", "fig07", "fig08", "fig09", "fig10")


@pytest.fixture(scope="module")
def computed(small):
    return study.run_study(
        small.db, evaluation=small.evaluation, oof=small.oof, blame=small.blame, n_boot=50
    )


def test_figure_in_pdf_svg_png_with_csv(computed, tmp_path) -> None:
    paths = figures.fig01_layer_mix(computed.shares, tmp_path)
    assert sorted(p.suffix for p in paths) == [".csv", ".pdf", ".png", ".svg"]
    assert paths[0].read_bytes().startswith(b"%PDF")
    assert b"<svg" in (tmp_path / "fig01-layer-mix.svg").read_bytes()[:400]
    with Image.open(tmp_path / "fig01-layer-mix.png") as img:
        dpi = img.info["dpi"]
        assert round(dpi[0]) == 300
        assert img.size[0] <= 3.6 * 300  # one paper column wide
    data = pd.read_csv(tmp_path / "fig01-layer-mix.csv")
    assert {"group", "layer", "share", "lo", "hi"} <= set(data.columns)


def test_every_figure_drawn(computed, tmp_path) -> None:
    written = figures.all_figures(computed, tmp_path, formats=("png",))
    assert set(written) == set(ALL)
    for name, paths in written.items():
        assert paths, name
        assert all(p.exists() and p.stat().st_size > 0 for p in paths)


def test_missing_inputs_skip_their_figures(small, tmp_path) -> None:
    s = study.run_study(
        small.db,
        evaluation=tmp_path / "none.json",
        oof=None,
        blame=tmp_path / "none.json",
        n_boot=20,
    )
    assert figures.fig06_confusion(s.evaluation, tmp_path) == []
    assert figures.fig07_blame_releases(s.blame, tmp_path) == []
    assert any("evaluation" in n for n in s.notes) and any("blame" in n for n in s.notes)
    assert set(s.corrected["method"]) == {"raw"}
