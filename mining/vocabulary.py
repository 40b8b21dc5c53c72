"""The project's shared words and defaults, defined once: every stage, the CLI and the study
import them from here, so that a layer or a default path cannot drift between modules."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

LAYERS: tuple[str, ...] = ("boilerplate", "refactor", "feature", "architectural")
"""The four layers, lowest design judgment first (../shared/codebook.md)."""

DEFAULT_DB = Path("data/strata.duckdb")
"""Where commands read and write the dataset unless --db (or $STRATA_DB) names another file."""

DEFAULT_CACHE = Path("data/raw")
"""Where clone URLs are cloned (bare) unless --cache names another folder."""

CORPUS_TOML = Path("data/corpus.toml")
"""The study's corpus manifest (`--corpus`, `strata build`, the labelled repositories' pins)."""

RELEASE_DIR = Path("data/release")
"""Where `strata release` writes the content-free release and `strata load`/`reproduce` read it."""

REPORTS_DIR = Path("reports")
"""Where the study's report, figures and notebooks go unless --out names another folder."""

CLASSIFIER_REPORTS = REPORTS_DIR / "classifier"
"""Where `strata evaluate` writes evaluation.json and the confusion matrix."""

EVALUATION_CANDIDATES: tuple[Path, ...] = (
    CLASSIFIER_REPORTS / "evaluation.json",
    REPORTS_DIR / "evaluation.json",
)
"""The classifier evaluation the report and the release's DATASET.md read when none is named:
the first of these that exists."""

BLAME_RELEASES = REPORTS_DIR / "blame_releases.json"
"""`strata blame --releases --json` output the report's release chart reads unless --blame."""


@dataclass(frozen=True)
class Channel:
    """One attribution channel (mining/channels.toml): how a commit's AI evidence was found."""

    name: str
    ai: bool  # evidence that a tool wrote the change (a review suggestion is not)
    direct: bool  # commit-level evidence (a merged agent branch is pull-request-level)
    description: str


def _load_channels() -> tuple[Channel, ...]:
    text = (resources.files("mining") / "channels.toml").read_text(encoding="utf-8")
    return tuple(Channel(**entry) for entry in tomllib.loads(text)["channel"])


CHANNEL_DEFS: tuple[Channel, ...] = _load_channels()
"""The attribution channels, strongest first; the views rank them through `attribution_channels`,
which the store fills from these rows."""

CHANNELS: tuple[str, ...] = tuple(c.name for c in CHANNEL_DEFS)
AI_CHANNELS: tuple[str, ...] = tuple(c.name for c in CHANNEL_DEFS if c.ai)
DIRECT_CHANNELS: tuple[str, ...] = tuple(c.name for c in CHANNEL_DEFS if c.direct)

SIZE_BOUNDS: tuple[int, ...] = (0, 10, 100, 1000)
"""Lower bounds of the change-size bands (lines added + deleted) every stage and report uses."""

SIZE_BAND_NAMES: tuple[str, ...] = ("<10", "10-99", "100-999", ">=1000")


def size_band(lines: object) -> np.ndarray:
    """The band name of each changed-line count (array-like in, object array out)."""
    counts = np.clip(np.asarray(lines, dtype=float), 0, None)
    return np.asarray(SIZE_BAND_NAMES, dtype=object)[
        np.searchsorted(SIZE_BOUNDS, counts, side="right") - 1
    ]


#: who made a commit, as the crawl stores it (table `identities`): never released, so the privacy
#: scan forbids these column names in any released table
IDENTITY_COLUMNS = (
    "author_name",
    "author_email",
    "committer_name",
    "committer_email",
    "mailmap_author_name",
    "mailmap_author_email",
)

#: the classifier's text columns beside the feature columns: the cleaned message, the path
#: tokens and the diff tokens (`text_features` reads them; `features` can take them from its
#: own patch stream; the diff-only model reads all but the message)
TEXT_COLUMNS = ["msg_text", "path_text", "diff_text"]
MESSAGE_TEXT_COLUMNS = ["msg_text"]
DIFF_TEXT_COLUMNS = ["diff_text"]
#: the definition of `text_features.diff_tokens`: stored with each `commit_diff_tokens` row and
#: in a model that reads them, which is refused when the two differ
#: 2: test data (file_kinds.toml `[unread_test_data]`) gives no tokens
DIFF_TOKENS_VERSION = "2"
