"""The labelled set's probability sample and its blind packets, on a repository built here."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mining import store
from mining.crawl import CrawlTarget, crawl
from mining.label_sample import Design, draw, sampling_frame
from mining.packets import build_packet, write_batches
from mining.sources import resolve_source

AI = ("Claude", "noreply@anthropic.com")
PERSON = ("Ada Human", "ada@example.org")


@pytest.fixture
def crawled(repo_builder, tmp_path: Path):
    r = repo_builder("repo_for_sampling")
    shas: dict[str, str] = {}
    for i in range(30):  # before AI: human history
        shas[f"old{i}"] = r.commit(f"early change {i}", {f"src/a{i % 3}.py": f"x = {i}\n"})
    for i in range(20):
        shas[f"ai{i}"] = r.commit(
            f"ai change {i}",
            {f"src/b{i % 4}.py": f"y = {i}\n"},
            trailers=[("Co-authored-by", "Claude <noreply@anthropic.com>")],
        )
        shas[f"new{i}"] = r.commit(
            f"human change {i}\n\nSigned-off-by: Ada Human <ada@example.org>",
            {f"pkg{i}/mod.py": "z = 1\n" * (i + 1)},  # a new directory each time: a hint
        )
    db = tmp_path / "s.duckdb"
    res = crawl(db, [CrawlTarget(resolve_source(str(r.path)))])
    assert res[0].error is None
    con = store.connect(db)
    yield con, r, shas
    con.close()


def _design(**kw: object) -> Design:
    base = dict(
        seed=7, ai=5, same_era=6, before_era=4, enrich_per_band=2, era_fallback="2025-01-01"
    )
    return Design(**(base | kw))  # type: ignore[arg-type]


def test_draw_strata_and_inclusion_probabilities(crawled):
    con, r, shas = crawled
    repo = con.execute("SELECT repo FROM repos").fetchone()[0]
    frame = sampling_frame(con, [repo])
    assert len(frame) == 70 and frame["ai"].sum() == 20
    sample = draw(frame, _design())
    by_sha = {v: k for k, v in shas.items()}
    names = sample["sha"].map(by_sha)
    srs = sample[~sample["stratum"].eq("enrich")]
    # SRS strata: AI commits only in `ai`; human ones split by the first AI commit's date
    assert names[sample["stratum"].str.startswith("ai")].str.startswith("ai").all()
    assert names[sample["stratum"].str.startswith("before")].str.startswith("old").all()
    assert names[sample["stratum"].str.startswith("same")].str.startswith("new").all()
    assert (srs["stratum"].str.split("+").str[0].value_counts().to_dict()) == {
        "ai": 5,
        "same_era": 6,
        "before_era": 4,
    }
    # pi: the SRS fraction, combined with the independent enrichment chance
    ai_rows = sample[sample["stratum"] == "ai"]
    assert (ai_rows["pi_srs"] == 5 / 20).all()
    assert (
        (1 - (1 - sample["pi_srs"]) * (1 - sample["pi_enrich"])) - sample["pi"]
    ).abs().max() < 1e-12
    # deterministic for the same design, different for another seed
    assert draw(frame, _design()).equals(sample)
    assert not draw(frame, _design(seed=8))["sha"].equals(sample["sha"])


def test_weights_recover_a_planted_population_share(crawled):
    """Horvitz-Thompson with the recorded pi gives back the population's AI share."""
    con, _, _ = crawled
    repo = con.execute("SELECT repo FROM repos").fetchone()[0]
    frame = sampling_frame(con, [repo])
    truth = frame["ai"].mean()
    est = []
    for seed in range(200):
        s = draw(frame, _design(seed=seed, ai=10)).merge(frame[["sha", "ai"]], on="sha")
        w = 1 / s["pi"]
        est.append((w * s["ai"]).sum() / w.sum())
    naive = draw(frame, _design(ai=10)).merge(frame[["sha", "ai"]], on="sha")["ai"].mean()
    assert abs(sum(est) / len(est) - truth) < 0.02
    assert abs(naive - truth) > 0.05  # the unweighted sample is not the population


def test_packets_are_blind(crawled, tmp_path: Path):
    con, r, shas = crawled
    text = build_packet(r.git_dir, shas["new3"], "Q0001", "demo/repo")
    assert "PACKET Q0001" in text and "pkg3/mod.py" in text and "human change 3" in text
    for secret in ("Ada Human", "ada@example.org", "Signed-off-by", shas["new3"], "2024"):
        assert secret not in text
    ai_text = build_packet(r.git_dir, shas["ai2"], "Q0002", "demo/repo")
    assert "Claude" not in ai_text and "anthropic" not in ai_text


def test_batches_mix_and_key(crawled, tmp_path: Path):
    con, r, shas = crawled
    mirror = tmp_path / "mirrors" / "demo+repo"
    mirror.mkdir(parents=True)
    (mirror / "repo").symlink_to(r.git_dir)
    sample = pd.DataFrame({"repo": "demo/repo", "sha": [shas[f"new{i}"] for i in range(7)]})
    key = write_batches(sample, tmp_path / "mirrors", tmp_path / "out", seed=1, batch_size=3)
    assert sorted(key["sha"]) == sorted(sample["sha"]) and key["batch"].max() == 3
    texts = [(tmp_path / "out" / f"batch{b:02d}.txt").read_text() for b in (1, 2, 3)]
    assert sum(t.count("PACKET Q") for t in texts) == 7


def test_inclusion_gives_every_commit_the_probability_draw_used(crawled):
    """A later round's weights need each round's probability for commits it did not draw."""
    from mining.label_sample import inclusion, union_pi

    con, _, _ = crawled
    repo = con.execute("SELECT repo FROM repos").fetchone()[0]
    frame = sampling_frame(con, [repo])
    design = _design()
    every = inclusion(frame, design)
    assert len(every) == len(frame) and set(every["sha"]) == set(frame["sha"])
    sample = draw(frame, design)
    merged = sample.merge(every, on=["repo", "sha"], suffixes=("", "_all"))
    assert len(merged) == len(sample)
    assert (merged["pi"] - merged["pi_all"]).abs().max() < 1e-12
    # the probabilities sum to the expected sample size of the SRS strata (enrichment aside)
    assert every["pi_srs"].sum() == pytest.approx(5 + 6 + 4)
    # two independent rounds: drawn by either
    other = inclusion(frame, _design(seed=99, ai=2, same_era=1, before_era=0))
    both = union_pi(every["pi"], other["pi"])
    assert (both >= every["pi"]).all() and (both <= every["pi"] + other["pi"] + 1e-12).all()
    assert both.iloc[0] == pytest.approx(1 - (1 - every["pi"].iloc[0]) * (1 - other["pi"].iloc[0]))


def test_combine_rounds_weights_the_union_of_independent_rounds(crawled):
    """A commit labelled in one round could also have been drawn by the other: pi is the union."""
    from mining.label_sample import combine_rounds, inclusion

    con, _, _ = crawled
    repo = con.execute("SELECT repo FROM repos").fetchone()[0]
    frame = sampling_frame(con, [repo])
    d2, d3 = _design(), _design(seed=99, ai=2, same_era=1, before_era=0, whole_frame=True)
    s2, s3 = draw(frame, d2), draw(frame, d3)
    labels = pd.concat([s2.assign(round=2), s3[~s3["sha"].isin(s2["sha"])].assign(round=3)])
    out = combine_rounds(labels, frame, {2: d2, 3: d3})
    every3 = inclusion(frame, d3).set_index("sha")["pi"]
    every2 = inclusion(frame, d2).set_index("sha")["pi"]
    row = out.iloc[0]
    assert row["pi_r2"] == pytest.approx(every2[row["sha"]])
    assert row["pi_r3"] == pytest.approx(every3[row["sha"]])
    assert row["pi"] == pytest.approx(1 - (1 - row["pi_r2"]) * (1 - row["pi_r3"]))
    assert (out["pi"] >= out[["pi_r2", "pi_r3"]].max(axis=1) - 1e-12).all()
    assert len(out) == len(labels) and out["pi"].gt(0).all()


def test_combine_rounds_keeps_a_round_to_its_own_repositories(crawled):
    """A round whose design is not `whole_frame` drew only from its labels' repositories (round 4 drew from
    repositories outside the corpus): the others' commits had no chance in it, and vice versa."""
    from mining.label_sample import combine_rounds

    con, _, _ = crawled
    repo = con.execute("SELECT repo FROM repos").fetchone()[0]
    one = sampling_frame(con, [repo])
    frame = pd.concat([one, one.assign(repo="elsewhere/other")], ignore_index=True)
    d2, d4 = _design(), _design(seed=7, ai=2, same_era=1, before_era=0)
    s2 = draw(one, d2).assign(round=2)
    s4 = draw(one, d4).assign(round=4, repo="elsewhere/other")
    out = combine_rounds(pd.concat([s2, s4], ignore_index=True), frame, {2: d2, 4: d4})
    mine = out["repo"].eq(repo)
    assert out.loc[mine, "pi_r4"].eq(0).all() and out.loc[~mine, "pi_r2"].eq(0).all()
    assert out.loc[mine, "pi"].to_numpy() == pytest.approx(out.loc[mine, "pi_r2"].to_numpy())
    assert out.loc[~mine, "pi"].to_numpy() == pytest.approx(out.loc[~mine, "pi_r4"].to_numpy())
