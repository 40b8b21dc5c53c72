"""The project's shared words and defaults, defined once: every stage, the CLI and the study
import them from here, so that a layer or a default path cannot drift between modules."""

from __future__ import annotations

from pathlib import Path

import numpy as np

LAYERS: tuple[str, ...] = ("boilerplate", "refactor", "feature", "architectural")
"""The four layers, lowest design judgment first (../shared/codebook.md)."""

DEFAULT_DB = Path("data/strata.duckdb")
"""Where commands read and write the dataset unless --db (or $STRATA_DB) names another file."""

DEFAULT_CACHE = Path("data/raw")
"""Where clone URLs are cloned (bare) unless --cache names another folder."""

SIZE_BOUNDS: tuple[int, ...] = (0, 10, 100, 1000)
"""Lower bounds of the change-size bands (lines added + deleted) every stage and report uses."""

SIZE_BAND_NAMES: tuple[str, ...] = ("<10", "10-99", "100-999", ">=1000")


def size_band(lines: object) -> np.ndarray:
    """The band name of each changed-line count (array-like in, object array out)."""
    counts = np.clip(np.asarray(lines, dtype=float), 0, None)
    return np.asarray(SIZE_BAND_NAMES, dtype=object)[np.searchsorted(SIZE_BOUNDS, counts, side="right") - 1]
