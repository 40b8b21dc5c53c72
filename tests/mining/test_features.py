"""Change features on fixture repositories, one scenario per commit kind the codebook names."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest

from mining import features, store
from mining.errors import SourceError

PY_V1 = "def parse(text):\n    return text.split()\n\n\ndef _helper(x):\n    return x\n"


def _row(rb, sha: str) -> dict:
    frame = features.compute_features(rb.git_dir, [sha])
    assert list(frame["sha"]) == [sha]
    return frame.iloc[0].to_dict()


@pytest.fixture
def base(repo_builder):
    rb = repo_builder()
    rb.commit(
        "initial",
        {
            "pyproject.toml": '[project]\nname = "demo"\nversion = "1.0"\ndependencies = [\n'
            '    "requests>=2.31",\n    "click>=8.0",\n]\n',
            "poetry.lock": "# lock\nrequests 2.31\n",
            "src/demo/__init__.py": "",
            "src/demo/core.py": PY_V1,
            "README.md": "# demo\n\nSome text.\n",
            "tests/test_core.py": "def test_parse():\n    assert True\n",
        },
    )
    return rb


def test_dependency_bump(base):
    sha = base.commit(
        "chore(deps): bump requests from 2.31 to 2.32",
        {
            "pyproject.toml": '[project]\nname = "demo"\nversion = "1.0"\ndependencies = [\n'
            '    "requests>=2.32",\n    "click>=8.0",\n    "rich>=13",\n]\n',
            "poetry.lock": "# lock\nrequests 2.32\n",
        },
    )
    r = _row(base, sha)
    assert (r["dep_bumped"], r["dep_added"], r["dep_removed"]) == (1, 1, 0)
    assert r["n_manifest"] == 1 and r["n_lockfile"] == 1 and r["n_source"] == 0
    assert r["cc_type"] == "deps" and r["cc_has_scope"]
    assert r["kw_bump"] >= 1


def test_rename_only_refactor(base):
    base.rename("src/demo/core.py", "src/demo/parsing.py", message="refactor: rename core module")
    r = _row(base, base.head())
    assert (r["n_renamed"], r["n_pure_renames"], r["churn"]) == (1, 1, 0)
    assert r["n_cross_pkg_moves"] == 0 and r["n_moves"] == 0
    assert r["syn_files_parsed"] == 0  # identical content is not parsed
    assert r["cc_type"] == "refactor"


def test_move_across_packages(base):
    base.rename("src/demo/core.py", "lib/other/core.py", message="move core")
    r = _row(base, base.head())
    assert r["n_moves"] == 1 and r["n_cross_pkg_moves"] == 1 and r["n_cross_top_moves"] == 1
    assert r["n_new_dirs"] == 1  # lib/ did not exist before


def test_new_package(base):
    sha = base.commit(
        "feat: add storage package",
        {
            "src/demo/storage/__init__.py": "from .db import Store\n",
            "src/demo/storage/db.py": "class Store:\n    def get(self, key):\n        return key\n",
        },
    )
    r = _row(base, sha)
    assert r["n_added"] == 2 and r["n_source_added"] == 2
    assert r["n_package_markers_added"] == 1
    assert r["n_new_dirs"] == 1  # the topmost new directory only
    assert r["syn_types_added"] == 1 and r["syn_defs_added"] == 2 and r["syn_public_added"] == 2
    assert r["share_import"] > 0


def test_api_signature_change(base):
    new = PY_V1.replace("def parse(text):", "def parse(text, sep=None):")
    sha = base.commit("change parse signature", {"src/demo/core.py": new})
    r = _row(base, sha)
    assert r["syn_defs_signature_changed"] == 1 and r["syn_public_signature_changed"] == 1
    assert r["syn_defs_added"] == 0 and r["syn_defs_removed"] == 0
    body = new.replace("return x\n", "return x + 1\n")
    sha2 = base.commit("private body change", {"src/demo/core.py": body})
    r2 = _row(base, sha2)
    assert r2["syn_defs_signature_changed"] == 0 and r2["syn_defs_body_changed"] == 0
    # no changed line can open a signature: the file is counted, not parsed (features v4)
    assert r2["syn_files_body_only"] == 1 and r2["syn_files_parsed"] == 0
    assert r["syn_files_body_only"] == 0 and r["syn_files_parsed"] == 1


def test_a_body_edit_beside_a_signature_line_is_parsed(base):
    """The gate reads every changed line: a hunk that also touches a `def` line is parsed, and
    its body change is counted as before; a language without a gate is always parsed."""
    body = PY_V1.replace("return x\n", "return x + 1\n").replace(
        "def parse(text):", "def parse(text, strict=False):"
    )
    r = _row(base, base.commit("both", {"src/demo/core.py": body}))
    assert r["syn_files_parsed"] == 1 and r["syn_files_body_only"] == 0
    assert r["syn_defs_signature_changed"] == 1
    c_v1 = "int add(int a, int b)\n{\n    return a + b;\n}\n"
    base.commit("c file", {"src/demo/add.c": c_v1})
    c_v2 = c_v1.replace("return a + b;", "return b + a;")
    rc = _row(base, base.commit("c body", {"src/demo/add.c": c_v2}))
    assert rc["syn_files_parsed"] == 1 and rc["syn_files_body_only"] == 0
    assert rc["syn_defs_body_changed"] == 1


def test_docs_only_change(base):
    sha = base.commit(
        "docs: explain usage", {"README.md": "# demo\n\nSome text.\n\nUsage: run it.\n"}
    )
    r = _row(base, sha)
    assert r["n_docs"] == 1 and r["n_files"] == 1 and r["frac_churn_docs"] == 1.0
    assert r["cc_type"] == "docs" and r["share_comment"] == 0


def test_lockfile_only(base):
    sha = base.commit("update lock", {"poetry.lock": "# lock\nrequests 2.31.1\n"})
    r = _row(base, sha)
    assert r["n_lockfile"] == 1 and r["frac_files_lockfile"] == 1.0 and r["dep_bumped"] == 0


def test_migration_file(base):
    sha = base.commit(
        "add users table",
        {
            "db/migrations/0002_users.sql": "CREATE TABLE users (id int);\nALTER TABLE x ADD COLUMN y int;\n"
        },
    )
    r = _row(base, sha)
    assert r["n_contract"] == 1 and r["n_contract_added"] == 1 and r["ddl_lines"] == 2


def test_formatting_only_diff(base):
    sha = base.commit(
        "style: reformat",
        {"src/demo/core.py": PY_V1.replace("return text.split()", "return    text.split( )")},
    )
    r = _row(base, sha)
    assert r["formatting_only"] and r["share_whitespace"] == 1.0 and r["n_format_hunks"] == 1


def test_non_utf8_content_and_binary_and_huge_file(base):
    sha = base.commit(
        b"non-utf8 message caf\xe9",
        {
            "data/latin.txt": "caf\xe9\n".encode("latin-1"),
            "static/logo.png": b"\x89PNG\x00\x01\x02" * 100,
            "gen/big.txt": "".join(f"row {i}\n" for i in range(30_000)),
        },
    )
    r = _row(base, sha)
    assert r["n_binary"] == 1 and r["n_assets"] == 1
    assert r["lines_added"] == 30_001 and r["n_truncated"] == 1
    assert r["msg_words"] == 3


def test_merges_are_left_out_and_bad_shas_named(base):
    first = base.head()
    base.branch("side")
    side = base.commit("side work", {"side.txt": "s\n"})
    base.checkout("main")
    base.commit("main work", {"main.txt": "m\n"})
    merge = base.merge("side")
    frame = features.compute_features(base.git_dir, [merge, side, first])
    assert list(frame["sha"]) == [side, first]
    with pytest.raises(SourceError, match="not a commit"):
        features.compute_features(base.git_dir, ["0" * 40])
    with pytest.raises(SourceError, match="not a commit id"):
        features.compute_features(base.git_dir, ["--all"])
    with pytest.raises(SourceError, match="not a commit id") as err:  # --shas a binary file
        features.compute_features(base.git_dir, ["\x7fELF" * 100_000])
    assert len(str(err.value)) < 200


def test_a_listed_annotated_tag_stands_for_its_commit_and_a_tree_is_named(base):
    """`git rev-parse v1` prints an annotated tag's own id: it means the tagged commit (it was
    refused as 'not a commit in this repository', which it is in)."""
    sha = base.commit("feat: tagged", {"t.txt": "t\n"})
    base.git("tag", "-a", "v1", "-m", "release 1")
    tag = base.git("rev-parse", "v1")
    assert tag != sha
    frame = features.compute_features(base.git_dir, [tag, sha])
    assert list(frame["sha"]) == [sha]
    tree = base.git("rev-parse", "HEAD^{tree}")
    with pytest.raises(SourceError, match=f"{tree} is a tree, not a commit"):
        features.compute_features(base.git_dir, [tree])


def test_bare_mirror_with_empty_config(base, tmp_path):
    sha = base.commit("feat: x", {"src/demo/x.py": "def x():\n    pass\n"})
    mirror = base.bare_clone(tmp_path / "m.git", empty_config=True)
    a = features.compute_features(mirror, [sha])
    b = features.compute_features(base.path, [sha])
    assert a.equals(b)


# --- authorship never reaches the features ----------------------------------------------------


def test_author_and_trailers_do_not_change_features(repo_builder):
    files = {"src/app.py": "def run(x):\n    return x\n"}
    change = {"src/app.py": "def run(x, y=0):\n    return x + y\n"}
    rows = []
    for i, (author, trailers, msg) in enumerate(
        [
            (("Ada Human", "ada@example.org"), [], "feat: add y to run"),
            (
                ("Claude", "noreply@anthropic.com"),
                [
                    ("Co-authored-by", "Claude <noreply@anthropic.com>"),
                    ("Signed-off-by", "Bob <bob@example.org>"),
                ],
                "aider: feat: add y to run\n\n\U0001f916 Generated with [Claude Code](https://claude.ai)",
            ),
        ]
    ):
        rb = repo_builder(f"r{i}")
        rb.commit("initial", files)
        sha = rb.commit(msg, change, author=author, trailers=trailers)
        rows.append(features.compute_features(rb.git_dir, [sha]).drop(columns="sha").iloc[0])
    assert rows[0].to_dict() == rows[1].to_dict()


def test_clean_message_strips_trailers_and_markers():
    msg = (
        "fix: handle empty input\n\nLonger explanation here.\n"
        "Generated with Cursor\n\nCo-authored-by: X <x@y>\nSigned-off-by: Y <y@z>\n"
    )
    assert features.clean_message(msg) == "fix: handle empty input\n\nLonger explanation here."
    # a one-paragraph "Key: value" subject is not a trailer block
    assert features.clean_message("fix: typo") == "fix: typo"
    assert features.clean_message("Assisted-by: Claude\n") == ""


def test_no_feature_names_authorship():
    banned = re.compile(r"author|committer|email|trailer|ai_|tool|bot|identity")
    assert not [c for c in features.FEATURE_COLUMNS if banned.search(c)]


def test_schema_matches_feature_columns():
    con = store.connect(":memory:")
    cols = store.table_columns(con, "commit_features")
    assert cols == ["repo", "sha", "features_version", *features.FEATURE_COLUMNS]


# --- the stage ----------------------------------------------------------------------------


def test_features_stage_writes_and_resumes(base, tmp_path: Path):
    from mining.crawl import CrawlTarget, crawl
    from mining.sources import resolve_source

    base.branch("side")
    base.commit("side", {"s.txt": "s\n"})
    base.checkout("main")
    base.commit("main", {"m.txt": "m\n"})
    base.merge("side")
    db = tmp_path / "s.duckdb"
    crawl(db, [CrawlTarget(resolve_source(str(base.path)))])
    con = store.connect(db)
    calls = []
    counts = features.features_stage(con, progress=lambda *a: calls.append(a))
    (repo,) = counts
    n_non_merge = con.execute("SELECT count(*) FROM commits WHERE NOT is_merge").fetchone()[0]
    assert counts[repo] == n_non_merge == 3 and calls
    got = con.execute("SELECT count(*), count(DISTINCT sha) FROM commit_features").fetchone()
    assert got == (3, 3)
    assert features.features_stage(con) == {repo: 0}  # resumable: nothing left to do
    con.execute("DELETE FROM commit_features WHERE sha = (SELECT min(sha) FROM commit_features)")
    assert features.features_stage(con) == {repo: 1}


def test_features_jobs_gives_the_rows_of_one_process(base, tmp_path: Path, monkeypatch):
    """`strata features --jobs 2` runs its batch in two processes and stores the same rows."""
    from typer.testing import CliRunner

    from mining.cli import app
    from mining.crawl import CrawlTarget, crawl
    from mining.sources import resolve_source

    for i in range(3):
        base.commit(f"add m{i}", {f"src/demo/m{i}.py": f"def f{i}(x):\n    return x + {i}\n"})
    monkeypatch.setattr(features, "MIN_PER_JOB", 1)  # a process even for a few commits
    pools = []
    real = features._parallel_rows
    monkeypatch.setattr(features, "_parallel_rows", lambda *a: pools.append(a[2]) or real(*a))
    tables = []
    for jobs in (1, 2):
        db = tmp_path / f"jobs{jobs}.duckdb"
        crawl(db, [CrawlTarget(resolve_source(str(base.path)))])
        res = CliRunner().invoke(app, ["features", "--db", str(db), "--jobs", str(jobs), "-q"])
        assert res.exit_code == 0, res.output
        with store.connect(db) as con:
            tables.append(con.execute("SELECT * FROM commit_features ORDER BY sha").df())
    assert pools == [2]  # only the --jobs 2 run used processes
    assert len(tables[0]) == 4
    pd.testing.assert_frame_equal(tables[0], tables[1])


def test_sample_is_balanced_between_direct_ai_and_other_commits(repo_builder, tmp_path: Path):
    """`--sample N` features up to N commits with direct AI evidence and N without (an applied
    review suggestion is not direct evidence); a larger sample tops both up without refeaturing."""
    from mining.crawl import CrawlTarget, crawl
    from mining.sources import resolve_source

    rb = repo_builder()
    ai = [
        rb.commit(
            f"feat: ai {i}\n\nCo-authored-by: Claude <noreply@anthropic.com>",
            {f"a{i}.py": f"x = {i}\n"},
        )
        for i in range(2)
    ]
    other = [rb.commit(f"fix: human {i}", {f"h{i}.py": f"y = {i}\n"}) for i in range(4)]
    other.append(
        rb.commit(
            "fix: suggested\n\nCo-authored-by: coderabbitai[bot] <x@users.noreply.github.com>",
            {"s.py": "z = 1\n"},
        )
    )
    db = tmp_path / "s.duckdb"
    crawl(db, [CrawlTarget(resolve_source(str(rb.path)))])
    con = store.connect(db)
    assert con.execute(
        "SELECT count(*) FROM attributions WHERE channel = 'suggestion'"
    ).fetchone() == (1,)

    def featured() -> tuple[int, int]:
        shas = {r[0] for r in con.execute("SELECT sha FROM commit_features").fetchall()}
        return len(shas & set(ai)), len(shas & set(other))

    features.features_stage(con, sample=1, seed=3)
    assert featured() == (1, 1)
    features.features_stage(con, sample=3, seed=3)
    assert featured() == (2, 3)  # the suggestion counted as direct would give (2, 4)
    features.features_stage(con, sample=10, seed=3)
    assert featured() == (2, 5)


def test_keywords_of_ascii_messages_are_counted_as_case_insensitive_matching_counts_them():
    """ASCII messages are lowercased and matched case-sensitively (twice as fast): the same
    counts and subject flags as the case-insensitive patterns on the message as written, which
    holds because every group's words are lowercase."""
    import tomllib
    from importlib import resources

    groups = tomllib.loads(
        (resources.files("mining") / "message_keywords.toml").read_text(encoding="utf-8")
    )["groups"]
    assert all(w == w.lower() for words in groups.values() for w in words)
    for message in [
        "Fix: BUGFIX for the Crash; Fixes #3",
        "REFACTOR(core): Clean Up and Rename Modules",
        "Release V1.2.3\n\nBump Deps, UPDATE DEPENDENCIES, Tests Added",
        "feat: Add new API Endpoint with CACHE",
        "Straße: fix ÜBER bug",  # not ASCII: the case-insensitive patterns as before
    ]:
        row = features.message_features(message)
        text = features.clean_message(message)
        subject = text.split("\n", 1)[0]
        cc = features.conventional_type(subject)[0]
        subj_no_cc = features._CC_RE.sub("", subject) if cc != "none" else subject
        for name, words in groups.items():
            pat = re.compile(r"\b(" + "|".join(words) + r")\b", re.IGNORECASE)
            assert row[f"kw_{name}"] == len(pat.findall(text)), (message, name)
            in_subject = pat.search(subj_no_cc) or pat.search(subject.split(":", 1)[0])
            assert row[f"kws_{name}"] == bool(in_subject), (message, name)
    assert features.message_features("FIX the BUG")["kw_fix"] == 2


def test_same_but_whitespace_is_the_comparison_of_the_texts_without_whitespace():
    """The character-count shortcut never changes the answer of comparing the texts stripped of
    whitespace (`str.split`'s, non-ASCII spaces included)."""
    pairs = [
        (["def f(a,b):\n", "    return a\n"], ["def f(a, b):\n", "\treturn a\n"]),  # reformat
        (["x = 1\n"], ["x = 2\n"]),  # same 'e' and ',' counts, other text
        (["let e = 1\n"], ["let x = 1\n"]),  # the counted character differs
        (["a,\u00a0b\n"], ["a, b\n"]),  # a no-break space is whitespace to str.split
        (["a b\n"], ["ab\n"]),
        ([], ["\n"]),
    ]
    for removed, added in pairs:
        plain = "".join("".join(removed).split()) == "".join("".join(added).split())
        assert features._same_but_whitespace(removed, added) == plain, (removed, added)
    assert [features._same_but_whitespace(r, a) for r, a in pairs] == [
        True,
        False,
        False,
        True,
        True,
        True,
    ]
