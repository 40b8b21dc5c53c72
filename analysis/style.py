"""The one figure style: colour-blind palette, paper sizes, and saving every figure with its data.

Colours are Okabe-Ito (distinguishable under the common colour-vision deficiencies). Widths match
one column (3.5 in) and two columns (7.16 in) of a two-column paper. Every figure is written as
PDF, SVG and PNG (300 dpi) plus a CSV of exactly the numbers it draws.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from analysis import LAYERS  # noqa: E402

OKABE_ITO = ["#0072B2", "#D55E00", "#009E73", "#E69F00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]
GROUP_COLORS = {"human": "#0072B2", "ai": "#D55E00"}
GROUP_LABELS = {"human": "human", "ai": "AI-assisted"}
LAYER_COLORS = dict(zip(LAYERS, ["#56B4E9", "#009E73", "#E69F00", "#CC79A7"], strict=True))
ONE_COLUMN = 3.5
TWO_COLUMN = 7.16
FORMATS: tuple[str, ...] = ("pdf", "svg", "png")


def apply() -> None:
    """Set the seaborn theme and the project's rc settings (idempotent)."""
    sns.set_theme(context="paper", style="whitegrid", palette=OKABE_ITO)
    with resources.as_file(resources.files("analysis") / "strata.mplstyle") as path:
        plt.style.use(str(path))
    plt.rcParams["svg.hashsalt"] = "ai-strata"
    plt.rcParams["path.simplify"] = True


def figure(
    columns: int = 1, height: float | None = None, **kwargs: object
) -> tuple[plt.Figure, object]:
    """A figure one or two paper columns wide (height defaults to a 4:3 / 2.2:1 aspect)."""
    apply()
    width = ONE_COLUMN if columns == 1 else TWO_COLUMN
    height = height if height is not None else (width * 0.75 if columns == 1 else width * 0.45)
    return plt.subplots(figsize=(width, height), **kwargs)


def save(
    fig: plt.Figure,
    data: pd.DataFrame,
    name: str,
    out: str | Path,
    formats: Iterable[str] = FORMATS,
) -> list[Path]:
    """Write `name`.{formats} and `name`.csv (the plotted numbers) into `out`; close the figure."""
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
    plt.close(fig)
    return paths
