"""Draw the labelled set as a probability sample, so that scores weight back to the population.

The population of a repository is its non-merge commits at the corpus pin. Within each repository
the draw is stratified by authorship bucket and era (simple random samples), plus an independent
enrichment draw for rare layers whose selection rests on structural hints, drawn equally within
size bands, so that no stratum is chosen by size alone. Every commit's inclusion probability is
recorded: `pi = 1 - (1 - pi_srs) * (1 - pi_enrich)` because the two draws are independent.
The design's numbers live in `data/labels/design.toml`; the draw is seeded and sorted by sha, so
the same pins and design give the same sample. Authorship decides strata only; it never reaches
an annotator.
"""

from __future__ import annotations

import random
import tomllib
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from mining.errors import LabelError
from mining.vocabulary import SIZE_BAND_NAMES, size_band


@dataclass(frozen=True)
class Design:
    """Per-repository allocation of the draw (see data/labels/design.toml)."""

    seed: int
    ai: int
    same_era: int
    before_era: int
    enrich_per_band: int
    era_fallback: str
    #: drawn from every repository of its frame (round 3), not only from those its labels come
    #: from: decides which commits had a chance in it (`combine_rounds`)
    whole_frame: bool = False

    @classmethod
    def load(cls, path: str | Path, section: str = "design") -> Design:
        """The design in `[section]` of a TOML file (`design` is round 2, `round3` the third)."""
        try:
            d = tomllib.loads(Path(path).read_text(encoding="utf-8"))[section]
            return cls(
                seed=int(d["seed"]),
                ai=int(d["ai"]),
                same_era=int(d["same_era"]),
                before_era=int(d["before_era"]),
                enrich_per_band=int(d["enrich_per_band"]),
                era_fallback=str(d["era_fallback"]),
                whole_frame=bool(d.get("whole_frame", False)),
            )
        except (OSError, KeyError, ValueError, tomllib.TOMLDecodeError) as exc:
            raise LabelError(f"{path}: not a labelling design [{section}] ({exc})") from exc


_FRAME_SQL = """
WITH fc AS (
    SELECT repo, sha, path, old_path, change_type,
           coalesce(lines_added, 0) + coalesce(lines_deleted, 0) AS churn_file
    FROM file_changes WHERE repo IN (SELECT unnest($repos))
),
dirs AS (  -- directory of each touched path, and the first commit (by time) that touched it
    SELECT f.repo, f.sha, regexp_replace(f.path, '/[^/]*$', '') AS dir, c.authored_at
    FROM fc f JOIN commits c USING (repo, sha)
    WHERE f.change_type IN ('A', 'R', 'C') AND f.path LIKE '%/%'
),
first_dir AS (
    SELECT repo, dir, min(authored_at) AS first_at FROM dirs GROUP BY ALL
),
hints AS (
    SELECT f.repo, f.sha,
        bool_or(f.change_type = 'R' AND f.old_path IS NOT NULL
                AND regexp_replace(f.old_path, '/[^/]*$', '')
                    <> regexp_replace(f.path, '/[^/]*$', '')) AS moved_dir,
        bool_or(f.change_type = 'D') AS deletes,
        bool_or(regexp_matches(lower(f.path),
            '(^|/)(migrations?|schemas?|proto|api|interfaces?|plugins?)(/|$)|\\.(proto|graphql|sql)$|openapi'))
            AS contract
    FROM fc f GROUP BY ALL
),
new_dirs AS (
    SELECT d.repo, d.sha, true AS new_dir
    FROM dirs d JOIN first_dir f USING (repo, dir)
    WHERE d.authored_at = f.first_at GROUP BY ALL
)
SELECT c.repo, c.sha, c.authored_at, coalesce(c.ai_direct, false) AS ai,
       coalesce(c.churn, 0) AS churn,
       coalesce(h.moved_dir, false) OR coalesce(h.deletes, false) OR coalesce(h.contract, false)
       OR coalesce(n.new_dir, false)
       OR (c.churn >= 10 AND abs(c.lines_added - c.lines_deleted) <= 0.2 * c.churn) AS hint
FROM commit_facts c
LEFT JOIN hints h USING (repo, sha)
LEFT JOIN new_dirs n USING (repo, sha)
WHERE NOT c.is_merge AND c.repo IN (SELECT unnest($repos))
ORDER BY c.repo, c.sha
"""


def sampling_frame(con: duckdb.DuckDBPyConnection, repos: list[str]) -> pd.DataFrame:
    """Every non-merge commit of `repos` with its bucket inputs: AI evidence, date, size, hint."""
    return con.execute(_FRAME_SQL, {"repos": repos}).df()


def _fraction(pool: list[str], n: int) -> float:
    """A simple random sample's inclusion probability: n of the pool, or the whole pool."""
    return min(n, len(pool)) / len(pool) if pool else 0.0


def _srs(rng: random.Random, pool: list[str], n: int) -> tuple[list[str], float]:
    n = min(n, len(pool))
    return (rng.sample(pool, n) if n else []), _fraction(pool, n)


_SRS_STRATA = ("ai", "same_era", "before_era")


def _repo_pools(
    g: pd.DataFrame, design: Design
) -> tuple[dict[str, list[str]], dict[str, int], dict[str, list[str]]]:
    """One repository's SRS pools, their allocations and its hinted commits per size band.

    The one definition of the strata, shared by `draw` (which samples them) and `inclusion`
    (which gives every commit of the frame its probability, drawn or not).
    """
    fallback = pd.Timestamp(design.era_fallback, tz="UTC")
    g = g.sort_values("sha")
    era = g.loc[g["ai"], "authored_at"].min() if g["ai"].any() else fallback
    pools = {
        "ai": g.loc[g["ai"], "sha"].tolist(),
        "same_era": g.loc[~g["ai"] & (g["authored_at"] >= era), "sha"].tolist(),
        "before_era": g.loc[~g["ai"] & (g["authored_at"] < era), "sha"].tolist(),
    }
    want = {"ai": design.ai, "before_era": design.before_era}
    want["same_era"] = design.same_era + sum(max(0, n - len(pools[k])) for k, n in want.items())
    hinted = g[g["hint"]]
    bands = size_band(hinted["churn"])
    enrich = {band: hinted.loc[bands == band, "sha"].tolist() for band in SIZE_BAND_NAMES}
    return pools, want, enrich


def _probability_row(repo: str, sha: str, p_srs: float, p_enr: float) -> dict[str, object]:
    return {
        "repo": repo,
        "sha": sha,
        "pi_srs": p_srs,
        "pi_enrich": p_enr,
        "pi": 1 - (1 - p_srs) * (1 - p_enr),
    }


def draw(frame: pd.DataFrame, design: Design) -> pd.DataFrame:
    """The sample: one row per drawn commit with `stratum` and inclusion probability `pi`.

    Strata per repository: `ai` (direct AI evidence), `same_era` (no AI evidence, authored on or
    after the repository's first AI commit, or `era_fallback` where it has none), `before_era`,
    and the independent `enrich` draw (commits with a structural hint, equal per size band).
    A bucket smaller than its allocation is taken whole; what it lacks goes to `same_era`.
    """
    rng = random.Random(design.seed)
    rows: list[dict[str, object]] = []
    for repo, g in frame.groupby("repo", sort=True):
        pools, want, enrich = _repo_pools(g, design)
        pi_srs: dict[str, float] = {}
        drawn: dict[str, str] = {}
        for name in _SRS_STRATA:
            picked, p = _srs(rng, pools[name], want[name])
            pi_srs |= dict.fromkeys(pools[name], p)
            drawn |= dict.fromkeys(picked, name)
        pi_enrich: dict[str, float] = {}
        for band in SIZE_BAND_NAMES:
            picked, p = _srs(rng, enrich[band], design.enrich_per_band)
            pi_enrich |= dict.fromkeys(enrich[band], p)
            for s in picked:
                drawn[s] = f"{drawn[s]}+enrich" if s in drawn else "enrich"
        for s, stratum in drawn.items():
            row = _probability_row(str(repo), s, pi_srs[s], pi_enrich.get(s, 0.0))
            rows.append({"repo": repo, "sha": s, "stratum": stratum} | row)
    return pd.DataFrame(rows).sort_values(["repo", "sha"]).reset_index(drop=True)


def inclusion(frame: pd.DataFrame, design: Design) -> pd.DataFrame:
    """Every frame commit's probability of being drawn by `design` (`repo, sha, pi_srs, ...`).

    Why: when several independent rounds label one population, a labelled commit's weight is
    1 / P(drawn in any round), which needs each round's probability for commits it did not draw.
    """
    rows: list[dict[str, object]] = []
    for repo, g in frame.groupby("repo", sort=True):
        pools, want, enrich = _repo_pools(g, design)
        p_srs = {s: _fraction(pool, want[k]) for k, pool in pools.items() for s in pool}
        p_enr = {
            s: _fraction(pool, design.enrich_per_band) for pool in enrich.values() for s in pool
        }
        rows += [
            _probability_row(str(repo), s, p_srs.get(s, 0.0), p_enr.get(s, 0.0)) for s in g["sha"]
        ]
    return pd.DataFrame(rows)


def union_pi(*probabilities: pd.Series) -> pd.Series:
    """P(drawn in at least one of several independent rounds): 1 - prod(1 - pi_round)."""
    miss = pd.Series(1.0, index=probabilities[0].index)
    for p in probabilities:
        miss = miss * (1 - p.fillna(0.0))
    return 1 - miss


def two_phase(key: pd.DataFrame, labelled: set[str]) -> pd.DataFrame:
    """Inclusion probabilities after the second phase: only completed batches were labelled.

    Batches are a random partition of the shuffled draw, so within a repository the labelled
    packets are a simple random subsample of the drawn ones: pi = pi_draw * n_labelled / n_drawn.
    """
    k = key.copy()
    k["labelled"] = k["packet_id"].isin(labelled)
    frac = k.groupby("repo")["labelled"].transform("mean")
    k["pi"] = k["pi"] * frac
    return k[k["labelled"]].drop(columns="labelled")


def _round1_buckets(frame: pd.DataFrame) -> np.ndarray:
    """Round 1's bucket of each frame commit: `ai` (direct evidence), `human` (no evidence, at or
    after the repository's first AI commit) or `old` (before it: not in round 1's frame)."""
    era = frame[frame["ai"]].groupby("repo")["authored_at"].min()
    same_era = frame["authored_at"] >= frame["repo"].map(era)
    return np.where(frame["ai"], "ai", np.where(same_era, "human", "old"))


def round1_pi(
    labels: pd.DataFrame, ai_status: pd.DataFrame, frame: pd.DataFrame, per_bucket: int = 27
) -> pd.Series:
    """Approximate inclusion probabilities of the first round (27 per repository x bucket).

    Approximate: the first round's arch stratum (top 5% by a size-heavy score, 10 of the 27) and
    its own bucket rules were not recorded per commit, so pi = 27 / N(bucket), the AI bucket
    being direct AI evidence and the human bucket no evidence in the same era. Scores weighted to
    the population therefore rest on the second round; the first round is used with this weight.
    """
    f = frame.assign(bucket=_round1_buckets(frame))
    n = f.groupby(["repo", "bucket"]).size()
    merged = labels.merge(ai_status, on=["repo", "sha"], how="left")
    bucket = np.where(merged["ai"].astype(str).str.lower().eq("true"), "ai", "human")
    big = [n.get((r, b), np.nan) for r, b in zip(merged["repo"], bucket, strict=True)]
    return pd.Series(np.minimum(1.0, per_bucket / np.asarray(big, float)), index=labels.index)


def round1_inclusion(frame: pd.DataFrame, per_bucket: int = 27) -> pd.DataFrame:
    """Every frame commit's (approximate) chance in round 1: 27 / N of its bucket, else 0.

    Round 1 drew 27 per repository from direct-AI commits and from the other commits of the
    same era (see `round1_pi` for why this is approximate); older commits had no chance.
    """
    f = frame[["repo", "sha"]].assign(bucket=_round1_buckets(frame))
    n = f.groupby(["repo", "bucket"])["sha"].transform("size")
    f["pi"] = np.where(f["bucket"].eq("old"), 0.0, np.minimum(1.0, per_bucket / n))
    return f[["repo", "sha", "pi"]]


def combine_rounds(
    labels: pd.DataFrame,
    frame: pd.DataFrame,
    rounds: dict[int, Design | None],
) -> pd.DataFrame:
    """Each labelled commit's probability of being drawn by any round: `pi` and `pi_r<k>`.

    `labels` has `repo, sha, round, pi` (pi = its own round's probability, as recorded when it
    was drawn); a round's repositories are those its labels come from, except a round whose
    design says `whole_frame`, drawn from every repository of the frame (`None` marks round 1's
    approximation).
    The commit's own round keeps the recorded value; the other rounds' chances are recomputed
    from the frame, so that 1/pi weights the union of the rounds back to the population.
    """
    out = labels[["repo", "sha", "round"]].copy()
    for rnd, design in sorted(rounds.items()):
        own = labels["round"].eq(rnd)
        if design is None:
            repos = set(labels.loc[own, "repo"])
            chance = round1_inclusion(frame[frame["repo"].isin(repos)])
        else:
            scope = (
                frame if design.whole_frame else frame[frame["repo"].isin(labels.loc[own, "repo"])]
            )
            chance = inclusion(scope, design)[["repo", "sha", "pi"]]
        col = f"pi_r{rnd}"
        out[col] = out.merge(chance, on=["repo", "sha"], how="left")["pi"].fillna(0.0).to_numpy()
        out.loc[own, col] = labels.loc[own, "pi"].to_numpy()
    cols = [f"pi_r{r}" for r in sorted(rounds)]
    out["pi"] = union_pi(*(out[c] for c in cols))
    return out[["repo", "sha", "pi", *cols]]


def main(argv: list[str] | None = None) -> int:
    """`python -m mining.label_sample`: draw a round from a dataset and write its blind packets.

    Writes the key (`repo, sha, stratum, pi..., packet_id, batch`: content-free) and the batch
    files of packets (fetched text: keep them outside the repository).
    """
    import argparse
    import shutil
    import sys

    from mining.errors import StrataError
    from mining.packets import write_batches

    ap = argparse.ArgumentParser(prog="python -m mining.label_sample", description=main.__doc__)
    ap.add_argument("--db", type=Path, required=True, help="dataset with commits and file_changes")
    ap.add_argument("--design", type=Path, default=Path("data/labels/design.toml"))
    ap.add_argument("--section", default="design", help="the round's table in the design file")
    ap.add_argument("--mirrors", type=Path, required=True, help="folder of OWNER+NAME/repo")
    ap.add_argument("--out", type=Path, required=True, help="folder for key.csv and batches")
    ap.add_argument("--prefix", default="Q", help="packet id prefix (a new one per round)")
    args = ap.parse_args(argv)
    try:
        design = Design.load(args.design, args.section)
        if args.out.exists() and any(args.out.iterdir()):
            raise LabelError(f"{args.out}: not empty; choose a new folder for a new round")
        con = duckdb.connect(str(args.db), read_only=True)
        repos = [r for (r,) in con.execute("SELECT repo FROM repos ORDER BY repo").fetchall()]
        sample = draw(sampling_frame(con, repos), design)
        partial = args.out.with_name(args.out.name + ".partial")  # never a half-written round
        shutil.rmtree(partial, ignore_errors=True)
        key = write_batches(
            sample, args.mirrors, partial / "batches", seed=design.seed, prefix=args.prefix
        )
        key.to_csv(partial / "key.csv", index=False)
        if args.out.exists():
            args.out.rmdir()
        partial.rename(args.out)
    except (StrataError, duckdb.Error) as err:
        print(f"mining.label_sample: error: {err}", file=sys.stderr)
        return 2
    print(f"drew {len(key)} commits from {key['repo'].nunique()} repositories -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
