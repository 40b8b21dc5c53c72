"""The study: reads the DuckDB dataset (never git, never the miner) and answers one question.

Do AI-assisted commits concentrate in the structured layers (boilerplate, refactor, feature) and
away from architectural change, compared with human commits in the same repositories? Modules are
plain functions over DataFrames: `dataset` loads, the estimators compute, `figures` and `report`
present.
"""

LAYERS: tuple[str, ...] = ("boilerplate", "refactor", "feature", "architectural")
"""Layer order used everywhere (lowest design judgment first), per shared/codebook.md."""

GROUPS: tuple[str, ...] = ("human", "ai")
