"""Structural-change events on repositories built in the test: each event, and its negatives."""

from __future__ import annotations

import re

import pytest

from mining import store, structure, syntax
from mining.errors import SourceError, StageError
from mining.syntax_languages import signature_gate

PY_CORE = "def parse(text):\n    return text.split()\n\n\ndef _helper(x):\n    return x\n"
PYPROJECT = (
    '[project]\nname = "demo"\nversion = "1.0"\ndependencies = [\n    "requests>=2.31",\n]\n\n'
    '[dependency-groups]\ndev = ["pytest>=8"]\n'
)
PACKAGE_JSON = (
    '{\n  "name": "web",\n  "version": "1.0.0",\n  "dependencies": {\n    "react": "^18.0.0"\n'
    '  },\n  "devDependencies": {\n    "vitest": "^1.0.0"\n  }\n}\n'
)
COMPOSE = "services:\n  web:\n    image: demo\n"
WORKFLOW = "on: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"


@pytest.fixture
def base(repo_builder):
    rb = repo_builder()
    rb.commit(
        "initial",
        {
            "pyproject.toml": PYPROJECT,
            "web/package.json": PACKAGE_JSON,
            "src/demo/__init__.py": "",
            "src/demo/core.py": PY_CORE,
            "src/demo/io/__init__.py": "",
            "src/demo/io/read.py": "def read(p):\n    return open(p).read()\n",
            "src/demo/io/write.py": "def write(p, t):\n    open(p, 'w').write(t)\n",
            "src/demo/io/fmt.py": "def fmt(t):\n    return t.strip()\n",
            "docker-compose.yml": COMPOSE,
            ".github/workflows/ci.yml": WORKFLOW,
            "README.md": "# demo\n",
        },
    )
    return rb


def _events(rb, sha: str) -> dict[str, bool]:
    frame = structure.compute_structure(rb.git_dir, [sha])
    assert list(frame["sha"]) == [sha]
    row = frame.iloc[0].to_dict()
    assert row["n_events"] == sum(bool(row[e]) for e in structure.EVENTS)
    return {e: bool(row[e]) for e in structure.EVENTS}


def _only(events: dict[str, bool], *names: str) -> None:
    assert {e for e, v in events.items() if v} == set(names)


# --- modules -----------------------------------------------------------------------------------


def test_new_package_with_source_files_is_module_added(base):
    sha = base.commit(
        "add net package",
        {
            "src/demo/net/__init__.py": "",
            "src/demo/net/http.py": "x = 1\n",
            "src/demo/net/dns.py": "y = 2\n",
        },
    )
    assert _events(base, sha)["module_added"]


def test_files_added_to_an_existing_package_are_no_module(base):
    sha = base.commit("more io", {"src/demo/io/zip.py": "z = 1\n", "src/demo/io/tar.py": "t = 1\n"})
    assert not _events(base, sha)["module_added"]


def test_new_test_directory_is_no_module(base):
    sha = base.commit(
        "tests",
        {
            "tests/unit/test_a.py": "def test_a():\n    pass\n",
            "tests/unit/test_b.py": "def test_b():\n    pass\n",
        },
    )
    _only(_events(base, sha))


def test_new_vendored_folder_is_no_module(base):
    sha = base.commit("vendor lib", {"vendor/lib/a.py": "a = 1\n", "vendor/lib/b.py": "b = 1\n"})
    _only(_events(base, sha))


def test_one_file_in_a_new_folder_is_below_the_module_threshold(base):
    sha = base.commit("script", {"scripts/run.py": "print(1)\n"})
    assert not _events(base, sha)["module_added"]


def test_deleting_a_package_is_module_removed_but_not_from_a_surviving_one(base):
    gone = base.commit(
        "drop io",
        {
            "src/demo/io/__init__.py": None,
            "src/demo/io/read.py": None,
            "src/demo/io/write.py": None,
            "src/demo/io/fmt.py": None,
        },
    )
    assert _events(base, gone)["module_removed"]
    base.commit(
        "io again",
        {
            "src/demo/io/a.py": "a = 1\n",
            "src/demo/io/b.py": "b = 1\n",
            "src/demo/io/c.py": "c = 1\n",
        },
    )
    kept = base.commit("drop two", {"src/demo/io/a.py": None, "src/demo/io/b.py": None})
    assert not _events(base, kept)["module_removed"]


# --- moves -------------------------------------------------------------------------------------


def test_moving_three_source_files_to_another_package_is_code_moved(base):
    base.git("mv", "src/demo/io", "src/demo/storage")
    sha = base.commit("rename io -> storage", {})
    ev = _events(base, sha)
    assert ev["code_moved"] and ev["module_added"] and ev["module_removed"]


def test_renames_within_a_folder_are_no_move(base):
    for name in ("read", "write", "fmt"):
        base.git("mv", f"src/demo/io/{name}.py", f"src/demo/io/{name}er.py")
    sha = base.commit("rename files in place", {})
    assert not _events(base, sha)["code_moved"]


# --- public interface ---------------------------------------------------------------------------


def test_public_function_added_or_resigned_is_an_interface_change(base):
    added = base.commit(
        "new api", {"src/demo/core.py": PY_CORE + "\n\ndef tokens(text):\n    return 1\n"}
    )
    assert _events(base, added)["public_interface"]
    resigned = base.commit(
        "new param",
        {
            "src/demo/core.py": PY_CORE.replace("def parse(text):", "def parse(text, sep=None):")
            + "\n\ndef tokens(text):\n    return 1\n"
        },
    )
    assert _events(base, resigned)["public_interface"]


def test_private_helper_or_body_edit_is_no_interface_change(base):
    body = base.commit(
        "body", {"src/demo/core.py": PY_CORE.replace("text.split()", "text.split(',')")}
    )
    _only(_events(base, body))
    private = base.commit(
        "helper", {"src/demo/core.py": PY_CORE + "\n\ndef _aux(y):\n    return y\n"}
    )
    _only(_events(base, private))


def test_exported_go_function_changes_interface_but_test_file_does_not(base):
    base.commit("go", {"pkg/api/api.go": "package api\n\nfunc Get(id int) int {\n\treturn id\n}\n"})
    resigned = base.commit(
        "go sig",
        {"pkg/api/api.go": "package api\n\nfunc Get(id int, force bool) int {\n\treturn id\n}\n"},
    )
    assert _events(base, resigned)["public_interface"]
    in_test = base.commit("go test", {"pkg/api/api_test.go": "package api\n\nfunc TestGet() {}\n"})
    assert not _events(base, in_test)["public_interface"]


def test_a_language_without_a_gate_is_no_interface_change_yet(base):
    """C# is parsed for the features, but this event counts only the languages whose gate is
    written (structure_events.toml): a new public C# method is no event, a Go one is."""
    assert syntax.language_for("src/Api.cs") == "csharp"
    cs = "public class Api\n{\n    public int Get(int id) { return id; }\n}\n"
    base.commit("cs", {"src/Api.cs": cs})
    added = base.commit(
        "cs api", {"src/Api.cs": cs.replace("}\n}", "}\n    public void Put() {}\n}")}
    )
    _only(_events(base, added))
    go = base.commit("go api", {"pkg/api/api.go": "package api\n\nfunc Put() {}\n"})
    assert _events(base, go)["public_interface"]


# --- contracts ----------------------------------------------------------------------------------


def test_migration_and_proto_are_contracts_but_test_fixture_schema_is_not(base):
    mig = base.commit("migration", {"app/migrations/0002_user.py": "ops = []\n"})
    assert _events(base, mig)["contract_changed"]
    proto = base.commit("proto", {"api/user.proto": 'syntax = "proto3";\nmessage User {}\n'})
    assert _events(base, proto)["contract_changed"]
    fixture = base.commit("fixture", {"tests/fixtures/user.schema.json": "{}\n"})
    assert not _events(base, fixture)["contract_changed"]


# --- dependencies -------------------------------------------------------------------------------


def test_new_runtime_dependency_is_an_event_but_a_version_bump_is_not(base):
    bump = base.commit("bump", {"pyproject.toml": PYPROJECT.replace("2.31", "2.32")})
    _only(_events(base, bump))
    new = base.commit(
        "add httpx",
        {
            "pyproject.toml": PYPROJECT.replace(
                '"requests>=2.31",', '"requests>=2.32",\n    "httpx>=0.27",'
            )
        },
    )
    assert _events(base, new)["dependency_added"]


def test_dev_dependency_and_lockfile_refresh_are_not_runtime_dependencies(base):
    dev = base.commit(
        "dev dep",
        {
            "web/package.json": PACKAGE_JSON.replace(
                '"vitest": "^1.0.0"', '"vitest": "^1.0.0",\n    "eslint": "^9.0.0"'
            ),
            "pyproject.toml": PYPROJECT.replace('["pytest>=8"]', '["pytest>=8", "ruff"]'),
            "requirements-dev.txt": "mypy==1.0\n",
            "uv.lock": '[[package]]\nname = "ruff"\n',
        },
    )
    _only(_events(base, dev))
    runtime = base.commit(
        "runtime dep",
        {
            "web/package.json": PACKAGE_JSON.replace(
                '"react": "^18.0.0"', '"react": "^18.0.0",\n    "zod": "^3.0.0"'
            ),
        },
    )
    assert _events(base, runtime)["dependency_added"]


@pytest.mark.parametrize(
    ("path", "old", "new", "expected"),
    [
        (
            "go.mod",
            "module x\n\nrequire (\n\tgithub.com/a/b v1.0.0\n)\n",
            "module x\n\nrequire (\n\tgithub.com/a/b v1.1.0\n\tgithub.com/c/d v0.1.0 // indirect\n)\n",
            set(),
        ),
        ("go.mod", "module x\n", "module x\n\nrequire github.com/c/d v0.1.0\n", {"github.com/c/d"}),
        (
            "build.gradle.kts",
            'dependencies {\n  implementation("a:b:1")\n}\n',
            'dependencies {\n  implementation("a:b:2")\n  testImplementation("junit:junit:4")\n'
            "  implementation(libs.okio)\n}\n",
            {"libs.okio"},
        ),
        (
            "Cargo.toml",
            '[dependencies]\nserde = "1"\n',
            '[dependencies]\nserde = "1.1"\ntokio = { version = "1" }\n\n[dev-dependencies]\nproptest = "1"\n',
            {"tokio"},
        ),
        (
            "setup.py",
            "setup(install_requires=['click'])\n",
            "setup(install_requires=['click>=8', 'Jinja2'], extras_require={'test': ['pytest']})\n",
            {"jinja2"},
        ),
        (
            "Gemfile",
            'gem "rails"\n',
            'gem "rails"\ngroup :test do\n  gem "rspec"\nend\ngem "pg"\n',
            {"pg"},
        ),
        (
            "packages/app/pubspec.yaml",
            "name: app\ndependencies:\n  http: ^1.0.0\ndev_dependencies:\n  test: ^1.0.0\n",
            "name: app\nenvironment:\n  sdk: '>=3.0.0 <4.0.0'\ndependencies:\n  http: ^1.2.0\n"
            "  flutter_localizations:\n    sdk: flutter\n  dio:\n    path: ../dio\n"
            "dev_dependencies:\n  test: ^1.0.0\n  mockito: ^5.0.0\n"
            "dependency_overrides:\n  meta: 1.9.0\n",
            {"flutter_localizations", "dio"},
        ),
        (
            "apps/server/mix.exs",
            "defmodule X.MixProject do\n  def project, do: [deps: deps()]\n\n"
            '  defp deps do\n    [\n      {:jason, "~> 1.0"}\n    ]\n  end\nend\n',
            "defmodule X.MixProject do\n  def project, do: [deps: deps()]\n\n"
            "  def application, do: [extra_applications: [:logger], mod: {:x_app, []}]\n\n"
            '  defp deps do\n    [\n      {:jason, "~> 1.4"},\n      {:plug, "~> 1.0"},\n'
            "      {:utils, in_umbrella: true},\n"
            '      {:credo, "~> 1.6", only: [:dev, :test], runtime: false},\n'
            '      {:ex_doc, "~> 0.30", only: :dev},\n'
            '      {:telemetry, "~> 1.0", only: [:dev, :prod]},\n'
            '      {:rustler, "~> 0.30", runtime: false}\n    ]\n  end\nend\n',
            {"plug", "utils", "telemetry"},
        ),
        (
            "Package.swift",
            'let package = Package(dependencies: [\n  .package(url: "https://github.com/apple/swift-log", from: "1.0.0"),\n])\n',
            'let package = Package(dependencies: [\n  .package(url: "https://github.com/apple/swift-log", from: "1.5.0"),\n'
            '  .package(url: "https://github.com/apple/swift-crypto.git", .upToNextMajor(from: "3.0.0")),\n'
            '  .package(name: "Kit", url: "git@host:org/kit-ios.git", from: "1.0.0"),\n'
            '  .package(path: "../LocalThing/"),\n  .package(path: somePathVariable),\n'
            '  .package(id: "mona.LinkedList", from: "1.0.0"),\n])\n',
            {"swift-crypto", "kit", "localthing", "mona.linkedlist"},
        ),
        (
            "modules/core/build.sbt",
            'libraryDependencies += "org.typelevel" %% "cats-core" % "2.9.0"\n',
            'libraryDependencies ++= Seq(\n  "org.typelevel" %% "cats-core" % "2.10.0",\n'
            '  "co.fs2" %%% "fs2-core" % fs2Version,\n  "org.slf4j" % "slf4j-api" % "2.0.0" % Provided,\n'
            '  "org.scalameta" %% "munit" % "1.0.0" % Test,\n  "org.scalatest" %% "scalatest" % "3.2.0" % "test",\n'
            '  ("org.scala-lang" % "scala-reflect" % scalaVersion.value)\n)\n'
            'addSbtPlugin("org.scalameta" % "sbt-scalafmt" % "2.5.0")\n',
            {"co.fs2:fs2-core", "org.scala-lang:scala-reflect"},
        ),
        (
            "Sentry.podspec",
            "Pod::Spec.new do |s|\n  s.name = 'Sentry'\nend\n",
            "Pod::Spec.new do |s|\n  s.name = 'Sentry'\n  s.dependency 'SentryPrivate', '1.0'\n"
            "  s.test_spec 'Tests' do |test_spec|\n    test_spec.dependency 'Nimble'\n  end\n"
            "  s.subspec 'Core' do |sp|\n    sp.dependency \"SentryCore/Base\"\n  end\nend\n",
            {"sentryprivate", "sentrycore/base"},
        ),
    ],
)
def test_runtime_dependencies_per_manifest_format(path, old, new, expected):
    manifest = structure._manifest_for(path, structure.definitions())
    assert manifest is not None
    fresh = structure.runtime_dependencies(path, new, manifest) - structure.runtime_dependencies(
        path, old, manifest
    )
    assert fresh == expected


# --- topology -----------------------------------------------------------------------------------


def test_new_service_job_or_dockerfile_is_topology_but_an_edited_one_is_not(base):
    service = base.commit(
        "db service", {"docker-compose.yml": COMPOSE + "  db:\n    image: postgres\n"}
    )
    assert _events(base, service)["topology_changed"]
    job = base.commit(
        "lint job", {".github/workflows/ci.yml": WORKFLOW + "  lint:\n    runs-on: x\n"}
    )
    assert _events(base, job)["topology_changed"]
    docker = base.commit("container", {"Dockerfile": "FROM python:3.12\n"})
    assert _events(base, docker)["topology_changed"]
    edit = base.commit(
        "edit",
        {"docker-compose.yml": COMPOSE.replace("demo", "demo:2") + "  db:\n    image: postgres\n"},
    )
    _only(_events(base, edit))


def test_top_keys_reads_only_the_named_block():
    text = "version: '3'\nservices:\n  web:\n    ports:\n      - 80\n  db:\n    image: x\nvolumes:\n  data:\n"
    assert structure.top_keys(text, "services") == {"web", "db"}
    assert structure.top_keys(text, "") == {"version", "services", "volumes"}


# --- stage --------------------------------------------------------------------------------------


def _crawled(rb, tmp_path):
    from mining.crawl import CrawlTarget, crawl
    from mining.sources import resolve_source

    db = tmp_path / "s.duckdb"
    crawl(db, [CrawlTarget(resolve_source(str(rb.path)))])
    return store.connect(db)


def test_stage_writes_one_row_per_non_merge_commit_and_resumes(base, tmp_path):
    base.branch("side")
    base.commit("side work", {"src/demo/side.py": "s = 1\n"})
    base.checkout("main")
    base.commit("main work", {"src/demo/main.py": "m = 1\n"})
    base.merge("side")
    con = _crawled(base, tmp_path)
    calls: list[tuple[str, int, int]] = []
    done = structure.structure_stage(con, progress=lambda *a: calls.append(a))
    n_non_merge = con.execute("SELECT count(*) FROM commits WHERE NOT is_merge").fetchone()[0]
    assert sum(done.values()) == n_non_merge == 3
    assert con.execute("SELECT count(*) FROM commit_structure").fetchone()[0] == n_non_merge
    assert calls and calls[-1][1] == calls[-1][2]
    assert sum(structure.structure_stage(con).values()) == 0  # resumable: nothing left to do


def test_a_repository_done_in_one_batch_gets_a_true_rate(base, tmp_path, capsys):
    """The clock starts before the first batch: a repository smaller than a batch used to be
    first heard of when it was done, and printed "(0/s)"."""
    from mining.runner import ProgressLines

    con = _crawled(base, tmp_path)
    lines = ProgressLines(False, every=3600)
    structure.structure_stage(con, progress=lines.count)
    err = capsys.readouterr().err
    assert re.search(r"1/1 commits \([\d,]+/s\)", err) and "(0/s)" not in err


def test_cli_fills_the_table_and_query_joins_it(base, tmp_path):
    from typer.testing import CliRunner

    from mining.cli import app

    base.commit("new package", {"src/demo/net/a.py": "a = 1\n", "src/demo/net/b.py": "b = 1\n"})
    con = _crawled(base, tmp_path)
    con.close()
    db = str(tmp_path / "s.duckdb")
    runner = CliRunner()
    done = runner.invoke(app, ["structure", "--db", db])
    assert done.exit_code == 0 and "found events of 2 commits" in done.stdout
    sql = (
        "SELECT f.sha, s.module_added FROM commit_facts f JOIN commit_structure s "
        "USING (repo, sha) WHERE s.module_added"
    )
    out = runner.invoke(app, ["query", "--db", db, "--format", "csv", sql])
    lines = out.stdout.strip().splitlines()
    assert out.exit_code == 0 and lines[0] == "sha,module_added"
    assert f"{base.head()},True" in lines  # the root commit creates its folders too
    bad = runner.invoke(app, ["structure", "--db", db, "--repo", "nope/nope"])
    assert bad.exit_code != 0 and "nope/nope" in bad.stderr and "Traceback" not in bad.stderr


def test_stage_names_a_missing_repository(tmp_path, base):
    con = _crawled(base, tmp_path)
    with pytest.raises(StageError, match="nope/nope"):
        structure.structure_stage(con, ["nope/nope"])


def test_compute_rejects_a_non_hex_commit_id(base):
    with pytest.raises(SourceError, match="not a commit id"):
        structure.compute_structure(base.git_dir, ["HEAD~1; rm"])


# --- validation -------------------------------------------------------------------------------


def test_precision_recall_counts_per_band():
    import pandas as pd

    from mining import structure_eval

    rows = []
    for i in range(10):  # 4 architectural commits of 500 lines, 6 features of 5 lines
        arch = i < 4
        ev = {e: False for e in structure.EVENTS}
        ev["module_added"] = i < 2 or i == 9  # 2 hits, 1 false alarm
        rows.append(
            {
                "sha": str(i),
                "layer": "architectural" if arch else "feature",
                "changed_lines": 500 if arch else 5,
                **ev,
            }
        )
    table = structure_eval.precision_recall(pd.DataFrame(rows)).set_index(["event", "band"])
    got = table.loc[("module_added", "all")]
    assert (got["flagged"], got["hits"]) == (3, 2)
    assert got["precision"] == pytest.approx(2 / 3) and got["recall"] == pytest.approx(0.5)
    small = table.loc[("module_added", "<10")]
    assert small["precision"] == 0 and small["architectural"] == 0
    assert table.loc[("code_moved", "all"), "flagged"] == 0
    assert got["precision_w"] == pytest.approx(2 / 3)  # no weights: the same as unweighted
    # weights (1/pi) move the shares to the population's: the false alarm stands for 4 commits
    weighted = pd.DataFrame(rows).assign(weight=[1.0] * 9 + [4.0])
    w = structure_eval.precision_recall(weighted).set_index(["event", "band"])
    wgot = w.loc[("module_added", "all")]
    assert wgot["precision"] == pytest.approx(2 / 3) and wgot["precision_w"] == pytest.approx(2 / 6)
    assert wgot["recall_w"] == pytest.approx(0.5)
    assert wgot["lift_w"] == pytest.approx((2 / 6) / (4 / 13))
    assert list(structure_eval.size_band(pd.Series([0, 9, 10, 99, 100, 1000]))) == [
        "<10",
        "<10",
        "10-99",
        "10-99",
        "100-999",
        ">=1000",
    ]


def test_a_file_above_the_parse_limit_is_not_read_for_the_interface(base, monkeypatch):
    big = PY_CORE + "".join(f"\n\ndef f{i}(x):\n    return x\n" for i in range(10))
    sha = base.commit("many defs", {"src/demo/core.py": big})
    assert _events(base, sha)["public_interface"]
    limits = dict(structure.definitions()["public_interface"], max_parse_bytes=len(PY_CORE))
    monkeypatch.setitem(structure.definitions(), "public_interface", limits)
    assert not _events(base, sha)["public_interface"]


def test_analysis_population_follows_the_plan_groups_and_era(repo_builder, tmp_path):
    from analysis import structure_events

    rb = repo_builder()
    early = rb.commit("human before AI", {"a/x.py": "x = 1\n", "a/y.py": "y = 1\n"})
    ai = rb.commit(
        "ai work",
        {"b/x.py": "x = 1\n", "b/y.py": "y = 1\n"},
        trailers=[("Co-authored-by", "Claude <noreply@anthropic.com>")],
    )
    late = rb.commit("human after AI", {"c/x.py": "x = 1\n"})
    con = _crawled(rb, tmp_path)
    structure.structure_stage(con)
    same = structure_events.event_commits(con)
    assert dict(zip(same["sha"], same["group"], strict=True)) == {ai: "ai", late: "human"}
    assert bool(same.set_index("sha").loc[ai, "module_added"])
    whole = structure_events.event_commits(con, era="whole")
    assert set(whole["sha"]) == {early, ai, late}
    assert whole.set_index("sha").loc[early, "any_but_interface"]
    con.execute("UPDATE commit_authors SET scripted = true WHERE sha = ?", [late])
    kept = structure_events.event_commits(con, drop_scripted=True)
    assert set(kept["sha"]) == {ai}


def test_sbt_meta_build_and_central_package_versions_are_not_manifests():
    """project/*.sbt declare the build's own plugins; Directory.Packages.props only versions
    (each project still names its packages in its *.csproj, which is read)."""
    d = structure.definitions()
    assert structure._manifest_for("project/plugins.sbt", d) is None
    assert structure._manifest_for("sub/project/plugins.sbt", d) is None
    assert structure._manifest_for("Directory.Packages.props", d) is None
    assert structure._manifest_for("sub/build.sbt", d)["format"] == "sbt"


def test_a_dependency_added_to_pubspec_is_an_event_but_a_dev_dependency_is_not(base):
    pubspec = "name: app\ndependencies:\n  http: ^1.0.0\ndev_dependencies:\n  test: ^1.0.0\n"
    base.commit("dart package", {"pubspec.yaml": pubspec})
    dev = base.commit(
        "dev dep", {"pubspec.yaml": pubspec.replace("  test:", "  lints: ^3.0.0\n  test:")}
    )
    _only(_events(base, dev))
    runtime = base.commit(
        "runtime dep",
        {
            "pubspec.yaml": pubspec.replace("  test:", "  lints: ^3.0.0\n  test:").replace(
                "  http: ^1.0.0\n", "  http: ^1.0.0\n  collection: ^1.18.0\n"
            )
        },
    )
    assert _events(base, runtime)["dependency_added"]


def test_requirements_folder_files_are_manifests_and_dev_ones_are_not_runtime():
    d = structure.definitions()
    base = structure._manifest_for("requirements/base.txt", d)
    assert base is not None and base["format"] == "requirements"
    assert structure.runtime_dependencies("requirements/base.txt", "flask==3\n# c\n", base) == {
        "flask"
    }
    assert structure.runtime_dependencies("requirements/dev.txt", "pytest\n", base) == set()
    assert structure._manifest_for("docs/requirements.md", d) is None


# --- determinism ---------------------------------------------------------------------------------


def test_the_interface_gate_reads_each_changed_line_alone():
    """The gate's patterns cross line breaks (`\\s`, `[^=]`): on the changed lines joined in a
    set's order, `    x: int` then `,` matched and the other order did not, so the hash seed
    decided whether a file was parsed. Each changed line alone decides now, in either order."""
    versions = {"a": b"    x: int\n", "b": b",\n"}

    class Blobs:  # BlobReader's `read`, for the two versions of one file
        def read(self, oid: str) -> bytes:
            return versions[oid]

    gate = signature_gate("python", binary=True)
    assert gate is not None and gate.search(b"    x: int\n,") is not None
    for old, new in (("a", "b"), ("b", "a")):
        change = structure.Change("M", "src/m.py", None, old, new)
        assert not structure._might_touch_signature(change, "python", Blobs())


def test_a_commit_keeps_its_renames_whatever_batch_it_is_read_in(repo_builder, tmp_path):
    """In a partial clone, git stops where rename detection needs a missing blob. Only that
    commit is read without renames; the one before it, printed whole but not yet parsed when
    git stopped, keeps its rename (the whole batch used to lose them)."""
    rb = repo_builder()
    s1 = rb.commit("first", {"a.txt": "one\ntwo\nthree\nfour\n", "b.txt": "red\ngreen\nblue\n"})
    ok = rb.commit("rename a", {"a.txt": None, "c.txt": "one\ntwo\nthree\n4\n"})
    bad = rb.commit("rename b", {"b.txt": None, "d.txt": "red\ngreen\nblack\n"})
    bare = rb.bare_clone(tmp_path / "mirror.git", empty_config=True)
    rb.drop_objects(bare, {rb.git("rev-parse", f"{s1}:b.txt")})  # `bad`'s renames need it

    def statuses(shas: list[str]) -> dict[str, list[str]]:
        out = structure.iter_commit_changes(bare, shas)
        return {sha: sorted(c.status for c in changes) for sha, _, changes in out}

    both = statuses([ok, bad])
    assert both == {ok: ["R"], bad: ["A", "D"]}
    assert statuses([ok]) == {ok: ["R"]} and statuses([bad]) == {bad: ["A", "D"]}


def test_changed_lines_leave_out_only_the_commit_a_partial_clone_cannot_count(
    repo_builder, tmp_path
):
    """The size bands of the structure validation: git stops at the commit whose numstat needs
    a missing blob; that commit is left out (its band unknown, never 0) and the ones after it
    are still counted from the same stream."""
    from mining import structure_eval

    rb = repo_builder()
    s1 = rb.commit("first", {"a.txt": "one\ntwo\nthree\n"})
    s2 = rb.commit("second", {"a.txt": "one\n2\nthree\nfour\n"})
    s3 = rb.commit("third", {"b.txt": "x\ny\n"})
    s4 = rb.commit("fourth", {"b.txt": "x\n"})
    bare = rb.bare_clone(tmp_path / "mirror.git", empty_config=True)
    assert structure_eval.changed_lines(bare, [s4, s3, s2, s1]) == {s4: 1, s3: 2, s2: 3, s1: 3}
    rb.drop_objects(bare, {rb.git("rev-parse", f"{s1}:a.txt")})  # s2's numstat needs it
    assert structure_eval.changed_lines(bare, [s4, s3, s2, s1]) == {s4: 1, s3: 2}
