"""The reference extraction that the fast one (touched blocks, incremental re-parse) is compared
with: one definition, so that every language's equality test checks against the same thing."""

from __future__ import annotations

import functools
from pathlib import Path

import pandas as pd
import pytest

from mining import features, syntax


def whole_file_features(
    monkeypatch: pytest.MonkeyPatch, git_dir: Path, shas: list[str]
) -> pd.DataFrame:
    """The plain extraction: whole files on both sides, each parsed afresh (no cut into blocks,
    no incremental re-parse from the path's previous tree)."""
    with monkeypatch.context() as m:
        m.setattr(syntax, "_WHOLE_SHARE", -1.0)
        m.setattr(
            syntax.BlobReader,
            "__init__",
            functools.partialmethod(syntax.BlobReader.__init__, incremental=False),
        )
        return features.compute_features(git_dir, shas)
