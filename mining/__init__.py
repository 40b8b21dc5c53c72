"""ai-strata's miner: git histories -> DuckDB tables, one module per stage.

Stages: crawl (commits, file_changes) -> attribute (attributions) -> features
(commit_features) -> classify (commit_layers). `store` owns the database.
"""

__version__ = "0.1.0"
