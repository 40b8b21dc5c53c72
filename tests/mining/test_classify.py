"""Classifier wiring: rules fire, probabilities are a distribution, models load, CSV contract.

Scores are not asserted here (they belong to `strata evaluate`); a small model trained on
synthetic feature rows stands in for the shipped one where a test needs a model it controls.
"""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mining import classify, features, store
from mining.classify import LAYERS
from mining.cli import app
from mining.vocabulary import DIFF_TOKENS_VERSION, TEXT_COLUMNS


def _synthetic(n: int = 80, seed: int = 0) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {c: rng.integers(0, 5, n) for c in features.NUMERIC_COLUMNS}
        | {c: rng.integers(0, 2, n).astype(bool) for c in features.BOOL_COLUMNS}
        | {"cc_type": rng.choice(list(features.CC_TYPES), n)}
    )
    frame["n_files"] = frame["n_files"] + 1  # no "empty" rule hits
    frame["formatting_only"] = False
    layers = pd.Series(np.array(LAYERS)[np.arange(n) % 4])
    return frame, layers, pd.Series(np.arange(n) % 3 == 0)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    frame, layers, fix = _synthetic()
    model = classify.fit(
        frame, layers, fix, kind="logreg", meta={"version": "test-1"}
    )  # fast: wiring, not score
    d = tmp_path_factory.mktemp("model")
    classify.save_model(model, d)
    return d


def test_saved_model_loads_with_version_and_feature_list(model_dir):
    meta = json.loads((model_dir / "layer_model.json").read_text())
    assert meta["version"] == "test-1"
    assert meta["feature_columns"] == features.FEATURE_COLUMNS
    assert meta["layers"] == list(LAYERS)
    m = classify.load_model(model_dir)
    assert m.version == "test-1"


def test_probabilities_sum_to_one_and_match_layer(model_dir):
    frame, _, _ = _synthetic(40, seed=1)
    out = classify.load_model(model_dir).predict(frame)
    probs = out[classify.PROB_COLUMNS].to_numpy()
    assert np.allclose(probs.sum(axis=1), 1.0) and (probs >= 0).all()
    assert (np.array(LAYERS)[probs.argmax(axis=1)] == out["layer"].to_numpy()).all()
    assert set(out["decided_by"]) <= {"model", *(f"rule:{r}" for r in classify.RULES)}


def test_rules_fire_and_decide(model_dir):
    frame, _, _ = _synthetic(5, seed=2)
    frame.loc[0, "n_files"] = 0
    frame.loc[1, "formatting_only"] = True
    for col in ("n_files", "n_pure_renames"):
        frame.loc[2, col] = 3
    frame.loc[2, ["n_cross_pkg_moves", "n_lockfile", "n_generated", "n_vendored"]] = 0
    frame.loc[3, ["n_files", "n_lockfile", "n_generated", "n_vendored"]] = [2, 2, 0, 0]
    names = classify.rule_names(frame)
    assert list(names[:4]) == [
        "empty",
        "formatting_only",
        "pure_rename_local",
        "lockfile_or_generated_only",
    ]
    out = classify.load_model(model_dir).predict(frame)
    assert list(out["layer"][:4]) == ["boilerplate", "boilerplate", "refactor", "boilerplate"]
    assert out.loc[2, "decided_by"] == "rule:pure_rename_local"
    assert out.loc[2, "p_refactor"] == pytest.approx(
        classify.load_model(model_dir).rule_precision["pure_rename_local"]
    )


def test_rule_precision_is_measured():
    frame, layers, _ = _synthetic(8, seed=3)
    frame["n_files"] = 1
    frame.loc[:3, "n_files"] = 0  # four "empty" commits, two labelled boilerplate
    layers[:4] = ["boilerplate", "boilerplate", "feature", "refactor"]
    prec = classify.rule_precision(frame, layers)
    assert prec["empty"] == pytest.approx((2 + 1.8) / 6, abs=1e-3)


def test_missing_model_is_a_named_error(tmp_path):
    with pytest.raises(classify.ModelError, match="no trained model"):
        classify.load_model(tmp_path)


def test_shipped_models_load():
    for variant in classify.VARIANTS:
        m = classify.load_model(variant=variant)
        assert m.meta["feature_columns"] == features.FEATURE_COLUMNS
        assert m.meta["variant"] == variant and m.version


def test_cli_classify_diff_only_reads_no_message(repo_builder, tmp_path):
    rb = repo_builder()
    rb.commit("initial", {"src/a.py": "def f(x):\n    return x\n"})
    change = {"src/a.py": "def f(x, y=0):\n    return x + y\n"}
    rb.branch("other")
    a = rb.commit("feat: add y", change)
    rb.checkout("main")
    b = rb.commit("refactor!: totally different words here", change)
    listing = tmp_path / "shas.txt"
    listing.write_text(f"{a}\n{b}\n")
    res = CliRunner().invoke(
        app, ["classify", "--repo", str(rb.path), "--shas", str(listing), "--model", "diff-only"]
    )
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    assert lines[0] == ",".join(classify.CSV_COLUMNS)
    first, second = (ln.split(",") for ln in lines[1:])
    assert first[1:] == second[1:]  # same diff, different message: same layer, scores, is_fix


def _repo(repo_builder):
    rb = repo_builder()
    rb.commit("initial", {"src/a.py": "def f(x):\n    return x\n", "README.md": "# a\n"})
    s1 = rb.commit("feat: add g", {"src/a.py": "def f(x):\n    return x\n\ndef g():\n    pass\n"})
    s2 = rb.commit(
        "style: format", {"src/a.py": "def f(x):\n    return  x\n\ndef g():\n    pass\n"}
    )
    return rb, [s1, s2]


def test_cli_classify_prints_csv_contract(repo_builder, model_dir, tmp_path, monkeypatch):
    rb, shas = _repo(repo_builder)
    mirror = rb.bare_clone(tmp_path / "mirror.git", empty_config=True)
    listing = tmp_path / "shas.txt"
    listing.write_text("\n".join(shas) + "\n")
    args = ["classify", "--repo", str(mirror), "--shas", str(listing), "--model", str(model_dir)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    monkeypatch.setattr(features, "MIN_PER_JOB", 1)  # one commit per process
    two = CliRunner().invoke(app, [*args, "-j", "2"])
    assert two.exit_code == 0 and two.stdout == res.stdout
    lines = res.stdout.strip().splitlines()
    assert lines[0] == "sha,layer,p_boilerplate,p_refactor,p_feature,p_architectural,is_fix"
    rows = [ln.split(",") for ln in lines[1:]]
    assert [r[0] for r in rows] == shas
    assert rows[1][1] == "boilerplate"  # formatting-only rule
    assert all(r[1] in LAYERS and r[6] in ("true", "false") for r in rows)
    assert all(abs(sum(float(x) for x in r[2:6]) - 1) < 0.01 for r in rows)


def test_cli_classify_says_which_listed_commits_are_merges(repo_builder, model_dir, tmp_path):
    """A merge gets no row (no layer by design); the user is told why a listed commit is
    missing from the CSV, on stderr, so that stdout stays the contract."""
    rb = repo_builder()
    rb.commit("initial", {"a.py": "x = 1\n"})
    rb.branch("side")
    side = rb.commit("feat: side work", {"b.py": "def b():\n    return 2\n"})
    rb.checkout("main")
    rb.commit("fix: main work", {"a.py": "x = 2\n"})
    merge = rb.merge("side")
    listing = tmp_path / "shas.txt"
    listing.write_text(f"{merge}\n{side}\n")
    args = ["classify", "--repo", str(rb.path), "--shas", str(listing), "--model", str(model_dir)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert [ln.split(",")[0] for ln in res.stdout.strip().splitlines()[1:]] == [side]
    assert (
        f"1 listed commit(s) are merges and get no row (a merge has no layer), first {merge}"
        in (" ".join(res.stderr.split()))
    )
    quiet = CliRunner().invoke(app, [*args, "--quiet"])
    assert quiet.exit_code == 0 and quiet.stdout == res.stdout and "merges" not in quiet.stderr


def test_cli_classify_warns_about_commits_a_shallow_clone_cuts(repo_builder, model_dir, tmp_path):
    """At a shallow clone's edge git shows a commit as adding every file: its row is printed
    (the CSV stays one row per listed commit) and stderr says that its layer is not its change's."""
    import subprocess

    rb = repo_builder()
    rb.commit("initial", {"a.py": "x = 1\n"})
    rb.commit("feat: more", {"b.py": "def b():\n    return 2\n"})
    last = rb.commit("fix: edge", {"a.py": "x = 2\n"})
    shallow = tmp_path / "shallow.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", "--depth", "2", f"file://{rb.path}", str(shallow)],
        check=True,
    )
    edge = (shallow / "shallow").read_text().split()
    listing = tmp_path / "shas.txt"
    listing.write_text(f"{last}\n{edge[0]}\n")
    args = ["classify", "--repo", str(shallow), "--shas", str(listing), "--model", str(model_dir)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert [ln.split(",")[0] for ln in res.stdout.strip().splitlines()[1:]] == [last, edge[0]]
    said = " ".join(res.stderr.split())
    assert f"1 listed commit(s) sit at the edge of a shallow clone (first {edge[0]})" in said
    listing.write_text(f"{last}\n")
    assert "shallow" not in CliRunner().invoke(app, args).stderr
    first = rb.git("rev-list", "--max-parents=0", "HEAD")  # cut off: the error says why
    listing.write_text(f"{first}\n")
    beyond = CliRunner().invoke(app, args)
    assert beyond.exit_code == 2 and "shallow clone: git fetch --unshallow" in beyond.stderr


def test_cli_classify_bad_repo_is_one_line_error(tmp_path, model_dir):
    listing = tmp_path / "shas.txt"
    listing.write_text("abc\n")
    res = CliRunner().invoke(
        app,
        [
            "classify",
            "--repo",
            str(tmp_path / "nope"),
            "--shas",
            str(listing),
            "--model",
            str(model_dir),
        ],
    )
    assert res.exit_code != 0 and "nope" in res.output


def _featured_db(repo_builder, tmp_path):
    """A crawled, featured database of `_repo`'s history: (connection, the two shas)."""
    from mining.crawl import CrawlTarget, crawl
    from mining.sources import resolve_source

    rb, shas = _repo(repo_builder)
    db = tmp_path / "s.duckdb"
    crawl(db, [CrawlTarget(resolve_source(str(rb.path)))])
    con = store.connect(db)
    features.features_stage(con)
    return con, shas


def test_classify_stage_fills_commit_layers_and_facts(repo_builder, model_dir, tmp_path):
    con, shas = _featured_db(repo_builder, tmp_path)
    counts = classify.classify_stage(con, model=classify.load_model(model_dir))
    assert sum(counts.values()) == 3
    rows = con.execute(
        "SELECT sha, layer, p_boilerplate + p_refactor + p_feature + p_architectural, "
        "model_version, decided_by FROM commit_layers ORDER BY sha"
    ).fetchall()
    assert all(abs(r[2] - 1) < 1e-9 and r[3] == "test-1" for r in rows)
    facts = dict(con.execute("SELECT sha, layer FROM commit_facts").fetchall())
    assert facts[shas[1]] == "boilerplate"
    # rerun replaces, never duplicates
    classify.classify_stage(con, model=classify.load_model(model_dir))
    assert con.execute("SELECT count(*) FROM commit_layers").fetchone()[0] == 3


# --- the change-reading model (text + structure, nested selection) ---------------------------


def _labelled_frame(repo_builder, tmp_path):
    from mining import text_features
    from tests.mining.labelled_repos import labelled_set

    _, _, labels = labelled_set(repo_builder, tmp_path / "labels", n_repos=3, rounds=2)
    frames = []
    for repo, group in labels.groupby("repo"):
        path = tmp_path / repo.split("/")[1]
        f = features.compute_features(path, list(group["sha"]))
        f = f.merge(text_features.commit_texts(path, list(group["sha"])), on="sha")
        f.insert(0, "repo", repo)
        frames.append(f)
    return labels.merge(pd.concat(frames), on=["repo", "sha"])


def test_diff_only_model_never_reads_the_message_and_both_variants_ship(repo_builder, tmp_path):
    data = _labelled_frame(repo_builder, tmp_path)
    w = 1 / data["pi"].to_numpy()
    models, fitted = {}, {}
    for variant in classify.VARIANTS:
        m, sel = classify.fit_layer_model(
            data,
            data["layer"],
            data["is_fix"].astype(bool),
            data["repo"].to_numpy(),
            weights=w,
            variant=variant,
            inner_splits=2,
            meta={"version": f"t-{variant}"},
        )
        # nothing is chosen: the procedure and every comparison got an inner score
        assert sel.name == classify.PROCEDURE_NAME
        assert list(sel.candidates) == classify.candidate_names()
        # the shipped layer scores are the mean of the procedure's bases, renormalised
        X = classify.model_frame(data)
        stack = m.layer_model
        assert set(stack.bases) == set(classify.PROCEDURE_WEIGHTS)
        mean = sum(
            a * classify.ordered_proba(stack.bases[b], X)
            for b, a in classify.PROCEDURE_WEIGHTS.items()
        )
        assert np.allclose(stack.predict_proba(X), mean / mean.sum(axis=1, keepdims=True))
        assert m.meta["procedure"] == classify.PROCEDURE and m.meta["fit_weighting"] == "equal"
        classify.save_model(m, tmp_path / "models", variant)
        fitted[variant] = m
        models[variant] = classify.load_model(tmp_path / "models", variant)
    assert models["diff-only"].text_columns == ["path_text", "diff_text"]
    assert models["full"].text_columns == ["msg_text", "path_text", "diff_text"]
    assert not any(
        c.startswith(classify.MESSAGE_PREFIXES) for c in classify.variant_columns("diff-only")[0]
    )
    # rewriting every message (and its message features) cannot move the diff-only model
    shuffled = data.copy()
    shuffled["msg_text"] = "refactor: rename everything"
    for c in features.FEATURE_COLUMNS:
        if c.startswith(classify.MESSAGE_PREFIXES):
            shuffled[c] = shuffled[c].sample(frac=1, random_state=1).to_numpy()
    a = models["diff-only"].predict(data)[classify.PROB_COLUMNS].to_numpy()
    b = models["diff-only"].predict(shuffled.drop(columns=["msg_text"]))[classify.PROB_COLUMNS]
    assert np.allclose(a, b.to_numpy())
    with pytest.raises(classify.ModelError, match="msg_text"):
        models["full"].predict(data.drop(columns=["msg_text"]))

    # loaded models share one transform per equal vectorizer (shared_vectorizers), across bases
    # and variants, and predict as the unshared fitted models do, batch after batch
    def diff_vectorizer(model, base):
        pre = model.layer_model.bases[base].named_steps["pre"]
        return dict((n, t) for n, t, _ in pre.transformers_)["diff"]

    shared = diff_vectorizer(models["full"], "linear").transform
    assert diff_vectorizer(models["diff-only"], "linear_text").transform is shared
    for rows in (data, data.iloc[::-1].head(len(data) // 2), data):
        for variant, m in fitted.items():
            assert models[variant].predict(rows).equals(m.predict(rows))


def test_thresholds_are_tuned_to_weighted_macro_f1():
    y = np.array(["feature"] * 6 + ["refactor"] * 2, dtype=object)
    probs = np.tile([0.1, 0.3, 0.6, 0.0], (8, 1))
    probs[6:, 1] = 0.45  # refactor commits: second choice, never first without a threshold
    probs[6:, 2] = 0.5
    t, score = classify.tune_thresholds(probs, y, np.ones(8))
    assert score == pytest.approx(classify.weighted_macro_f1(y, y))  # perfect after tuning
    assert t[classify.LAYERS.index("refactor")] > 1 and t[classify.LAYERS.index("feature")] == 1


def test_labelled_commits_get_their_out_of_fold_layer(repo_builder, model_dir, tmp_path):
    con, shas = _featured_db(repo_builder, tmp_path)
    repo = con.execute("SELECT repo FROM repos").fetchone()[0]
    oof = tmp_path / "oof.csv"
    pd.DataFrame(
        [
            {
                "repo": repo,
                "sha": shas[0],
                "fold": 0,
                "true": "architectural",
                "layer": "architectural",
                "pred": "architectural",
                "p_boilerplate": 0.1,
                "p_refactor": 0.1,
                "p_feature": 0.2,
                "p_architectural": 0.6,
                "is_fix": "true",
            }
        ]
    ).to_csv(oof, index=False)
    classify.classify_stage(con, model=classify.load_model(model_dir), oof_path=oof)
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT sha, layer, is_oof, decided_by, p_architectural, is_fix FROM commit_layers"
        ).fetchall()
    }
    assert rows[shas[0]] == ("architectural", True, "oof", 0.6, True)
    assert rows[shas[1]][1] is False and rows[shas[1]][2] != "oof"


def test_cli_classify_jobs_without_repo_is_refused(tmp_path):
    """`-j` parallelises the per-commit path only: asked of the database run it would be ignored
    silently, so it is refused with a line that says where it applies."""
    res = CliRunner().invoke(app, ["classify", "--db", str(tmp_path / "x.duckdb"), "-j", "2"])
    assert res.exit_code == 2 and "--jobs applies with --repo" in res.output


def test_classify_repo_equals_the_database_stage_with_diff_tokens(repo_builder, tmp_path):
    """A model that reads message, path and diff tokens gives the same layers and scores from
    `strata classify --repo` (texts from the patch stream) and from the classify stage (texts
    from `messages`, `file_changes` and the features stage's `commit_diff_tokens`)."""
    from mining.crawl import CrawlTarget, crawl
    from mining.sources import resolve_source

    rb = repo_builder()
    rb.commit("initial", {"src/app.py": "def run(config):\n    return config\n"})
    shas, layers = [], []
    for i in range(8):
        if i % 2:
            body = "".join(f'    "model-{k}",\n' for k in range(i + 2))
            change = {"src/models.py": f"MODELS = [\n{body}]\n"}
            layers.append("boilerplate")
            message = f"chore: add model {i}"
        else:
            change = {
                f"src/handler_{i}.py": f"def handle_{i}(request):\n    if request.empty:\n"
                "        raise ValueError(request)\n    return parse_request(request)\n"
            }
            layers.append("feature")
            message = f"feat: handle request {i}"
        shas.append(rb.commit(message, change))
    frame = features.compute_features(rb.path, shas, texts=TEXT_COLUMNS)
    X = classify.model_frame(frame)
    est = classify.fit_base("linear", "full", X, np.array(layers, dtype=object), np.ones(8))
    cols, texts = classify.variant_columns("full")
    assert "diff_text" in texts
    meta = {
        "version": "t-diff",
        "variant": "full",
        "feature_columns": features.FEATURE_COLUMNS,
        "ratio_columns": [c for c in cols if c.startswith("r_")],
        "text_columns": texts,
        "features_version": features.FEATURES_VERSION,
        "diff_tokens_version": DIFF_TOKENS_VERSION,
    }
    model = classify.LayerModel(classify.Stack({"linear": est}, {"linear": 1.0}), None, {}, meta)
    blank = frame.assign(diff_text="")
    assert not np.allclose(
        model.predict(frame)[classify.PROB_COLUMNS], model.predict(blank)[classify.PROB_COLUMNS]
    )  # the model does read the diff tokens
    classify.save_model(model, tmp_path / "m")
    listing = tmp_path / "shas.txt"
    listing.write_text("\n".join(shas) + "\n")
    res = CliRunner().invoke(
        app,
        [
            "classify",
            "--repo",
            str(rb.path),
            "--shas",
            str(listing),
            "--model",
            str(tmp_path / "m"),
        ],
    )
    assert res.exit_code == 0, res.output
    via_repo = pd.read_csv(io.StringIO(res.stdout)).set_index("sha")  # 4 decimals

    db = tmp_path / "s.duckdb"
    crawl(db, [CrawlTarget(resolve_source(str(rb.path)))])
    con = store.connect(db)
    features.features_stage(con)
    classify.classify_stage(con, model=classify.load_model(tmp_path / "m"), oof_path=None)
    via_db = (
        con.execute(
            "SELECT sha, layer, p_boilerplate, p_refactor, p_feature, p_architectural, is_fix "
            "FROM commit_layers"
        )
        .df()
        .set_index("sha")
        .loc[shas]
    )
    con.close()
    assert list(via_db["layer"]) == list(via_repo.loc[shas, "layer"])
    assert np.allclose(
        via_db[classify.PROB_COLUMNS], via_repo.loc[shas, classify.PROB_COLUMNS], atol=1e-4
    )
    # a model trained on another definition of the diff tokens is refused, not misread
    other = tmp_path / "m" / "layer_model.json"
    other.write_text(
        other.read_text().replace(
            f'"diff_tokens_version": "{DIFF_TOKENS_VERSION}"', '"diff_tokens_version": "0"'
        )
    )
    with pytest.raises(classify.ModelError, match="diff tokens version 0"):
        classify.load_model(tmp_path / "m")


def test_cli_classify_partial_clone_repeated_ids_give_one_row_each(
    repo_builder, model_dir, tmp_path
):
    """A commit listed twice (or once abbreviated) in a partial clone whose missing blob stops
    git at it: still one row per commit, in the listing's order (it once gave extra rows, or
    crashed with a KeyError)."""
    rb = repo_builder()
    s1 = rb.commit("first", {"old.txt": "line one\nline two\nline three\n", "b.py": "x = 1\n"})
    s2 = rb.commit("second: move it", {"old.txt": None, "new.txt": "line one\nline two\nline 3\n"})
    s3 = rb.commit("third", {"b.py": "x = 2\n"})
    bare = rb.bare_clone(tmp_path / "mirror.git", empty_config=True)
    rb.drop_objects(bare, {rb.git("rev-parse", f"{s1}:old.txt")})  # rename detection needs it
    listing = tmp_path / "shas.txt"
    listing.write_text(f"{s3}\n{s2}\n{s1}\n{s2}\n{s3[:10]}\n")
    args = ["classify", "--repo", str(bare), "--shas", str(listing), "--model", str(model_dir)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert [ln.split(",")[0] for ln in res.stdout.strip().splitlines()[1:]] == [s3, s2, s1]
    said = " ".join(res.stderr.split())  # rows resting on file lists alone: the user is told
    assert f"git could not read the diff of 2 listed commit(s) (first {s2};" in said  # and s1
    listing.write_text(f"{s3}\n")
    assert "could not read" not in CliRunner().invoke(app, args).stderr


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda t: t.encode("utf-16"), id="utf-16-with-bom"),  # PowerShell's `>`
        pytest.param(lambda t: b"\xef\xbb\xbf" + t.encode(), id="utf-8-with-bom"),  # Notepad
    ],
)
def test_cli_classify_reads_listings_other_tools_write(repo_builder, model_dir, tmp_path, encode):
    """A listing saved on Windows, with a `sha` header, a comment, a blank line and a line of a
    CSV or of `git log --format='%H %s'`: the ids are its first fields, the rest is not read
    (each once refused the whole run as 'not a commit id')."""
    rb, shas = _repo(repo_builder)
    listing = tmp_path / "shas.txt"
    text = f"sha\r\n# picked by hand\r\n{shas[0]},feature,0.5\r\n\r\n{shas[1]} style: format\r\n"
    listing.write_bytes(encode(text))
    args = ["classify", "--repo", str(rb.path), "--model", str(model_dir), "--shas"]
    res = CliRunner().invoke(app, [*args, str(listing)])
    assert res.exit_code == 0, res.output
    assert [ln.split(",")[0] for ln in res.stdout.strip().splitlines()[1:]] == shas
    piped = CliRunner().invoke(app, [*args, "-"], input=listing.read_bytes())
    assert piped.exit_code == 0 and piped.stdout == res.stdout


def test_cli_classify_repo_may_be_a_folder_inside_the_work_tree(repo_builder, model_dir, tmp_path):
    """`--repo .` run from a subfolder names its work tree, as `crawl` and `blame` take it
    (it was refused as 'not a git repository')."""
    rb, shas = _repo(repo_builder)
    listing = tmp_path / "shas.txt"
    listing.write_text("\n".join(shas) + "\n")
    args = ["classify", "--shas", str(listing), "--model", str(model_dir), "--repo"]
    top = CliRunner().invoke(app, [*args, str(rb.path)])
    inside = CliRunner().invoke(app, [*args, str(rb.path / "src")])
    assert top.exit_code == 0 and inside.exit_code == 0, inside.output
    assert inside.stdout == top.stdout and len(top.stdout.splitlines()) == 3


def test_cli_classify_long_listing_shows_progress_and_same_rows(
    repo_builder, model_dir, tmp_path, monkeypatch
):
    """A listing longer than a batch is classified batch by batch with a progress line on
    stderr (17,709 commits of a real repository ran five minutes in silence); the rows are those
    of one pass, and a commit listed in two batches still gets one row."""
    rb = repo_builder()
    shas = [
        rb.commit(f"feat: step {i}", {f"src/m{i}.py": f"def f{i}():\n    return {i}\n"})
        for i in range(4)
    ]
    listing = tmp_path / "shas.txt"
    listing.write_text("\n".join([*shas[:3], shas[0], shas[3]]) + "\n")
    args = ["classify", "--repo", str(rb.path), "--shas", str(listing), "--model", str(model_dir)]
    whole = CliRunner().invoke(app, args)
    monkeypatch.setattr(features, "BATCH", 2)
    batched = CliRunner().invoke(app, args)
    assert whole.exit_code == 0 and batched.exit_code == 0, batched.output
    assert batched.stdout == whole.stdout
    assert [ln.split(",")[0] for ln in batched.stdout.strip().splitlines()[1:]] == shas
    assert "4/4 commits" in batched.stderr and "commits (" not in whole.stderr
    quiet = CliRunner().invoke(app, [*args, "-q"])
    assert quiet.stdout == whole.stdout and "commits" not in quiet.stderr


def _filtered_clone_args(rb, shas, spec, tmp_path, model_dir):
    """`strata classify` arguments for `shas` in a partial clone of `rb` (`--filter=spec`, a
    promisor remote: the objects it filters out are absent)."""
    import subprocess

    rb.git("config", "uploadpack.allowFilter", "true")
    clone = tmp_path / "partial.git"
    subprocess.run(
        ["git", "clone", "-q", "--bare", f"--filter={spec}", f"file://{rb.path}", str(clone)],
        check=True,
    )
    listing = tmp_path / "shas.txt"
    listing.write_text("\n".join(shas) + "\n")
    return ["classify", "--repo", str(clone), "--shas", str(listing), "--model", str(model_dir)]


def test_cli_classify_blobless_clone_gives_every_listed_commit_a_row(
    repo_builder, model_dir, tmp_path
):
    """`git clone --filter=blob:none` (a promisor remote, no old blobs): git dies on a missing
    blob instead of saying 'missing', and the commits whose blobs the feature reader asked for
    were left out of the CSV in silence (33 of 45 on a real C repository)."""

    rb = repo_builder()
    shas = [rb.commit("initial", {"src/a.py": "def f(x):\n    return x\n"})]
    for i in range(3):
        body = "".join(f"def f{k}(x):\n    return x + {k}\n\n" for k in range(i + 2))
        shas.append(rb.commit(f"feat: step {i}", {"src/a.py": body, f"src/b{i}.py": "y = 1\n"}))
    args = _filtered_clone_args(rb, shas, "blob:none", tmp_path, model_dir)
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert [ln.split(",")[0] for ln in res.stdout.strip().splitlines()[1:]] == shas
    assert "git could not read the diff of 4 listed commit(s)" in " ".join(res.stderr.split())


def test_cli_classify_names_listed_commits_git_cannot_read_at_all(
    repo_builder, model_dir, tmp_path
):
    """A clone made with --filter=tree:0 lacks the trees: git cannot show the commits at all.
    The run printed a bare header and exited 0; now the error names them (exit 2), -q too."""

    rb, shas = _repo(repo_builder)
    args = _filtered_clone_args(rb, shas, "tree:0", tmp_path, model_dir)
    for extra in ([], ["-q"]):
        res = CliRunner().invoke(app, [*args, *extra])
        assert res.exit_code == 2, res.output
        assert f"git could not read 2 listed commit(s) at all (first {shas[0]};" in " ".join(
            res.stderr.split()
        )
