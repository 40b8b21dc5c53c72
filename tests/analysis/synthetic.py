"""A synthetic dataset with planted effects, written through the real schema.

Why: every estimator must recover a known truth before it is trusted on the corpus, and the
notebooks, figures and report must run end to end without a crawl. The generative model:

- repos with a random intercept for architectural work, a language, and (for most) an AI adoption
  date, from which some developers use one AI tool on half their commits;
- commit size depends on integration mode, and AI work arrives more often as squash-merged PRs
  (the unit-of-work confound the study must handle);
- the *true* layer is a multinomial logit in which only the architectural logit depends on AI:
  log-odds(arch) = a + u_repo + v_dev + 0.45 (log1p(churn) - 3.5) + log(planted_or) * ai, so the
  odds ratio of architectural vs not for AI commits is exactly `planted_or`, conditional on repo,
  developer and size;
- the stored layer is the true layer passed through a known misclassification matrix; a labelled
  set drawn through the same matrix gives `evaluation.json` and out-of-fold predictions.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from analysis import LAYERS
from mining import store

MISCLASSIFICATION = np.array(
    [
        [0.85, 0.07, 0.06, 0.02],
        [0.08, 0.72, 0.15, 0.05],
        [0.04, 0.08, 0.80, 0.08],
        [0.02, 0.05, 0.18, 0.75],
    ]
)
"""P(predicted | true) used to corrupt the true layers (rows and columns in LAYERS order)."""

TOOLS = ("claude-code", "copilot-agent", "aider", "cursor")
LANGUAGES = ("python", "javascript", "go", "rust", "java")
START = datetime(2022, 1, 1, tzinfo=UTC)
END = datetime(2025, 6, 30, tzinfo=UTC)
ARCH_INTERCEPT = -1.0
SIZE_SLOPE = 0.45


@dataclass
class Truth:
    """What was planted, and the population quantities estimators must cover."""

    planted_or: float
    misclassification: np.ndarray
    true_shares: dict[str, np.ndarray]
    expected_observed_shares: dict[str, np.ndarray]
    n_commits: int
    n_ai: int
    adoption: dict[str, datetime] = field(default_factory=dict)

    @property
    def log_or(self) -> float:
        return float(np.log(self.planted_or))


def _sha(*parts: object) -> str:
    return hashlib.sha1(":".join(map(str, parts)).encode()).hexdigest()


def _softmax(eta: np.ndarray) -> np.ndarray:
    e = np.exp(eta - eta.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _draw_rows(rng: np.random.Generator, probs: np.ndarray) -> np.ndarray:
    """One categorical draw per row of `probs`."""
    u = rng.random(len(probs))[:, None]
    return (u > probs.cumsum(axis=1)).sum(axis=1).clip(0, probs.shape[1] - 1)


def make_dataset(
    path: str | Path,
    seed: int = 0,
    n_repos: int = 12,
    planted_or: float = 0.5,
    *,
    commits_per_repo: tuple[int, int] = (150, 300),
    repo_sd: float = 0.5,
    dev_sd: float = 0.3,
    evaluation_path: str | Path | None = None,
    oof_path: str | Path | None = None,
    blame_path: str | Path | None = None,
    n_labelled: int = 400,
    misclassify: bool = True,
) -> Truth:
    """Write a DuckDB file with the real schema and planted effects; return the truth.

    `evaluation_path` / `oof_path` / `blame_path`, when given, receive the classifier's
    grouped-CV report, its out-of-fold predictions and a `strata blame --releases --json` list.
    With `misclassify=False` the stored layer is the true layer (for testing the models alone).
    """
    matrix = MISCLASSIFICATION if misclassify else np.eye(len(LAYERS))
    rng = np.random.default_rng(seed)
    commit_rows: list[dict] = []
    repo_rows: list[dict] = []
    markers: list[dict] = []
    adoption: dict[str, datetime] = {}
    span = (END - START).total_seconds()
    for r in range(n_repos):
        repo = f"synth/repo{r:02d}"
        language = LANGUAGES[r % len(LANGUAGES)]
        u_repo = rng.normal(0, repo_sd)
        adopts = r % 4 != 3
        adopt_at = START + timedelta(days=int(rng.integers(420, 900))) if adopts else None
        n_dev = int(rng.integers(4, 9))
        dev_effect = rng.normal(0, dev_sd, n_dev)
        dev_uses_ai = rng.random(n_dev) < 0.6
        dev_uses_ai[0] = adopts  # at least one AI user per adopting repo
        dev_tool = rng.choice(len(TOOLS), n_dev)
        dev_weight = rng.dirichlet(np.ones(n_dev) * 2)
        n = int(rng.integers(commits_per_repo[0], commits_per_repo[1] + 1))
        when = np.sort(rng.random(n)) * span
        devs = rng.choice(n_dev, n, p=dev_weight)
        for i in range(n):
            at = START + timedelta(seconds=float(when[i]))
            d = int(devs[i])
            is_merge = rng.random() < 0.05
            automation = not is_merge and rng.random() < 0.03
            ai = (
                not is_merge
                and not automation
                and adopt_at is not None
                and at >= adopt_at
                and bool(dev_uses_ai[d])
                and rng.random() < 0.5
            )
            commit_rows.append(
                {
                    "repo": repo,
                    "i": i,
                    "at": at,
                    "dev": d,
                    "dev_effect": dev_effect[d],
                    "u_repo": u_repo,
                    "is_merge": is_merge,
                    "automation": automation,
                    "ai": ai,
                    "tool": TOOLS[dev_tool[d]],
                    "language": language,
                }
            )
        if adopt_at is not None:
            adoption[repo] = adopt_at
            tool = TOOLS[dev_tool[0]]
            markers.append(
                {
                    "repo": repo,
                    "path": "CLAUDE.md" if tool == "claude-code" else ".ai-rules",
                    "tool": tool,
                    "added_sha": _sha(repo, "marker"),
                    "added_at": adopt_at,
                    "removed_at": None,
                }
            )
        repo_rows.append(
            {
                "repo": repo,
                "source": f"synthetic://{repo}",
                "git_dir": None,
                "rev": "HEAD",
                "head_sha": _sha(repo, "head"),
                "crawled_at": END,
                "n_commits": n,
                "n_file_changes": 0,
                "n_missing_blobs": 0,
                "tags": [f"language:{language}"],
                "strata_version": "synthetic",
            }
        )
    df = pd.DataFrame(commit_rows)
    n = len(df)
    df["sha"] = [_sha(r, i) for r, i in zip(df["repo"], df["i"], strict=True)]
    # integration mode: AI work arrives more often as a squash-merged PR, which is also larger
    p_mode = np.where(df["ai"].to_numpy()[:, None], [[0.6, 0.2, 0.2]], [[0.3, 0.2, 0.5]])
    mode_idx = _draw_rows(rng, p_mode)
    modes = np.array(["squash_pr", "merged_branch", "direct"])[mode_idx]
    modes = np.where(df["is_merge"], "merge", modes)
    log_churn = rng.normal(3.0 + 1.2 * (mode_idx == 0) + 0.3 * (mode_idx == 1), 1.2)
    churn = np.maximum(np.round(np.expm1(np.clip(log_churn, 0, 11))), 1).astype(int)
    churn = np.where(df["is_merge"], 0, churn)
    x = np.log1p(churn)
    eta = np.zeros((n, 4))
    eta[:, 1] = 0.2
    eta[:, 2] = 0.9
    eta[:, 3] = (
        ARCH_INTERCEPT
        + df["u_repo"].to_numpy()
        + df["dev_effect"].to_numpy()
        + SIZE_SLOPE * (x - 3.5)
        + np.log(planted_or) * df["ai"].to_numpy()
    )
    p_true = _softmax(eta)
    auto = df["automation"].to_numpy()
    p_true[auto] = [1.0, 0.0, 0.0, 0.0]
    true_layer = _draw_rows(rng, p_true)
    observed = _draw_rows(rng, matrix[true_layer])
    df["true_layer"] = true_layer
    df["layer_idx"] = observed
    df["churn"] = churn
    df["mode"] = modes

    analysed = (~df["is_merge"] & ~df["automation"]).to_numpy()
    groups = np.where(df["ai"], "ai", "human")
    true_shares, expected = {}, {}
    p_obs = p_true @ matrix
    for g in ("human", "ai"):
        m = analysed & (groups == g)
        true_shares[g] = np.bincount(true_layer[m], minlength=4) / m.sum()
        expected[g] = p_obs[m].mean(axis=0)

    con = store.connect(path)
    try:
        with store.transaction(con):
            _write_tables(con, df, repo_rows, markers, rng)
    finally:
        con.close()
    if evaluation_path is not None or oof_path is not None:
        _write_evaluation(rng, matrix, n_labelled, evaluation_path, oof_path)
    if blame_path is not None:
        _write_blame(rng, blame_path)
    return Truth(
        planted_or=planted_or,
        misclassification=matrix.copy(),
        true_shares=true_shares,
        expected_observed_shares=expected,
        n_commits=int(analysed.sum()),
        n_ai=int((analysed & (groups == "ai")).sum()),
        adoption=adoption,
    )


def _write_tables(
    con: duckdb.DuckDBPyConnection,
    df: pd.DataFrame,
    repo_rows: list[dict],
    markers: list[dict],
    rng: np.random.Generator,
) -> None:
    n = len(df)
    ats = pd.to_datetime(df["at"], utc=True)
    epochs = (ats.astype("int64") // 10**9).to_numpy()
    churn = df["churn"].to_numpy()
    added = np.round(churn * rng.uniform(0.4, 0.9, n)).astype(int)
    author_id = np.asarray(
        [_sha(r, "dev", d)[:16] for r, d in zip(df["repo"], df["dev"], strict=True)]
    )
    ai_agent = df["ai"].to_numpy() & (rng.random(n) < 0.1)
    author_id = np.where(ai_agent, "agent-" + df["tool"], author_id)
    author_id = np.where(df["automation"], "dependabot", author_id)
    prev = df.groupby("repo")["sha"].shift(1)
    commits = pd.DataFrame(
        {
            "repo": df["repo"],
            "sha": df["sha"],
            "parents": [[p] if isinstance(p, str) else [] for p in prev],
            "is_merge": df["is_merge"],
            "author_id": author_id,
            "committer_id": author_id,
            "authored_at": ats,
            "author_tz_offset": 0,
            "committed_at": ats,
            "committer_tz_offset": 0,
            "authored_epoch": epochs,
            "committed_epoch": epochs,
            "files_changed": np.where(df["is_merge"], 0, 1 + rng.poisson(np.sqrt(churn) / 2)),
            "lines_added": added,
            "lines_deleted": churn - added,
            "n_binary": 0,
            "n_missing_blobs": 0,
            "topo_index": df.groupby("repo").cumcount(ascending=False),
            "on_first_parent": df["mode"] != "merged_branch",
            "integration_mode": df["mode"],
            "pr_number": np.where(df["mode"] == "squash_pr", df["i"] + 1, pd.NA),
        }
    )
    commits["pr_number"] = commits["pr_number"].astype("Int32")
    repos = pd.DataFrame(repo_rows)
    repos["crawled_at"] = pd.to_datetime(repos["crawled_at"], utc=True)
    if "language" in store.table_columns(con, "repos"):
        repos["language"] = [t[0].split(":", 1)[1] for t in repos["tags"]]
    store.insert_frame(con, "repos", repos)
    store.insert_frame(con, "commits", commits)

    kinds = np.where(ai_agent, "ai_agent", np.where(df["automation"], "automation", "human"))
    authors = pd.DataFrame(
        {
            "repo": df["repo"],
            "sha": df["sha"],
            "author_kind": kinds,
            "automation": np.where(df["automation"], "dependabot", np.array(None)),
        }
    )
    store.insert_frame(con, "commit_authors", authors)

    ai = df["ai"].to_numpy()
    channel = np.array(["co-author", "disclosure", "branch"])[
        _draw_rows(rng, np.tile([[0.7, 0.2, 0.1]], (n, 1)))
    ]
    channel = np.where(ai_agent, "identity", channel)
    field_of = {
        "co-author": "trailer:co-authored-by",
        "disclosure": "line",
        "branch": "merge:parent",
        "identity": "author",
    }
    att = pd.DataFrame(
        {"repo": df["repo"], "sha": df["sha"], "tool": df["tool"], "channel": channel}
    )[ai]
    suggestion = (~ai) & ~df["is_merge"].to_numpy() & (rng.random(n) < 0.02)
    sugg = pd.DataFrame(
        {"repo": df["repo"], "sha": df["sha"], "tool": "copilot", "channel": "suggestion"}
    )[suggestion]
    att = pd.concat([att, sugg], ignore_index=True)
    att["field"] = att["channel"].map(field_of).fillna("subject")
    att["evidence"] = "synthetic"
    store.insert_frame(con, "attributions", att)

    layered = ~df["is_merge"].to_numpy()
    idx = df["layer_idx"].to_numpy()
    probs = np.full((n, 4), 0.4 / 3)
    probs[np.arange(n), idx] = 0.6
    layers = pd.DataFrame(
        {
            "repo": df["repo"],
            "sha": df["sha"],
            "layer": np.array(LAYERS)[idx],
            "p_boilerplate": probs[:, 0],
            "p_refactor": probs[:, 1],
            "p_feature": probs[:, 2],
            "p_architectural": probs[:, 3],
            "is_fix": (idx == 2) & (rng.random(n) < 0.3),
            "model_version": "synthetic",
            "decided_by": "model",
        }
    )[layered]
    store.insert_frame(con, "commit_layers", layers)

    if store.table_columns(con, "commit_structure"):
        # structural events that follow the true layer (architectural commits trip them often)
        from mining.structure import EVENTS

        arch = idx == LAYERS.index("architectural")
        events = {e: rng.random(n) < np.where(arch, 0.35, 0.04) for e in EVENTS}
        structure = pd.DataFrame(
            {"repo": df["repo"], "sha": df["sha"], "structure_version": "synthetic", **events}
        )
        structure["n_events"] = np.sum([events[e] for e in EVENTS], axis=0)
        store.insert_frame(con, "commit_structure", structure[~df["is_merge"].to_numpy()])

    if markers:
        frame = pd.DataFrame(markers)
        frame["added_at"] = pd.to_datetime(frame["added_at"], utc=True)
        frame["removed_at"] = pd.to_datetime(frame["removed_at"], utc=True)
        store.insert_frame(con, "adoption_markers", frame)


def _write_evaluation(
    rng: np.random.Generator,
    matrix: np.ndarray,
    n_labelled: int,
    evaluation_path: str | Path | None,
    oof_path: str | Path | None,
) -> None:
    """A labelled set from 8 repos, architectural oversampled, predictions through `matrix`."""
    true = rng.choice(4, n_labelled, p=[0.25, 0.2, 0.3, 0.25])
    pred = _draw_rows(rng, matrix[true])
    repos = [f"label/repo{k}" for k in rng.integers(0, 8, n_labelled)]
    oof = pd.DataFrame(
        {
            "repo": repos,
            "sha": [_sha("label", k) for k in range(n_labelled)],
            "true": np.array(LAYERS)[true],
            "pred": np.array(LAYERS)[pred],
        }
    )
    ai = rng.random(n_labelled) < 0.5

    def counts(mask: np.ndarray) -> list[list[int]]:
        confusion = np.zeros((4, 4), dtype=int)
        np.add.at(confusion, (true[mask], pred[mask]), 1)
        return confusion.tolist()

    if evaluation_path is not None:
        Path(evaluation_path).parent.mkdir(parents=True, exist_ok=True)
        everyone = np.ones(n_labelled, dtype=bool)
        report = {  # the layout `strata evaluate` writes
            "source": "synthetic",
            "n_evaluated": n_labelled,
            "classifier": {
                "confusion": {"rows_true_cols_pred": list(LAYERS), "counts": counts(everyone)},
                "accuracy": float((true == pred).mean()),
            },
            "by_authorship": {
                name: {
                    "n": int(mask.sum()),
                    "accuracy": float((true[mask] == pred[mask]).mean()),
                    "confusion": counts(mask),
                }
                for name, mask in (("ai", ai), ("human", ~ai))
            },
        }
        Path(evaluation_path).write_text(json.dumps(report, indent=2), encoding="utf-8")
    if oof_path is not None:
        Path(oof_path).parent.mkdir(parents=True, exist_ok=True)
        oof.to_csv(oof_path, index=False)


def _write_blame(rng: np.random.Generator, blame_path: str | Path) -> None:
    """Six releases whose AI share of surviving lines grows."""
    rows, total = [], 20000
    for k in range(6):
        total += int(rng.integers(500, 3000))
        share = min(0.05 + 0.06 * k + rng.normal(0, 0.01), 0.9)
        ai_lines = int(total * share)
        split = rng.dirichlet([3, 1])
        rows.append(
            {
                "from": f"v1.{k}.0",
                "to": f"v1.{k + 1}.0",
                "total_lines": total,
                "ai_lines": ai_lines,
                "ai_share": round(ai_lines / total, 4),
                "by_tool": {
                    "claude-code": int(ai_lines * split[0]),
                    "aider": ai_lines - int(ai_lines * split[0]),
                },
            }
        )
    Path(blame_path).parent.mkdir(parents=True, exist_ok=True)
    Path(blame_path).write_text(json.dumps(rows, indent=2), encoding="utf-8")
