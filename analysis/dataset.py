"""Tables and views of the DuckDB dataset as DataFrames, one function each, read-only.

The analysis population is every classified non-merge commit whose author is a person or an AI
agent: non-AI automation (dependabot, release bots) is excluded because its work is boilerplate by
construction and would inflate the human baseline. A commit is in the *ai* group when any
non-suggestion channel names an AI tool (`commit_facts.ai`) or an AI agent authored it; every
other commit is *human* (undetected AI work therefore sits in the human group; see
`sensitivity.py`).
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd

from analysis import LAYERS
from mining import store
from mining.errors import DatabaseError, StageError
from mining.labels import LABELS_CSV
from mining.vocabulary import SIZE_BOUNDS

SIZE_BANDS: tuple[str, ...] = ("xs", "s", "m", "l")
"""Churn bands (lines added + deleted): xs < 10 <= s < 100 <= m < 1000 <= l."""
SIZE_EDGES: tuple[float, ...] = (-np.inf, *SIZE_BOUNDS[1:], np.inf)

INTEGRATION_MODES: tuple[str, ...] = ("squash_pr", "merged_branch", "direct", "merge")

DATE_ORIGIN = pd.Timestamp("2020-01-01")


def open_db(path: str | Path) -> duckdb.DuckDBPyConnection:
    """Open the dataset read-only: the analysis never writes to the store."""
    con = store.connect(path, read_only=True)
    with contextlib.suppress(duckdb.Error):  # inside Jupyter duckdb refuses to change the setting
        con.execute("SET enable_progress_bar = false")
    return con


def _columns(con: duckdb.DuckDBPyConnection, table: str) -> set[str]:
    return set(store.table_columns(con, table))


def commit_facts(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """`commit_facts` with `integration_mode`, `pr_number` and `language` added if the view lacks them.

    The view gains columns over time; joining `commits`/`repos` here keeps the analysis working
    against older and newer databases alike.
    """
    facts = _columns(con, "commit_facts")
    if not facts:
        raise DatabaseError("no view commit_facts in the database (run `strata load` first)")
    commits = _columns(con, "commits")
    repos = _columns(con, "repos")
    select = ["f.*"]
    joins: list[tuple[str, str]] = []
    for col in ("integration_mode", "pr_number", "on_first_parent"):
        if col not in facts and col in commits:
            select.append(f"c.{col}")
            if "c" not in {j[0] for j in joins}:
                joins.append(("c", "LEFT JOIN commits c ON c.repo = f.repo AND c.sha = f.sha"))
    if "language" not in facts:
        if "language" in repos:
            select.append("r.language")
            joins.append(("r", "LEFT JOIN repos r ON r.repo = f.repo"))
        elif "tags" in repos:
            select.append("r.tags AS repo_tags")
            joins.append(("r", "LEFT JOIN repos r ON r.repo = f.repo"))
    # ordered: DuckDB's parallel joins return rows in any order, and seeded samples and bootstraps
    # downstream draw by position, so an unordered read made reruns differ
    sql = f"SELECT {', '.join(select)} FROM commit_facts f {' '.join(j[1] for j in joins)} ORDER BY f.repo, f.sha"  # noqa: S608 - fixed names
    frame = con.execute(sql).df()
    if "language" not in frame.columns:
        frame["language"] = (
            _language_from_tags(frame.pop("repo_tags")) if "repo_tags" in frame else None
        )
    if "integration_mode" not in frame.columns:
        frame["integration_mode"] = np.where(frame["is_merge"], "merge", "direct")
    return frame


def _language_from_tags(tags: pd.Series) -> pd.Series:
    """Corpus manifests tag repos `language:<name>`; the first such tag is the repo's language."""

    def pick(value: Any) -> str | None:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return None
        for tag in list(value):
            if isinstance(tag, str) and tag.startswith(("language:", "lang:")):
                return tag.split(":", 1)[1]
        return None

    return tags.map(pick)


def plan_groups(con: duckdb.DuckDBPyConnection, also_human: tuple[str, ...] = ()) -> pd.DataFrame:
    """The non-merge commits of the plan's AI and human groups, with a layer or without.

    Why one definition: the layer analysis (`analysis_commits`) and the model-free structural
    events (`structure_events.event_commits`) must compare the same commits. Adds `is_ai` (0/1)
    and `group` (ai|human); `also_human` as in `analysis_commits`.
    """
    frame = commit_facts(con)
    if frame.empty:
        raise StageError("commit_facts is empty: run `strata load` (or the build) first")
    frame = _with_optional_columns(con, frame)
    if also_human and "automation" in frame.columns:
        back = frame["author_kind"].eq("automation") & frame["automation"].isin(also_human)
        frame.loc[back, "author_kind"] = "human"
    direct = _direct(frame)
    # the eligible population: non-merge commits by people or AI agents; commits credited to AI
    # only through a merged agent branch or a suggestion belong to no group
    eligible = (
        ~frame["is_merge"].astype(bool)
        & frame["author_kind"].isin(["human", "ai_agent"])
        & (direct | ~frame["ai"].fillna(False).astype(bool))
    )
    df = frame.loc[eligible].copy()
    ai = direct[eligible]
    df["is_ai"] = ai.astype(int).to_numpy()
    df["group"] = np.where(ai, "ai", "human")
    return df


def analysis_commits(
    con: duckdb.DuckDBPyConnection, also_human: tuple[str, ...] = ()
) -> pd.DataFrame:
    """The analysis population (see module doc) with the derived columns every estimator uses.

    Adds: group (ai|human), is_ai, tool (one tool, `multiple`, or None), channel, arch (0/1),
    log_churn, size_band, month, years (since 2020, the date control), language ('unknown' if
    absent), role (study|control), weight (design weight: 1 when every commit has a layer),
    and, where the dataset has them, scripted, any_event (structural events) and layer_diff_only.
    `also_human` names automation catalog entries whose commits count as human (a sensitivity
    analysis of a debatable entry).
    """
    population = plan_groups(con, also_human)
    df = population.loc[population["layer"].notna()].copy()
    if df.empty:
        raise StageError(
            "no classified non-merge commits by people or AI agents: run `strata classify`"
        )
    ai = df["is_ai"].astype(bool)
    df["weight"] = design_weights(
        population.assign(_ai=population["is_ai"].astype(bool)), df.assign(_ai=ai)
    )
    df["tool"] = [_one_tool(t) if a else None for t, a in zip(df["ai_tools"], ai, strict=True)]
    df["channel"] = np.where(ai, df["ai_channel"].fillna("identity"), None)
    df["layer"] = pd.Categorical(df["layer"], categories=list(LAYERS))
    df["arch"] = (df["layer"] == "architectural").astype(int)
    df["churn"] = df["churn"].fillna(0).astype(float)
    df["log_churn"] = np.log1p(df["churn"])
    df["size_band"] = pd.cut(df["churn"], SIZE_EDGES, labels=list(SIZE_BANDS), right=False)
    when = pd.to_datetime(df["authored_at"], utc=True).dt.tz_convert(None)
    df["month"] = when.dt.to_period("M").dt.to_timestamp()
    df["years"] = (when - DATE_ORIGIN).dt.days / 365.25
    df["years"] = df["years"].fillna(df["years"].median())
    df["language"] = df["language"].fillna("unknown").astype(str)
    df["integration_mode"] = df["integration_mode"].fillna("direct").astype(str)
    return df.reset_index(drop=True)


def _direct(frame: pd.DataFrame) -> pd.Series:
    """Direct AI evidence (not only an agent branch or a suggestion), or an AI agent as author."""
    flag = frame["ai_direct"] if "ai_direct" in frame.columns else frame["ai"]
    return flag.fillna(False).astype(bool) | frame["author_kind"].eq("ai_agent")


def design_weights(population: pd.DataFrame, classified: pd.DataFrame) -> np.ndarray:
    """Weight per classified commit that carries a sample back to its repository x group.

    Both frames carry `_ai` (the group). When every commit has a layer the weights are all 1.
    When layers cover a stratified sample
    (`strata features --sample`), each repository x AI-evidence stratum is weighted by
    N(stratum) / n(classified in stratum), so shares describe the repositories, not the sample.
    """
    big_n = population.groupby(["repo", "_ai"]).size()
    small_n = classified.groupby(["repo", "_ai"]).size()
    ratio = (big_n / small_n).reindex(small_n.index)
    idx = pd.MultiIndex.from_arrays([classified["repo"], classified["_ai"]])
    return ratio.reindex(idx).fillna(1.0).to_numpy(float)


def _with_optional_columns(con: duckdb.DuckDBPyConnection, frame: pd.DataFrame) -> pd.DataFrame:
    """Join what newer datasets carry: repository role, structural events, the diff-only layer."""
    if "role" not in frame.columns and "role" in _columns(con, "repos"):
        roles = con.execute("SELECT repo, role FROM repos").df()
        frame = frame.merge(roles, on="repo", how="left")
    if "n_events" in _columns(con, "commit_structure"):
        ev = con.execute("SELECT repo, sha, n_events > 0 AS any_event FROM commit_structure").df()
        frame = frame.merge(ev, on=["repo", "sha"], how="left")
    if "layer_diff_only" not in frame.columns and "layer_diff_only" in _columns(
        con, "commit_layers"
    ):
        d = con.execute("SELECT repo, sha, layer_diff_only FROM commit_layers").df()
        frame = frame.merge(d, on=["repo", "sha"], how="left")
    return frame


def _one_tool(tools: Any) -> str | None:
    names = [] if tools is None else list(tools)
    if not names:
        return "unknown"
    return names[0] if len(names) == 1 else "multiple"


def attributions(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Every piece of AI evidence: repo, sha, tool, channel, field (evidence text left out)."""
    return con.execute("SELECT repo, sha, tool, channel, field FROM attributions").df()


def adoption_markers(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """Files that announce a repo's AI adoption (CLAUDE.md, .cursorrules, ...) and when."""
    return con.execute(
        "SELECT repo, path, tool, added_sha, added_at, removed_at FROM adoption_markers"
    ).df()


def repos(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    """The corpus: one row per repository as crawled (pinned revision, counts)."""
    return con.execute("SELECT * FROM repos ORDER BY repo").df()


def corpus_table(commits: pd.DataFrame, all_facts: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per repository: language, commits analysed, AI commits and share, tools, date range."""
    grouped = commits.groupby("repo", observed=True)
    table = pd.DataFrame(
        {
            "language": grouped["language"].first(),
            "commits": grouped.size(),
            "ai_commits": grouped["is_ai"].sum(),
            "first": grouped["month"].min().dt.strftime("%Y-%m"),
            "last": grouped["month"].max().dt.strftime("%Y-%m"),
            "tools": grouped["tool"].agg(lambda s: ", ".join(sorted(set(s.dropna())))),
        }
    )
    table["ai_share"] = table["ai_commits"] / table["commits"]
    if all_facts is not None:
        table.insert(1, "all_commits", all_facts.groupby("repo").size().reindex(table.index))
    return table.reset_index()


@dataclass(frozen=True)
class Evaluation:
    """The classifier's grouped-CV result: confusion counts (rows true, cols predicted, LAYERS order).

    `by_group` holds separate matrices for labelled AI and human commits when the evaluation
    reports them (`by_authorship`), so the correction can check its one-matrix assumption.
    """

    labels: tuple[str, ...]
    confusion: np.ndarray
    oof: pd.DataFrame | None
    source: str
    by_group: dict[str, np.ndarray] = field(default_factory=dict)
    #: frozen models scored on a later round's labels (`heldout` of evaluation.json, per round)
    heldout: dict[str, Any] = field(default_factory=dict)
    #: the standing rounds (never trained on) pooled into one set (`heldout_standing`)
    heldout_standing: dict[str, Any] = field(default_factory=dict)
    #: cross-validated AI - human accuracy, standardised to the pooled layer mix (`targets.
    #: ai_human_standardised_accuracy_gap`: value and its repository-bootstrap interval)
    cv_gap: dict[str, Any] = field(default_factory=dict)

    def misclassification(self) -> np.ndarray:
        """P(predicted = j | true = i), rows in LAYERS order."""
        return row_normalise(self.confusion)

    @property
    def n_labelled(self) -> int:
        """Labelled commits behind the matrix."""
        return commits_in(self.confusion)


def commits_in(counts: np.ndarray) -> int:
    """How many labelled commits weighted confusion counts stand for. `strata evaluate`'s counts
    are 1/pi-weighted and rescaled to n, so their float sum is n up to rounding error: rounded
    here, never truncated (4346.9999 is 4,347 commits)."""
    return int(round(float(np.sum(counts))))


def row_normalise(counts: np.ndarray) -> np.ndarray:
    """Turn confusion counts into P(pred | true); an empty row becomes the identity row."""
    counts = np.asarray(counts, dtype=float)
    sums = counts.sum(axis=-1, keepdims=True)
    out = np.divide(counts, sums, out=np.zeros_like(counts), where=sums > 0)
    empty = sums[..., 0] == 0
    out[empty] = np.eye(counts.shape[-1])[np.nonzero(empty)[-1]]
    return out


def _matrix(labels: list[str], counts: object, path: Path) -> np.ndarray:
    matrix = np.asarray(counts, dtype=float)
    if set(labels) != set(LAYERS) or matrix.shape != (len(LAYERS), len(LAYERS)):
        raise StageError(
            f"{path}: labels {labels} / matrix {matrix.shape} do not match the layers {LAYERS}"
        )
    order = [labels.index(layer) for layer in LAYERS]
    return matrix[np.ix_(order, order)]


def load_evaluation(path: str | Path, oof_path: str | Path | None = None) -> Evaluation | None:
    """Read `strata evaluate`'s JSON; None if the file is absent.

    Accepts `{"labels": [...], "confusion_matrix": [[...]]}` or the evaluate report's
    `{"classifier": {"confusion": {"rows_true_cols_pred": [...], "counts": [[...]]}}, "by_authorship":
    {"ai": {"confusion": ...}, "human": {...}}}`. Matrices are reordered to LAYERS. Out-of-fold
    predictions (CSV: repo, sha, true, pred) are attached when present so the correction can
    bootstrap the labelled set by repository.
    """
    path = Path(path)
    if not path.exists():
        return None
    by_group: dict[str, np.ndarray] = {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if "confusion_matrix" in data:
            labels = [str(x) for x in data["labels"]]
            matrix = _matrix(labels, data["confusion_matrix"], path)
        else:
            conf = data["classifier"]["confusion"]
            labels = [str(x) for x in conf["rows_true_cols_pred"]]
            matrix = _matrix(labels, conf["counts"], path)
        for group, part in (data.get("by_authorship") or {}).items():
            if isinstance(part, dict) and part.get("confusion") is not None:
                by_group[group] = _matrix(labels, part["confusion"], path)
    except (ValueError, KeyError, TypeError) as exc:
        raise StageError(
            f"{path}: not an evaluation report with a confusion matrix ({exc!r})"
        ) from exc
    oof = None
    if oof_path is not None and Path(oof_path).exists():
        oof = pd.read_csv(oof_path, dtype=str)
        missing = {"true", "pred"} - set(oof.columns)
        if missing:
            raise StageError(
                f"{oof_path}: missing columns {sorted(missing)} (need repo, sha, true, pred)"
            )
        oof = oof[oof["true"].isin(LAYERS) & oof["pred"].isin(LAYERS)].reset_index(drop=True)
        if "repo" not in oof.columns:
            oof["repo"] = "labelled"
    heldout, standing = (
        data.get(k) if isinstance(data.get(k), dict) else {}
        for k in ("heldout", "heldout_standing")
    )
    gap = (data.get("targets") or {}).get("ai_human_standardised_accuracy_gap")
    return Evaluation(
        tuple(LAYERS),
        matrix,
        oof,
        str(path),
        by_group,
        heldout,
        standing,
        gap if isinstance(gap, dict) and "value" in gap else {},
    )


def load_blame_releases(path: str | Path) -> pd.DataFrame | None:
    """`strata blame --releases --json` output as a frame; None when the file is absent."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        frame = pd.DataFrame(rows)
        columns = ["from", "to", "total_lines", "ai_lines", "ai_share", "by_tool"]
        frame = frame[
            columns + (["repo"] if "repo" in frame else [])
        ].copy()  # repo: optional, named in fig07
        # percent, from the counts: blame's JSON gave a percentage before issue 15, a fraction since
        frame["ai_share"] = (100 * frame["ai_lines"] / frame["total_lines"].clip(lower=1)).round(2)
    except (ValueError, KeyError, TypeError) as exc:
        raise StageError(f"{path}: not a `strata blame --releases --json` list ({exc})") from exc
    return frame


def labelled_predictions(
    evaluation: Evaluation | None, commits: pd.DataFrame, labels_path: str | Path = LABELS_CSV
) -> pd.DataFrame:
    """Out-of-fold predictions of labelled commits with their group and design weight.

    Columns: repo, sha, true, pred, group (ai|human, from the dataset), weight (1/pi from the
    labels file; 1 where the labels carry no inclusion probability). Labelled commits outside
    the analysis population (automation) are dropped: they belong to neither group.
    """
    empty = pd.DataFrame(columns=["repo", "sha", "true", "pred", "group", "weight"])
    if evaluation is None or evaluation.oof is None or "sha" not in evaluation.oof.columns:
        return empty
    oof = evaluation.oof[["repo", "sha", "true", "pred"]]
    out = oof.merge(commits[["repo", "sha", "group"]], on=["repo", "sha"], how="inner")
    out["weight"] = 1.0
    path = Path(labels_path)
    if path.exists():
        labels = pd.read_csv(path, dtype={"sha": str})
        if "pi" in labels.columns:
            w = labels.assign(w=1.0 / pd.to_numeric(labels["pi"], errors="coerce"))[
                ["repo", "sha", "w"]
            ]
            out = out.merge(w, on=["repo", "sha"], how="left")
            out["weight"] = out.pop("w").fillna(1.0)
    return out
