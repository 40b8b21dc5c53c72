"""Synthetic datasets with planted effects, built once per test session through the real schema."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from analysis import dataset
from tests.analysis.synthetic import Truth, make_dataset

PLANTED_OR = 0.5


@dataclass
class Synthetic:
    db: Path
    evaluation: Path
    oof: Path
    blame: Path
    truth: Truth

    def commits(self) -> pd.DataFrame:
        con = dataset.open_db(self.db)
        try:
            return dataset.analysis_commits(con)
        finally:
            con.close()


def _build(folder: Path, **kwargs: object) -> Synthetic:
    paths = {
        "evaluation": folder / "evaluation.json",
        "oof": folder / "oof.csv",
        "blame": folder / "blame.json",
    }
    truth = make_dataset(
        folder / "s.duckdb",
        evaluation_path=paths["evaluation"],
        oof_path=paths["oof"],
        blame_path=paths["blame"],
        **kwargs,
    )  # type: ignore[arg-type]
    return Synthetic(folder / "s.duckdb", truth=truth, **paths)


@pytest.fixture(scope="session")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> Synthetic:
    """Classifier errors as in MISCLASSIFICATION: stored layers are corrupted true layers."""
    return _build(tmp_path_factory.mktemp("noisy"), seed=21, n_repos=20, planted_or=PLANTED_OR)


@pytest.fixture(scope="session")
def clean(tmp_path_factory: pytest.TempPathFactory) -> Synthetic:
    """Stored layer = true layer, so models must recover the planted odds ratio itself."""
    return _build(
        tmp_path_factory.mktemp("clean"),
        seed=21,
        n_repos=20,
        planted_or=PLANTED_OR,
        misclassify=False,
    )


@pytest.fixture(scope="session")
def small(tmp_path_factory: pytest.TempPathFactory) -> Synthetic:
    """A few repositories, for end-to-end runs (report, notebooks, CLI)."""
    return _build(tmp_path_factory.mktemp("small"), seed=3, n_repos=6, commits_per_repo=(60, 110))
