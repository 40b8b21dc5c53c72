"""Readability checks on a drawn figure, measured with matplotlib's renderer extents.

Why: "legible" has to be checkable, not a matter of taste: the tests render every figure and ask
these functions for problems (overlapping text, text off the canvas, a colour for two categories,
a log axis without readable ticks, text under 7 pt). Each returns a list of problems (empty = ok).
"""

from __future__ import annotations

import re
from typing import Any

import matplotlib.pyplot as plt
from matplotlib.axis import Axis
from matplotlib.colors import to_hex
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from analysis import style

PLAIN_NUMBER = re.compile(r"^[-\u2212]?\d[\d,]*(\.\d+)?$")
TOLERANCE_PX = 1.0


def _drawn_tick_labels(axis: Axis) -> list[Text]:
    """Tick labels matplotlib actually draws (ticks inside the view), non-empty and visible."""
    if not axis.get_visible():
        return []
    ticks = axis._update_ticks()  # type: ignore[attr-defined]  # the ticks the renderer draws (within view)
    labels = []
    for tick in ticks:
        for label in (tick.label1, tick.label2):
            if label.get_visible() and label.get_text().strip():
                labels.append(label)
    return labels


def _texts(fig: plt.Figure) -> list[tuple[str, Text]]:
    """Every visible, non-empty text of the figure, named for messages (legend texts excluded)."""
    items: list[tuple[str, Text]] = []
    for i, ax in enumerate(fig.axes):
        if not ax.get_visible():
            continue
        for axis_name, axis in (("x", ax.xaxis), ("y", ax.yaxis)):
            items += [(f"axes{i} {axis_name}-tick", t) for t in _drawn_tick_labels(axis)]
            items.append((f"axes{i} {axis_name}-label", axis.label))
        items += [(f"axes{i} title", t) for t in (ax.title, ax._left_title, ax._right_title)]  # type: ignore[attr-defined]  # no public accessor
        items += [(f"axes{i} text", t) for t in ax.texts]
    items += [("figure text", t) for t in fig.texts]
    for sup in (fig._suptitle, fig._supxlabel, fig._supylabel):  # type: ignore[attr-defined]  # no public accessor
        if sup is not None:
            items.append(("figure super-label", sup))
    unique = {id(t): (n, t) for n, t in items}  # super-labels are also in fig.texts
    return [(n, t) for n, t in unique.values() if t.get_visible() and t.get_text().strip()]


def _legends(fig: plt.Figure) -> list:
    return [ax.get_legend() for ax in fig.axes if ax.get_legend() is not None] + list(fig.legends)


def _overlap(a: Bbox, b: Bbox) -> bool:
    return (
        min(a.x1, b.x1) - max(a.x0, b.x0) > TOLERANCE_PX
        and min(a.y1, b.y1) - max(a.y0, b.y0) > TOLERANCE_PX
    )


def text_problems(fig: plt.Figure) -> list[str]:
    """Overlapping texts (tick labels, labels, annotations, legends) and text off the canvas."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # the Agg canvas style.py selects
    boxes = [(f"{n} {t.get_text()!r}", t.get_window_extent(renderer)) for n, t in _texts(fig)]
    boxes += [
        (f"legend {i}", leg.get_window_extent(renderer)) for i, leg in enumerate(_legends(fig))
    ]
    canvas = fig.bbox
    problems = []
    for name, box in boxes:
        if (
            box.x0 < canvas.x0 - TOLERANCE_PX
            or box.y0 < canvas.y0 - TOLERANCE_PX
            or box.x1 > canvas.x1 + TOLERANCE_PX
            or box.y1 > canvas.y1 + TOLERANCE_PX
        ):
            problems.append(f"off the canvas: {name}")
    for i, (name_a, a) in enumerate(boxes):
        for name_b, b in boxes[i + 1 :]:
            if _overlap(a, b):
                problems.append(f"overlap: {name_a} / {name_b}")
    return problems


def size_problems(fig: plt.Figure) -> list[str]:
    """Width not one or two columns, or any text (legend texts included) under MIN_TEXT_PT."""
    width_pt = fig.get_figwidth() * style.POINTS_PER_INCH
    problems = []
    if not (abs(width_pt - style.ONE_COLUMN_PT) < 0.5 or abs(width_pt - style.TWO_COLUMN_PT) < 0.5):
        problems.append(f"width {width_pt:.0f} pt is neither one nor two columns")
    texts = [t for _, t in _texts(fig)] + [t for leg in _legends(fig) for t in leg.get_texts()]
    for t in texts:
        if t.get_fontsize() < style.MIN_TEXT_PT - 1e-6:
            problems.append(f"{t.get_text()!r} at {t.get_fontsize():.1f} pt")
    return problems


def _handle_style(handle: Any) -> tuple:  # a legend handle: an artist or a container
    """(colour, marker, filled) a legend entry is recognised by."""
    if isinstance(handle, Line2D):
        marker = handle.get_marker() if handle.get_marker() not in (None, "None", "") else ""
        face = handle.get_markerfacecolor()
        filled = marker and to_hex(face) == to_hex(handle.get_color())
        return (to_hex(handle.get_color()), marker, bool(filled), handle.get_linestyle())
    if isinstance(handle, Patch):
        return (to_hex(handle.get_facecolor()), "patch", True, "")
    if hasattr(handle, "get_children") and handle.get_children():  # errorbar containers
        return _handle_style(handle.get_children()[0])
    if hasattr(handle, "get_facecolor"):
        face = handle.get_facecolor()
        return (to_hex(face[0] if len(face) else "none"), "collection", True, "")
    return (repr(handle),)


def legend_problems(fig: plt.Figure) -> list[str]:
    """A colour/marker combination standing for two different categories in one figure."""
    seen: dict[tuple, str] = {}
    problems = []
    for leg in _legends(fig):
        for handle, text in zip(leg.legend_handles, leg.get_texts(), strict=False):
            key = _handle_style(handle)
            label = text.get_text()
            if key in seen and seen[key] != label:
                problems.append(f"{key} stands for both {seen[key]!r} and {label!r}")
            seen.setdefault(key, label)
    return problems


def log_axis_problems(fig: plt.Figure) -> list[str]:
    """Log axes with fewer than three labelled ticks, or labels not in plain numbers (10^x)."""
    fig.canvas.draw()
    problems = []
    for i, ax in enumerate(fig.axes):
        for name, axis, scale in (
            ("x", ax.xaxis, ax.get_xscale()),
            ("y", ax.yaxis, ax.get_yscale()),
        ):
            if scale != "log" or not axis.get_visible():
                continue
            labels = [t.get_text() for t in _drawn_tick_labels(axis)]
            if len(labels) < 3:
                problems.append(f"axes{i} {name}: {len(labels)} labelled ticks on a log axis")
            bad = [t for t in labels if not PLAIN_NUMBER.match(t)]
            if bad:
                problems.append(f"axes{i} {name}: tick labels not plain numbers {bad}")
    return problems


def all_problems(fig: plt.Figure) -> list[str]:
    """Every check at once."""
    return text_problems(fig) + size_problems(fig) + legend_problems(fig) + log_axis_problems(fig)
