"""The study: reads the DuckDB dataset (never git, never the miner) and answers one question.

Do AI-assisted commits concentrate in the structured layers (boilerplate, refactor, feature) and
away from architectural change, compared with human commits in the same repositories? Modules are
plain functions over DataFrames: `dataset` loads, the estimators compute, `figures` and `report`
present.
"""

from mining.vocabulary import LAYERS  # noqa: F401 - the one definition, re-exported for the study

GROUPS: tuple[str, ...] = ("human", "ai")
