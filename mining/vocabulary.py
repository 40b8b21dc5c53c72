"""The project's shared words and defaults, defined once: every stage, the CLI and the study
import them from here, so that a layer or a default path cannot drift between modules."""

from __future__ import annotations

from pathlib import Path

LAYERS: tuple[str, ...] = ("boilerplate", "refactor", "feature", "architectural")
"""The four layers, lowest design judgment first (../shared/codebook.md)."""

DEFAULT_DB = Path("data/strata.duckdb")
"""Where commands read and write the dataset unless --db (or $STRATA_DB) names another file."""

DEFAULT_CACHE = Path("data/raw")
"""Where clone URLs are cloned (bare) unless --cache names another folder."""
