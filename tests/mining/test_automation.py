"""Automation under a person's name leaves the human group: bot committers, tool auto-commits,
release scripts and scripted (repeated) subject templates. One real repository, crawled once,
holds a commit per catalog entry and the negatives (web-flow squash merges, a CI committer, a
person's chores); repository-scoped rules are crawled under their repository's name.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mining import store
from mining.attribute import load_catalog, parse_catalog
from mining.errors import CorpusError
from mining.subject_templates import detect, mask, template_id
from tests.gitrepo import RepoBuilder, isolate_git

PERSON = ("Ada Human", "ada@example.org")

# (catalog name, committer identity, subject): a person authors, the bot commits
COMMITTER_CASES = [
    (
        "airbyte-release-bot",
        ("Octavia Squidington III", "octavia-squidington-iii@users.noreply.github.com"),
        "🤖 Bump patch version of Python CDK",
    ),
    (
        "github-actions",
        ("github-actions[bot]", "41898282+github-actions[bot]@users.noreply.github.com"),
        "flake.lock: Update",
    ),
]
# committers that record a person's own work: the commit stays human
HUMAN_COMMITTERS = [
    ("GitHub", "noreply@github.com"),  # web-flow: squash merge or web edit on github.com
    ("CI Bot", "ci@beads.test"),  # a CI job that landed a person's commit unchanged
    ("github-actions", "github-actions@github.com"),  # a backport that cherry-picked it
]
# (catalog name, author identity): bot accounts without a [bot] suffix
AUTHOR_CASES = [
    ("scala-steward", ("Scala Steward", "43047562+scala-steward@users.noreply.github.com")),
    ("roo-release-bot", ("R00-B0T", "110429663+R00-B0T@users.noreply.github.com")),
    ("charm-bot", ("Charm", "124303983+charmcli@users.noreply.github.com")),
]
# (rule name, subject): a tool or release script made the commit under the person's identity
TEMPLATE_CASES = [
    ("beads-sync", "bd sync: 2025-10-30 14:22:01"),
    ("beads-sync", "bd daemon sync: 2025-11-02 09:00:00"),
    ("beads-sync", "bd sync: Apply DB changes after import"),
    ("beads-backup", "bd: backup 2025-11-03 10:00"),
    ("maven-release-plugin", "[maven-release-plugin] prepare release parent-4.2.0"),
    ("sbt-release", "Setting version to 23.5.6"),
    ("changesets-version", "Changeset version bump (#3660)"),
    ("changesets-version", "Version Packages (#12)"),
    (
        "localization-pipeline",
        "Localized file check-in by OneLocBuild Task: Build definition ID 1234: Build ID 5678",
    ),
    (
        "localization-pipeline",
        "LEGO: Pull request from lego/hb_0a1b2c3d-e4f5-4711_20250101 to main (#99)",
    ),
    ("release-version", "release: 9.24.0"),
    ("release-version", "v0.88.1"),
    ("release-version", "Bump version to 0.11.23 (#19927)"),
    ("release-version", "chore(cli): release v3.0.56"),
    ("release-version", "Prepare for release 5.0.0-alpha.17."),
    ("release-version", "chore: start 0.34.1 development"),
    ("release-version", "set version to 0.77.1.dev"),
    ("dependency-updater", "[main] Update dependencies from microsoft/testfx (#77)"),
]
# (rule name, repository, subject): rules limited to the repositories named in the catalog
SCOPED_CASES = [
    (
        "scheduled-dependency-update",
        "obi1kenobi/cargo-semver-checks",
        "Weekly `cargo update` of dependencies (#1699)",
    ),
    ("translation-script", "openai/openai-agents-python", "docs: update translated pages"),
    ("release-version", "tursodatabase/turso", "Turso 0.8.0-pre.6"),
    (
        "dependency-updater",
        "getsentry/sentry-react-native",
        "chore(deps): update Cocoa SDK to v8.1.0 (#4000)",
    ),
    ("workflow-template", "astral-sh/uv", "Sync latest Python releases (#1)"),
]
# (rule name, repository, subject): repository-scoped chores, human inside and outside
SCOPED_CHORES = [("dependency-bump-by-hand", "Comfy-Org/ComfyUI", "Update frontend to v1.2.3 (#9)")]
# a person's own repeated subjects: reviewed as chores, they stay human
CHORE_CASES = [
    ("generic-chore", "wip"),
    ("generic-chore", "cargo fmt"),
    ("file-update", "Update README.md"),
    ("file-update", "update changelog for 1.2.3"),
]
# subjects that look close to a rule but are a person's work
HUMAN_SUBJECTS = ["#2120", "Fixes #12", "release notes for the new API", "bd sync fails on Windows"]


def _crawl(r: RepoBuilder, db: Path, name: str | None = None):
    from mining.crawl import CrawlTarget, crawl
    from mining.sources import resolve_source

    res = crawl(db, [CrawlTarget(resolve_source(str(r.path), name=name))])
    assert res[0].error is None, res[0].error
    return store.connect(db)


def _authors(con) -> dict[str, tuple]:
    return {
        r[0]: tuple(r[1:])
        for r in con.execute(
            "SELECT sha, author_kind, automation, automation_via, scripted, template_id "
            "FROM commit_authors"
        ).fetchall()
    }


@pytest.fixture(scope="module")
def crawled(tmp_path_factory):
    """Every committer, author, template and chore case in one repository, plus templates that
    repeat MIN times (detected) and MIN-1 times (not), crawled with attribution."""
    base = tmp_path_factory.mktemp("automation")
    min_n = load_catalog().scripted_min_commits
    with pytest.MonkeyPatch.context() as mp:  # the autouse git isolation is per test
        isolate_git(mp, tmp_path_factory.mktemp("home"))
        r = RepoBuilder(base / "automation")
        sha: dict[str, str] = {"plain": r.commit("feat: add parser", {"a.py": "1\n"})}
        for name, bot, subj in COMMITTER_CASES:
            sha[f"committer:{name}"] = r.commit(subj, {"c.txt": name}, committer=bot)
        for ident in HUMAN_COMMITTERS:
            sha[f"human-committer:{ident[1]}"] = r.commit(
                "Add retry to the exporter (#42)", {"h.txt": ident[1]}, committer=ident
            )
        for name, ident in AUTHOR_CASES:
            sha[f"author:{name}"] = r.commit(
                "Update x to 1.2.3 (#7)", {"b.txt": name}, author=ident
            )
        for i, (_name, subj) in enumerate(TEMPLATE_CASES + CHORE_CASES):
            sha[f"template:{i}"] = r.commit(subj, {"t.txt": subj})
        for i, subj in enumerate(HUMAN_SUBJECTS):
            sha[f"human-subject:{i}"] = r.commit(subj, {"s.txt": subj})
        # a release script run MIN times (reviewed automation), a chore MIN times, a template
        # nobody reviewed MIN times, and one that repeats MIN - 1 times (not detected)
        for i in range(min_n):
            sha[f"release:{i}"] = r.commit(f"Release 1.{i}.0", {"v.txt": str(i)})
            sha[f"chore:{i}"] = r.commit("fix lint", {"l.txt": str(i)})
            sha[f"unreviewed:{i}"] = r.commit(f"Sync widgets batch {i} of 99", {"w.txt": str(i)})
        for i in range(min_n - 1):
            sha[f"below:{i}"] = r.commit(f"Regenerate fixtures round {i}", {"f.txt": str(i)})
        con = _crawl(r, base / "a.duckdb")
    yield con, sha
    con.close()


@pytest.mark.parametrize(
    ("name", "bot", "subj"), COMMITTER_CASES, ids=[c[0] for c in COMMITTER_CASES]
)
def test_bot_committer_makes_a_persons_commit_automation(crawled, name, bot, subj):
    con, sha = crawled
    kind, auto, via, _, _ = _authors(con)[sha[f"committer:{name}"]]
    assert (kind, auto, via) == ("automation", name, "committer")


@pytest.mark.parametrize("ident", HUMAN_COMMITTERS, ids=[i[1] for i in HUMAN_COMMITTERS])
def test_committer_recording_a_persons_work_stays_human(crawled, ident):
    con, sha = crawled
    kind, auto, via, _, _ = _authors(con)[sha[f"human-committer:{ident[1]}"]]
    assert (kind, auto, via) == ("human", None, None)


@pytest.mark.parametrize(("name", "ident"), AUTHOR_CASES, ids=[c[0] for c in AUTHOR_CASES])
def test_bot_author_without_bot_suffix_is_automation(crawled, name, ident):
    con, sha = crawled
    assert _authors(con)[sha[f"author:{name}"]][:3] == ("automation", name, "author")


@pytest.mark.parametrize(
    ("i", "name", "subj"),
    [(i, n, s) for i, (n, s) in enumerate(TEMPLATE_CASES)],
    ids=[f"{n}:{s[:30]}" for n, s in TEMPLATE_CASES],
)
def test_tool_and_release_subject_is_automation(crawled, i, name, subj):
    con, sha = crawled
    assert _authors(con)[sha[f"template:{i}"]][:3] == ("automation", name, "subject")


@pytest.mark.parametrize(
    ("i", "name", "subj"),
    [(len(TEMPLATE_CASES) + i, n, s) for i, (n, s) in enumerate(CHORE_CASES)],
    ids=[s for _, s in CHORE_CASES],
)
def test_a_persons_chore_stays_human(crawled, i, name, subj):
    con, sha = crawled
    assert _authors(con)[sha[f"template:{i}"]][:3] == ("human", None, None)
    assert load_catalog().template_rule("o/r", mask(subj)).name == name


@pytest.mark.parametrize("i", range(len(HUMAN_SUBJECTS)), ids=HUMAN_SUBJECTS)
def test_near_miss_subject_stays_human(crawled, i):
    con, sha = crawled
    assert _authors(con)[sha[f"human-subject:{i}"]] == ("human", None, None, False, None)


def test_repeated_templates_are_detected_and_stored_without_changing_kind(crawled):
    con, sha = crawled
    a = _authors(con)
    min_n = load_catalog().scripted_min_commits
    release = {a[sha[f"release:{i}"]] for i in range(min_n)}
    chore = {a[sha[f"chore:{i}"]] for i in range(min_n)}
    unreviewed = {a[sha[f"unreviewed:{i}"]] for i in range(min_n)}
    below = {a[sha[f"below:{i}"]] for i in range(min_n - 1)}
    ((r_kind, r_auto, r_via, r_scripted, r_tid),) = release  # one template: one row shape
    assert (r_kind, r_auto, r_via, r_scripted) == ("automation", "release-version", "subject", True)
    assert chore == {("human", None, None, True, template_id("fix lint"))}
    assert unreviewed == {("human", None, None, True, template_id("sync widgets batch # of #"))}
    assert below == {("human", None, None, False, None)}
    rows = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT template, template_id, n_commits, n_human, n_authors, kind, rule "
            "FROM commit_templates"
        ).fetchall()
    }
    assert rows == {
        "release #": (r_tid, min_n, min_n, 1, "automation", "release-version"),
        "fix lint": (template_id("fix lint"), min_n, min_n, 1, "chore", "generic-chore"),
        "sync widgets batch # of #": (
            template_id("sync widgets batch # of #"),
            min_n,
            min_n,
            1,
            None,
            None,
        ),
    }
    facts = {
        r[0]: r[1:]
        for r in con.execute(
            "SELECT sha, author_kind, automation_via, scripted FROM commit_facts"
        ).fetchall()
    }
    assert facts[sha["release:0"]] == ("automation", "subject", True)
    assert facts[sha["plain"]] == ("human", None, False)


@pytest.mark.parametrize(("name", "repo", "subj"), SCOPED_CASES, ids=[c[0] for c in SCOPED_CASES])
def test_repository_scoped_rule_applies_only_there(repo_builder, tmp_path, name, repo, subj):
    r = repo_builder("scoped")
    sha = r.commit(subj, {"a.txt": "1\n"})
    con = _crawl(r, tmp_path / "in.duckdb", name=repo)
    assert _authors(con)[sha][:3] == ("automation", name, "subject")
    con.close()
    con = _crawl(r, tmp_path / "out.duckdb", name="someone/else")
    assert _authors(con)[sha][:3] == ("human", None, None)
    con.close()


@pytest.mark.parametrize(("name", "repo", "subj"), SCOPED_CHORES, ids=[c[0] for c in SCOPED_CHORES])
def test_repository_scoped_chore_stays_human(repo_builder, tmp_path, name, repo, subj):
    r = repo_builder("chore")
    sha = r.commit(subj, {"a.txt": "1\n"})
    con = _crawl(r, tmp_path / "in.duckdb", name=repo)
    assert _authors(con)[sha][:3] == ("human", None, None)
    con.close()
    rule = load_catalog().template_rule(repo, mask(subj))
    assert (rule.name, rule.kind) == (name, "chore")


def test_every_catalog_entry_has_a_case():
    cat = load_catalog()
    assert {n for n, _ in cat.automation_committers} == {n for n, _, _ in COMMITTER_CASES}
    tested = {n for n, _ in TEMPLATE_CASES + CHORE_CASES}
    tested |= {n for n, _, _ in SCOPED_CASES + SCOPED_CHORES}
    assert {r.name for r in cat.template_rules} == tested
    for name, ident in AUTHOR_CASES:
        assert cat.automation_name(f"{ident[0]} <{ident[1]}>".lower()) == name


def test_mask_turns_variable_parts_into_slots():
    assert mask("bd sync: 2025-10-30 14:22:01") == "bd sync: #"
    assert mask("Bump version to 0.5.1 (#1234)") == "bump version to # (##)"
    assert mask("Release v1.2.3-beta.1") == mask("release 4.0") == "release #"
    assert mask("Merge 1a2b3c4d5e into main") == "merge # into main"
    assert mask("added deadbeef feature") == "added deadbeef feature"  # hex word without a digit
    assert mask("#2120") == "##" and mask("v2120") == "#"  # a reference is not a version
    assert mask("  Fix   GH-5 and #7 ") == "fix ## and ##"
    # subjects without a digit skip the masks, but literal `#` runs still fold like slots
    assert (
        mask("Docs ##  # . #\0 X") == "docs # # . # x"
        and mask("release \u0663.\u0664") == "release #"
    )
    assert template_id("release #") == template_id("release #") != template_id("release ##")
    assert detect(["a #", "a #", "b", ""], 2) == {"a #": 2}


def test_bad_template_rule_names_the_entry():
    with pytest.raises(CorpusError, match="templates 'x'"):
        parse_catalog({"templates": [{"name": "x", "kind": "script", "pattern": "a"}]})
    with pytest.raises(CorpusError, match="templates 'y'"):
        parse_catalog({"templates": [{"name": "y", "kind": "chore", "pattern": "(("}]})
    with pytest.raises(CorpusError, match="min_commits"):
        parse_catalog({"scripted": {"min_commits": 1}})


def test_release_carries_template_ids_and_counts_never_text(repo_builder, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from mining import privacy, release

    r = repo_builder("scripted")
    r.commit("feat: first feature", {"a.py": "1\n"})
    min_n = load_catalog().scripted_min_commits
    for i in range(min_n):
        r.commit(f"Deploy preview build {i} to staging", {"d.txt": str(i)})
        r.commit(f"bd sync: 2025-11-0{i % 9 + 1} 10:{i:02d}:00", {"i.jsonl": str(i)})
    db = tmp_path / "s.duckdb"
    _crawl(r, db).close()
    out = tmp_path / "release"
    release.write_release(db, out)
    templates = pq.read_table(out / "commit_templates.parquet")
    assert "template" not in templates.column_names
    assert templates.column("n_commits").to_pylist() == [min_n, min_n]
    assert set(templates.column("kind").to_pylist()) == {"automation", None}
    authors = pq.read_table(out / "commit_authors.parquet").to_pylist()
    assert sum(a["scripted"] for a in authors) == 2 * min_n
    assert sum(a["automation_via"] == "subject" for a in authors) == min_n
    text = (out / "DATASET.md").read_text() + str(templates.to_pylist()) + str(authors)
    for secret in ("deploy preview build", "bd sync", "staging"):
        assert secret not in text.lower()
    assert "Who is in the human group" in (out / "DATASET.md").read_text()
    # a template's text planted in a released column, or a `template` column, is refused
    con = store.connect(db, read_only=True)
    path = out / "commit_templates.parquet"
    leaky = templates.set_column(
        templates.schema.get_field_index("rule"),
        "rule",
        pa.array(["deploy preview build # to staging"] * 2),
    )
    pq.write_table(leaky, path)
    assert any(f.kind == "subject template" for f in privacy.scan_release(out, con))
    pq.write_table(templates.append_column("template", pa.array(["x", "y"])), path)
    assert any(f.kind == "private column" for f in privacy.scan_release(out, con))
    con.close()
    # a release loads back: ids, counts and flags, no template text
    out2 = tmp_path / "release2"
    release.write_release(db, out2)
    loaded = tmp_path / "loaded.duckdb"
    release.load_release(out2, loaded)
    con = store.connect(loaded, read_only=True)
    assert con.execute("SELECT count(*), count(template) FROM commit_templates").fetchone() == (
        2,
        0,
    )
    assert (
        con.execute("SELECT count(*) FROM commit_facts WHERE scripted").fetchone()[0] == 2 * min_n
    )
    con.close()
