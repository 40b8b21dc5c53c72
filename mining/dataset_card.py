"""DATASET.md, the release's card: provenance, pinned revisions, schema, how AI was detected,
the classifier's measured error and known limits. Every number is computed from the database
being released, so the card cannot drift from the data.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow.parquet as pq

from mining import __version__, store
from mining.attribute import AUTOMATION_VIA
from mining.vocabulary import AI_CHANNELS, CHANNEL_DEFS, CHANNELS

LIMITS = [
    "Only disclosed AI use is visible: tools that leave no trace in commit metadata (inline "
    "completion, chat copy-paste, squash merges that drop trailers) are counted as human. "
    "Controls mean *no disclosed AI*, not *no AI*.",
    "The branch channel is pull-request-level provenance: human fix-up commits on an agent's "
    "branch are credited to the agent too; `ai_direct` excludes it.",
    "Layers come from a classifier with the measured error above; shares are estimates, and "
    "merge commits have no layer.",
    "Person ids are renumbered per release (`p000001` ...): they group a person's commits within "
    "the release but anyone can look up the author of a public commit by its sha.",
    "Attribution evidence text is blanked (`evidence` = ''): tool, channel and field remain.",
    "Line counts are missing where a partial clone lacked a blob (`blob_missing`, "
    "`n_missing_blobs`); binary files count 0 lines.",
    "Dates are the commits' recorded author/committer dates, which authors can set freely.",
]


def _table(header: list[str], rows: list[list[Any]]) -> str:
    out = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    out += ["| " + " | ".join("" if v is None else str(v) for v in r) + " |" for r in rows]
    return "\n".join(out)


def _evaluation(path: Path | None) -> str:
    if path is None or not path.is_file():
        return (
            "Not measured in this release (no evaluation report was found when it was written); "
            "run `strata evaluate` and rebuild the release."
        )
    rep = json.loads(path.read_text())
    c = rep.get("classifier", rep)
    lines = [
        f"Measured by `strata evaluate` (repository-grouped cross-validation on the labelled "
        f"development set; file `{path.name}`): n = {c.get('n')}, macro-F1 = "
        f"{c.get('macro_f1', float('nan')):.3f}, accuracy = {c.get('accuracy', float('nan')):.3f}.",
    ]
    per = c.get("per_layer", {})
    if per:
        rows = [
            [
                layer,
                f"{m.get('precision', 0):.3f}",
                f"{m.get('recall', 0):.3f}",
                f"{m.get('f1', 0):.3f}",
            ]
            for layer, m in per.items()
        ]
        lines += ["", _table(["layer", "precision", "recall", "F1"], rows)]
    gap = rep.get("by_authorship", {}).get("accuracy_gap_ai_minus_human")
    if gap is not None:
        lines += ["", f"Accuracy on AI commits minus accuracy on human commits: {gap:+.3f}."]
    for rnd, check in sorted(
        (rep.get("heldout") or {}).items(), key=lambda kv: int(kv[0].removeprefix("round"))
    ):
        full = (check.get("models") or {}).get("full") or {}
        frozen = full.get("frozen_model") or {}
        if "macro_f1" not in full or "cv_macro_f1" not in frozen:
            continue
        lo, hi = full["macro_f1_ci"]
        lines += [
            "",
            f"Held-out check ({rnd}): the model of version {frozen.get('version')}, frozen before "
            f"{full['n']} commits of {full['repositories']} repositories outside every earlier "
            f"labelling round were labelled, scored macro-F1 = {full['macro_f1']:.3f} "
            f"[{lo:.3f}, {hi:.3f}] on them (its cross-validation: {frozen['cv_macro_f1']:.3f}); "
            f"architectural F1 = {full['per_layer_f1']['architectural']:.3f}"
            + ("; a standing held-out set, never trained on." if check.get("standing") else "."),
        ]
    pool = rep.get("heldout_standing") or {}
    full = (pool.get("models") or {}).get("full") or {}
    if "macro_f1" in full:
        lo, hi = full["macro_f1_ci"]
        lines += [
            "",
            f"Standing held-out set (rounds {', '.join(str(r) for r in pool['rounds'])}, never "
            f"trained on, pooled): {full['n']} commits of {full['repositories']} repositories, "
            f"macro-F1 = {full['macro_f1']:.3f} [{lo:.3f}, {hi:.3f}], architectural F1 = "
            f"{full['per_layer_f1']['architectural']:.3f}.",
        ]
    return "\n".join(lines)


_COVERED = (
    ("commit_features", "change features"),
    ("commit_layers", "layer (full model) and `layer_diff_only`; `is_oof` marks labelled commits"),
    ("commit_structure", "structural-change events"),
    ("commit_authors", "author kind (person, AI agent, automation), scripted flag"),
)


def _coverage(con: duckdb.DuckDBPyConnection) -> str:
    """Which non-merge commits each derived table covers, counted, so no reader assumes a sample."""
    total = store.one_row(con, "SELECT count(*) FROM commits WHERE NOT is_merge")[0]
    rows = []
    for table, what in _COVERED:
        if not store.table_columns(con, table):
            continue
        n = store.one_row(
            con,
            f"SELECT count(*) FROM {table} t JOIN commits c USING (repo, sha) WHERE NOT c.is_merge",  # noqa: S608 - fixed names
        )[0]
        rows.append(
            [f"`{table}`", what, f"{n:,} of {total:,}", f"{100 * n / total:.1f}%" if total else "-"]
        )
    merges = store.one_row(con, "SELECT count(*) FROM commits WHERE is_merge")[0]
    return (
        _table(["table", "holds", "non-merge commits covered", "share"], rows)
        + f"\n\nMerge commits ({merges:,}) have no layer, features or events by design; "
        "`commits`, `file_changes` and `attributions` cover every commit reachable from each pin."
    )


def render(
    con: duckdb.DuckDBPyConnection,
    folder: Path,
    tables: dict[str, dict[str, Any]],
    evaluation: Path | None = None,
) -> str:
    """The card's Markdown for the release being written in `folder`, section by section."""
    parts = [
        *_intro(),
        *_provenance(con),
        "## What covers what",
        "",
        _coverage(con),
        "",
        *_files(folder, tables),
        *_detection(con),
        *_human_group(con),
        "## Classifier error",
        "",
        _evaluation(evaluation),
        "",
        "## Known limits",
        "",
        *[f"- {x}" for x in LIMITS],
    ]
    return "\n".join(parts) + "\n"


def _intro() -> list[str]:
    """What the dataset is and how to load it."""
    return [
        "# ai-strata dataset",
        "",
        "Commit metadata of public git repositories, with evidence of AI coding tools and a "
        "layer label (boilerplate | refactor | feature | architectural) per non-merge commit. "
        "Content-free: no commit message text, no code, no names or emails; only metadata, "
        "counts, labels and pseudonymous person ids.",
        "",
        f"Written by ai-strata {__version__}. Load it with `strata load --release <this folder>` "
        "(checks every file's sha256 against `manifest.json`), then query with `strata query` "
        "or DuckDB. Views: `commit_facts` (one row per commit), `layer_shares`, `ai_by_month`, "
        "`tool_summary`.",
        "",
    ]


def _provenance(con: duckdb.DuckDBPyConnection) -> list[str]:
    """The repositories, their pins and the commit totals."""
    repos = con.execute(
        "SELECT r.repo, r.role, r.language, r.head_sha, r.n_commits, "
        "(SELECT count(DISTINCT a.sha) FROM attributions a WHERE a.repo = r.repo "
        "AND list_contains(?, a.channel)) FROM repos r ORDER BY r.role DESC NULLS LAST, r.repo",
        [list(AI_CHANNELS)],
    ).fetchall()
    tot = store.one_row(
        con,
        "SELECT count(*), count(*) FILTER (WHERE NOT is_merge), "
        "count(*) FILTER (WHERE ai), count(*) FILTER (WHERE ai_direct), count(layer) FROM commit_facts",
    )
    return [
        "## Provenance",
        "",
        f"{len(repos)} repositories from the corpus manifest `data/corpus.toml` (selection "
        "criteria: `docs/corpus.md`), each crawled at the pinned commit below by `strata build` "
        "(crawl -> attribute -> features -> classify). "
        f"{tot[0]:,} commits, {tot[1]:,} non-merge; {tot[2]:,} with AI evidence "
        f"({tot[3]:,} direct, i.e. not only via an agent branch); {tot[4]:,} classified.",
        "",
        *(
            [
                "Features and layers cover a seeded per-repository sample, not every commit: "
                "`strata features --sample N` takes up to N commits with direct AI evidence and N "
                "other non-merge commits per repository (ranked by a seeded hash of the SHA). Crawl "
                "and attribution tables cover every commit.",
                "",
            ]
            if 0 < tot[4] < tot[1]
            else []
        ),
        _table(
            ["repo", "role", "language", "pinned commit", "commits", "AI commits"],
            [[r[0], r[1], r[2], f"`{r[3]}`", f"{r[4]:,}", f"{r[5]:,}"] for r in repos],
        ),
        "",
    ]


def _files(folder: Path, tables: dict[str, dict[str, Any]]) -> list[str]:
    """One line per released file: rows and column types, read back from the Parquet written."""
    parts = [
        "## Files and schema",
        "",
        "One Parquet file per table (zstd). Column meanings: `docs/schema.md` and the comments in "
        "`mining/schema/*.sql`. `messages` and `identities` are not released (their tables exist, "
        "empty, in a loaded database). In the tables keyed by commit (file_changes, "
        "attributions, commit_authors, commit_features, commit_layers, commit_structure) `sha` is stored "
        "as `commit_idx`, the commit's 0-based row in `commits.parquet` (ordered by repo, sha); "
        "`strata load` restores `sha`.",
        "",
    ]
    for table, meta in tables.items():
        schema = pq.read_schema(folder / meta["file"])
        cols = ", ".join(f"`{f.name}` {f.type}" for f in schema)
        parts += [f"- **{table}** ({meta['rows']:,} rows): {cols}"]
    return [*parts, ""]


def _detection(con: duckdb.DuckDBPyConnection) -> list[str]:
    """How AI was detected: the channels, and commits per strongest channel and per tool."""
    tool_channel = con.execute(
        "SELECT tool, channel, count(DISTINCT (repo, sha)) FROM attributions GROUP BY ALL ORDER BY 1, 2"
    ).fetchall()
    channels = sorted(
        {ch for _, ch, _ in tool_channel},
        key=lambda c: CHANNELS.index(c) if c in CHANNELS else 99,
    )
    per_tool: dict[str, dict[str, int]] = {}
    for tool, ch, n in tool_channel:
        per_tool.setdefault(tool, {})[ch] = n
    tool_totals = dict(
        con.execute(
            "SELECT tool, count(DISTINCT (repo, sha)) FROM attributions GROUP BY 1"
        ).fetchall()
    )
    by_channel = con.execute(
        "SELECT ai_channel, count(*) FROM commit_facts WHERE ai GROUP BY 1 ORDER BY 2 DESC"
    ).fetchall()
    return [
        "## How AI was detected",
        "",
        "From commit metadata only, with the catalog `mining/signatures.toml` (rules: "
        "`shared/ai-signatures.md`). A commit is AI (`ai`) when any channel other than "
        "`suggestion` names a tool. Channels:",
        "",
        *[f"- `{ch.name}`: {ch.description}" for ch in CHANNEL_DEFS],
        "",
        "AI commits by strongest channel (`commit_facts.ai_channel`):",
        "",
        _table(["channel", "commits"], [[c, f"{n:,}"] for c, n in by_channel]),
        "",
        "Commits with evidence per tool and channel (a commit can have several):",
        "",
        _table(
            ["tool", "commits", *channels],
            [
                [t, f"{tool_totals[t]:,}", *[f"{per_tool[t].get(ch, 0):,}" for ch in channels]]
                for t in sorted(per_tool, key=lambda t: -tool_totals[t])
            ],
        ),
        "",
    ]


def _human_group(con: duckdb.DuckDBPyConnection) -> list[str]:
    """Who counts as human: author kinds, why automation is out, scripted subjects."""
    return [
        "## Who is in the human group",
        "",
        "`commit_facts.author_kind` is `ai_agent` (an AI tool's identity is the author), "
        "`automation` or `human`. Automation is kept out of the human group; "
        "`automation_via` says why:",
        "",
        *[f"- `{via}`: {desc}" for via, desc in AUTOMATION_VIA.items()],
        "",
        "`scripted` flags commits whose masked subject (numbers, versions, hashes, dates and PR "
        "numbers replaced) repeats often in its repository; `commit_templates` lists those "
        "templates by id with counts and the reviewed decision (`kind`: automation | chore | "
        "NULL = not reviewed), never their text. Non-merge commits:",
        "",
        _table(
            ["author_kind", "automation_via", "commits", "scripted"],
            [
                [k, v or "", f"{n:,}", f"{sc:,}"]
                for k, v, n, sc in con.execute(
                    "SELECT author_kind, automation_via, count(*), count(*) FILTER (WHERE scripted) "
                    "FROM commit_facts WHERE NOT is_merge GROUP BY ALL ORDER BY 1, 2 NULLS FIRST"
                ).fetchall()
            ],
        ),
        "",
    ]
