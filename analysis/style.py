"""The one figure style: colour-blind palette, paper sizes, minimums, and saving every figure.

Colours are Okabe-Ito (distinguishable under the common colour-vision deficiencies). Widths are
one column (241 pt) and two columns (506 pt) of a two-column paper; figures are drawn at that
final size (constrained layout, no tight bounding box), so the 7 pt minimum holds in print. Every
figure is written as PDF, SVG and PNG (300 dpi) plus a CSV of exactly the numbers it draws and a
caption generated from those numbers (read by the contact sheet).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.axes import Axes
from matplotlib.ticker import FixedLocator, FuncFormatter, NullLocator

from analysis import LAYERS

OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
GROUP_COLORS = {"human": "#0072B2", "ai": "#D55E00"}
GROUP_LABELS = {"human": "human", "ai": "AI-assisted"}
LAYER_COLORS = dict(zip(LAYERS, ["#56B4E9", "#009E73", "#E69F00", "#CC79A7"], strict=True))
POINTS_PER_INCH = 72.0
ONE_COLUMN_PT = 241.0
TWO_COLUMN_PT = 506.0
ONE_COLUMN = ONE_COLUMN_PT / POINTS_PER_INCH
TWO_COLUMN = TWO_COLUMN_PT / POINTS_PER_INCH
MIN_TEXT_PT = 7.0
FORMATS: tuple[str, ...] = ("pdf", "svg", "png")

MIN_INTERVAL_N = 30
"""A group's interval is drawn only when it has at least this many commits (lines for blame)."""
MIN_INTERVAL_REPOS = 5
"""...and, for repository-cluster bootstrap intervals, at least this many repositories."""
MIN_TOOL_COMMITS = 100
"""Tools with fewer AI commits are pooled as `other` in the per-tool figure."""
MIN_PERIOD_N = 30
"""Months / quarters with fewer commits are not drawn as shares (too few to read a share off)."""

_KEPT: list[list[tuple[str, plt.Figure]]] = []
_LOG_STEPS = (
    (1.0,),
    (1.0, 3.0),
    (1.0, 2.0, 5.0),
    (1.0, 1.5, 2.0, 3.0, 5.0, 7.0),
    (1.0, 1.2, 1.4, 1.6, 1.8, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0),
)


def apply() -> None:
    """Set the seaborn theme and the project's rc settings (idempotent)."""
    sns.set_theme(context="paper", style="whitegrid", palette=OKABE_ITO)
    with resources.as_file(resources.files("analysis") / "strata.mplstyle") as path:
        plt.style.use(str(path))
    plt.rcParams["svg.hashsalt"] = "ai-strata"
    plt.rcParams["path.simplify"] = True


def figure(columns: int = 1, height: float | None = None, **kwargs: Any) -> tuple[plt.Figure, Any]:
    """A figure exactly one or two paper columns wide (height defaults to a 4:3 / 2.2:1 aspect)."""
    apply()
    width = ONE_COLUMN if columns == 1 else TWO_COLUMN
    height = height if height is not None else (width * 0.75 if columns == 1 else width * 0.45)
    return plt.subplots(figsize=(width, height), **kwargs)


def count(n: float) -> str:
    """A count as printed in figures and captions (thousands separated)."""
    return f"{int(n):,}"


def n_label(name: str, n: float) -> str:
    """A group's label with its n, so that every group shows how many observations it rests on."""
    return f"{name} (n={count(n)})"


def plain(value: float) -> str:
    """A tick value in plain numbers (0.5, 1, 20), never 10^x."""
    return f"{value:g}" if value < 1e5 else count(value)


def interval_shown(
    n: float,
    n_repos: float | None = None,
    min_n: int = MIN_INTERVAL_N,
    min_repos: int | None = MIN_INTERVAL_REPOS,
) -> bool:
    """Whether a group's interval is drawn: enough observations (and repositories, if clustered)."""
    if pd.isna(n) or n < min_n:
        return False
    return min_repos is None or n_repos is None or pd.isna(n_repos) or n_repos >= min_repos


def log_axis(ax: Axes, lo: float, hi: float, axis: str = "x") -> None:
    """Log scale from lo to hi with 3-7 labelled ticks in plain numbers (1-2-5 or finer steps)."""
    lo, hi = max(float(lo), 1e-6), max(float(hi), float(lo) * 1.01)
    ticks: list[float] = []
    for steps in _LOG_STEPS:
        decades = range(int(np.floor(np.log10(lo))) - 1, int(np.ceil(np.log10(hi))) + 1)
        ticks = [m * 10.0**d for d in decades for m in steps if lo <= m * 10.0**d <= hi]
        while len(ticks) > 7:
            ticks = ticks[::2]
        if len(ticks) >= 3:
            break
    set_scale = ax.set_xscale if axis == "x" else ax.set_yscale
    set_lim = ax.set_xlim if axis == "x" else ax.set_ylim
    target = ax.xaxis if axis == "x" else ax.yaxis
    set_scale("log")
    set_lim(lo, hi)
    target.set_major_locator(FixedLocator(ticks))
    target.set_major_formatter(FuncFormatter(lambda v, _pos: plain(v)))
    target.set_minor_locator(NullLocator())


def padded_range(values: Sequence[float], factor: float = 1.25) -> tuple[float, float]:
    """Finite positive min / max of `values`, widened by `factor` on a log scale."""
    arr = np.asarray([v for v in values if pd.notna(v) and np.isfinite(v) and v > 0], dtype=float)
    if arr.size == 0:
        return 0.5, 2.0
    return float(arr.min()) / factor, float(arr.max()) * factor


@contextmanager
def keep_open() -> Iterator[list[tuple[str, plt.Figure]]]:
    """Within this block `save` leaves figures open and lists them (name, figure), for checks."""
    kept: list[tuple[str, plt.Figure]] = []
    _KEPT.append(kept)
    try:
        yield kept
    finally:
        _KEPT.remove(kept)
        for _, fig in kept:
            plt.close(fig)


def save(
    fig: plt.Figure,
    data: pd.DataFrame,
    name: str,
    out: str | Path,
    formats: Iterable[str] = FORMATS,
    caption: str = "",
) -> list[Path]:
    """Write `name`.{formats}, `name`.csv (the plotted numbers) and the caption into `out`."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    metadata = {"pdf": {"CreationDate": None}, "svg": {"Date": None}, "png": {}}
    for fmt in formats:
        path = out / f"{name}.{fmt}"
        fig.savefig(path, format=fmt, dpi=300, metadata=metadata.get(fmt, {}))
        paths.append(path)
    csv = out / f"{name}.csv"
    data.to_csv(csv, index=False)
    paths.append(csv)
    if caption:
        (out / f"{name}.caption.txt").write_text(caption.strip() + "\n", encoding="utf-8")
    if _KEPT:
        _KEPT[-1].append((name, fig))
    else:
        plt.close(fig)
    return paths
