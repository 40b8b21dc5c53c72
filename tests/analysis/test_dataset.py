"""The analysis population and the input files, read from a database built through the real schema."""

from __future__ import annotations

import json

import numpy as np
import pytest

from analysis import LAYERS, dataset
from mining.errors import DatabaseError, StageError


def test_population_excludes_merges_automation_and_counts_agents_as_ai(small) -> None:
    con = dataset.open_db(small.db)
    facts = dataset.commit_facts(con)
    commits = dataset.analysis_commits(con)
    con.close()
    assert facts["is_merge"].any() and (facts["author_kind"] == "automation").any()
    assert not commits["is_merge"].any()
    assert set(commits["author_kind"]) <= {"human", "ai_agent"}
    # commits credited to AI only through a merged agent branch belong to neither group
    branch_only = facts[
        ~facts["is_merge"]
        & facts["ai"].fillna(False)
        & ~facts["ai_direct"].fillna(False)
        & facts["author_kind"].eq("human")
        & facts["layer"].notna()
    ]
    assert len(branch_only) and not commits["sha"].isin(branch_only["sha"]).any()
    assert len(commits) == small.truth.n_commits - len(branch_only)
    assert commits["is_ai"].sum() == small.truth.n_ai - len(branch_only)
    assert (commits["weight"] == 1).all()  # every commit classified: no design weight needed
    agents = commits[commits["author_kind"] == "ai_agent"]
    assert len(agents) and agents["is_ai"].eq(1).all()
    # suggestion-only evidence does not make a commit AI
    sugg = commits[commits["ai_suggestion"] & ~commits["ai"]]
    assert len(sugg) and sugg["group"].eq("human").all()
    assert set(commits["language"]) <= {"python", "javascript", "go", "rust", "java"}
    assert set(commits["integration_mode"]) <= {"squash_pr", "merged_branch", "direct"}
    assert list(commits["layer"].cat.categories) == list(LAYERS)


def test_dataset_is_opened_read_only(small) -> None:
    con = dataset.open_db(small.db)
    with pytest.raises(Exception, match="read-only"):
        con.execute("DELETE FROM commits")
    con.close()


def test_missing_database_names_the_file(tmp_path) -> None:
    with pytest.raises(DatabaseError, match="nope.duckdb"):
        dataset.open_db(tmp_path / "nope.duckdb")


def test_evaluation_both_layouts_reordered_to_layers(tmp_path) -> None:
    order = ["feature", "architectural", "boilerplate", "refactor"]
    counts = np.arange(16).reshape(4, 4)
    simple = tmp_path / "simple.json"
    simple.write_text(json.dumps({"labels": order, "confusion_matrix": counts.tolist()}))
    nested = tmp_path / "nested.json"
    nested.write_text(
        json.dumps(
            {
                "classifier": {
                    "confusion": {"rows_true_cols_pred": order, "counts": counts.tolist()}
                },
                "by_authorship": {"ai": {"n": 3, "confusion": counts.tolist()}, "human": {"n": 0}},
            }
        )
    )
    a, b = dataset.load_evaluation(simple), dataset.load_evaluation(nested)
    assert a is not None and b is not None
    np.testing.assert_array_equal(a.confusion, b.confusion)
    # true=boilerplate, pred=feature is original row 2, column 0
    assert a.confusion[LAYERS.index("boilerplate"), LAYERS.index("feature")] == counts[2, 0]
    assert set(b.by_group) == {"ai"}
    np.testing.assert_allclose(a.misclassification().sum(axis=1), 1)


def test_weighted_confusion_counts_round_to_the_labelled_commits(tmp_path) -> None:
    # evaluate rescales 1/pi-weighted counts to n: the float sum can fall just short of n
    counts = np.full((4, 4), 4347 / 16) * (1 - 1e-12)
    assert counts.sum() < 4347
    path = tmp_path / "ev.json"
    path.write_text(json.dumps({"labels": list(LAYERS), "confusion_matrix": counts.tolist()}))
    ev = dataset.load_evaluation(path)
    assert ev is not None
    assert ev.n_labelled == 4347


def test_evaluation_absent_is_none_and_malformed_is_named(tmp_path) -> None:
    assert dataset.load_evaluation(tmp_path / "none.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"labels": ["a", "b"], "confusion_matrix": [[1, 0], [0, 1]]}))
    with pytest.raises(StageError, match="bad.json"):
        dataset.load_evaluation(bad)


def test_blame_releases(small, tmp_path) -> None:
    frame = dataset.load_blame_releases(small.blame)
    assert frame is not None and len(frame) == 6
    assert (frame["ai_lines"] <= frame["total_lines"]).all()
    assert dataset.load_blame_releases(tmp_path / "absent.json") is None
    (tmp_path / "x.json").write_text('[{"from": 1}]')
    with pytest.raises(StageError, match="x.json"):
        dataset.load_blame_releases(tmp_path / "x.json")


def test_design_weights_carry_a_stratified_sample_back_to_the_population() -> None:
    """A balanced sample (as `features --sample` draws) weighted back gives the population share."""
    import numpy as np
    import pandas as pd

    from analysis.stats import cluster_counts, shares_of

    rng = np.random.default_rng(3)
    rows = []
    for r in range(6):
        n_ai, n_h = 100 + 50 * r, 2000 - 100 * r  # AI is rare and its share varies by repo
        rows += [
            {"repo": f"r{r}", "_ai": True, "layer": rng.choice(LAYERS, p=[0.2, 0.1, 0.6, 0.1])}
            for _ in range(n_ai)
        ]
        rows += [
            {"repo": f"r{r}", "_ai": False, "layer": rng.choice(LAYERS, p=[0.4, 0.1, 0.47, 0.03])}
            for _ in range(n_h)
        ]
    population = pd.DataFrame(rows)
    truth = population["layer"].value_counts(normalize=True).reindex(LAYERS).to_numpy()
    weighted, naive = [], []
    for seed in range(20):  # unbiased over repeated draws; one draw carries sampling noise
        sample = population.groupby(["repo", "_ai"]).sample(80, random_state=seed)
        sample = sample.assign(weight=dataset.design_weights(population, sample), group="all")
        weighted.append(
            shares_of(cluster_counts(sample, "repo", "group", LAYERS)[0].sum(axis=0))[0]
        )
        naive.append(sample["layer"].value_counts(normalize=True).reindex(LAYERS).to_numpy())
    assert np.abs(np.mean(weighted, axis=0) - truth).max() < 0.01
    assert (
        np.abs(np.mean(naive, axis=0) - truth).max() > 0.05
    )  # the balanced sample is not the population
