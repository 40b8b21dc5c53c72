"""Keep the machine out of the tests: no user git config, fixed timezone, isolated HOME."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tests.gitrepo import RepoBuilder, isolate_git

# Fuzz targets (tests/test_fuzz.py): a few examples in `make test`, >= 10k in `make fuzz`.
settings.register_profile("default", max_examples=25, deadline=None)
settings.register_profile(
    "fuzz", max_examples=10_000, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(autouse=True)
def _isolated_git(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    isolate_git(monkeypatch, tmp_path_factory.mktemp("home"))


@pytest.fixture
def repo_builder(tmp_path: Path):
    """Factory: `repo_builder("name")` returns a fresh RepoBuilder under tmp_path."""

    def make(name: str = "repo", **kw: object) -> RepoBuilder:
        return RepoBuilder(tmp_path / name, **kw)  # type: ignore[arg-type]

    return make


@pytest.fixture
def small_repo(repo_builder) -> RepoBuilder:
    """Two commits, a Python file and a Markdown file: the smallest history a command can read."""
    rb = repo_builder("small")
    rb.commit("first", {"a.py": "x = 1\n"})
    rb.commit("second", {"a.py": "x = 2\n", "b.md": "doc\n"})
    return rb
