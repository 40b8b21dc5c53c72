"""`strata release` and `strata load`: the content-free, shippable form of the dataset.

A release is one Parquet file per table, a `manifest.json` (rows, bytes and sha256 per file) and
`DATASET.md`. Only allow-listed columns leave the database: no message text, no identities, no
code, no local paths, and person ids are renumbered so that they cannot be tested against a
guessed email. The release is written to a sibling temp folder, scanned by mining.privacy, and
only then swapped in, so a failed scan leaves the previous release untouched. Only a previous
release (nothing but its manifest's files) is replaced without --force; a folder holding the
database is never replaced, and `load` replaces only a database loaded from a release.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import duckdb

from mining import __version__, store
from mining.errors import DatabaseError, OutputError, StrataError
from mining.vocabulary import EVALUATION_CANDIDATES

FORMAT = "ai-strata-release/1"

#: table -> SELECT list (columns leave the database only if listed here). Person ids come from
#: the `_person` map built in `_person_map`; attribution evidence is replaced by '' (it quotes
#: trailer values); `source` is kept only when it is a public URL ('(local)' otherwise).
TABLES: dict[str, str] = {
    "repos": (
        "repo, CASE WHEN regexp_matches(source, '^https://') THEN source ELSE '(local)' END AS source, rev, "
        "head_sha, crawled_at, n_commits, n_file_changes, n_missing_blobs, tags, language, role, "
        "strata_version"
    ),
    "commits": (
        "c.repo, c.sha, c.parents, c.is_merge, pa.pid AS author_id, pc.pid AS committer_id, "
        "c.authored_at, c.author_tz_offset, c.committed_at, c.committer_tz_offset, "
        "c.authored_epoch, c.committed_epoch, c.files_changed, c.lines_added, c.lines_deleted, "
        "c.n_binary, c.n_missing_blobs, c.topo_index, c.on_first_parent, c.integration_mode, "
        "c.pr_number"
    ),
    "file_changes": (
        "t.path, t.old_path, t.change_type, t.similarity, t.lines_added, t.lines_deleted, "
        "t.is_binary, t.blob_missing, t.old_mode, t.new_mode"
    ),
    "attributions": "t.tool, t.channel, t.field, '' AS evidence",
    "commit_authors": "t.author_kind, t.automation, t.automation_via, t.scripted, t.template_id",
    # a template's id and counts, never its text (`template` is masked commit-subject text)
    "commit_templates": (
        "repo, template_id, n_commits, n_human, n_authors, first_at, last_at, kind, rule"
    ),
    "adoption_markers": "repo, path, tool, added_sha, added_at, removed_at",
    "commit_features": "t.* EXCLUDE (repo, sha)",
    "commit_layers": "t.* EXCLUDE (repo, sha)",
    "commit_structure": "t.* EXCLUDE (repo, sha)",
}
#: tables keyed by commit: their `sha` is stored as `commit_idx`, the commit's position in
#: commits.parquet (ordered by repo, sha), and restored on load. Saves ~20 bytes per row and
#: table (a sha does not compress), which keeps the corpus release under 50 MB.
KEYED = (
    "file_changes",
    "attributions",
    "commit_authors",
    "commit_features",
    "commit_layers",
    "commit_structure",
)
ORDER = {
    "repos": "repo",
    "commits": "c.repo, c.sha",
    "file_changes": "t.repo, k.commit_idx, t.path",
    "attributions": "t.repo, k.commit_idx, t.tool, t.channel, t.field",
    "commit_authors": "t.repo, k.commit_idx",
    "commit_templates": "repo, template_id",
    "adoption_markers": "repo, path, tool, added_sha",
    "commit_features": "t.repo, k.commit_idx",
    "commit_layers": "t.repo, k.commit_idx",
    "commit_structure": "t.repo, k.commit_idx",
}
_COMMIT_IDX = (
    "CREATE OR REPLACE TEMP TABLE _cidx AS SELECT repo, sha, "
    "(row_number() OVER (ORDER BY repo, sha) - 1)::INTEGER AS commit_idx FROM commits"
)


def _person_map(con: duckdb.DuckDBPyConnection) -> None:
    """Renumber author/committer ids densely (p000001 ...) in hash order: the same grouping of
    commits by person, but nothing to hash a guessed email against."""
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _person AS "
        "SELECT id, printf('p%06d', row_number() OVER (ORDER BY id)) AS pid FROM "
        "(SELECT author_id AS id FROM commits UNION SELECT committer_id FROM commits)"
    )


def _select(table: str) -> str:
    cols = TABLES[table]
    if table == "commits":
        src = "commits c JOIN _person pa ON pa.id = c.author_id JOIN _person pc ON pc.id = c.committer_id"
    elif table in KEYED:
        cols = f"t.repo, k.commit_idx, {cols}"
        src = f'"{table}" t JOIN _cidx k ON k.repo = t.repo AND k.sha = t.sha'
    else:
        src = f'"{table}"'
    return f"SELECT {cols} FROM {src} ORDER BY {ORDER[table]}"  # noqa: S608 - fixed names


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def export_tables(con: duckdb.DuckDBPyConnection, folder: Path) -> dict[str, dict[str, Any]]:
    """Write every allow-listed table as zstd Parquet, rows in a fixed order (reproducible bytes)."""
    _person_map(con)
    con.execute(_COMMIT_IDX)
    tables: dict[str, dict[str, Any]] = {}
    for table in TABLES:
        path = folder / f"{table}.parquet"
        lit = str(path).replace("'", "''")
        con.execute(
            f"COPY ({_select(table)}) TO '{lit}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 262144)"
        )
        rows = store.one_row(con, f"SELECT count(*) FROM read_parquet('{lit}')")[0]  # noqa: S608
        tables[table] = {"file": path.name, "rows": int(rows)}
    return tables


def write_release(
    db: str | Path,
    out: str | Path,
    *,
    evaluation: str | Path | None = None,
    scan: bool = True,
    force: bool = False,
) -> dict[str, Any]:
    """Write the release of `db` to `out` (replacing it only if the privacy scan passes).

    Raises OutputError if `out` holds the database, or holds anything but a previous release
    and `force` is False; StageError if nothing was built; PrivacyError (nothing written) if the
    scan finds message text, names, emails, code or local paths in what would be released.
    """
    from mining import dataset_card, privacy

    out = Path(out)
    check_release_target(out, Path(db), force=force)
    con = store.connect(db, read_only=True)
    # one thread: the Parquet export's buffers are per thread, and with two the release alone
    # peaked at 1.08 GiB on the corpus (0.89 GiB with one); the files are byte-identical
    con.execute("SET threads = 1")
    try:
        store.require_rows(con, "commits", "build")
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
        except OSError as exc:
            raise OutputError(
                f"--out {out}: cannot write beside it: {(exc.strerror or str(exc)).lower()}"
            ) from exc
        try:
            tables = export_tables(con, tmp)
            card = dataset_card.render(con, tmp, tables, evaluation=find_evaluation(evaluation))
            (tmp / "DATASET.md").write_text(card, encoding="utf-8")
            if scan:
                privacy.check_release(tmp, con)
            manifest = _manifest(con, tmp, tables)
            (tmp / "manifest.json").write_text(
                json.dumps(manifest, indent=2, sort_keys=True) + "\n"
            )
            tmp.chmod(0o755)
            swap_in(tmp, out)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    finally:
        con.close()
    return manifest


def check_release_target(out: Path, db: Path, *, force: bool) -> None:
    """Refuse an --out that holds (or is) the database, always, and one that holds anything
    but a previous release unless `force`: a release replaces only what a release wrote."""
    o, d = out.resolve(), db.resolve()
    if o == d or o in d.parents:
        raise OutputError(
            f"--out {out}: holds the database {db}; the release folder would replace it (choose another --out)"
        )
    if not out.exists() and not out.is_symlink():
        return
    if force:
        return
    if not out.is_dir() or out.is_symlink():
        raise OutputError(
            f"--out {out}: exists and is not a release folder; remove it or pass --force"
        )
    if not is_release_folder(out) and any(out.iterdir()):
        raise OutputError(
            f"--out {out}: folder holds files that are not a previous release; choose an empty or new "
            "folder, or pass --force to replace it"
        )


def is_release_folder(folder: Path) -> bool:
    """A folder a release wrote: a release manifest, and no file the manifest does not list."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text())
        listed = set(manifest["files"]) | {"manifest.json"}
    except (OSError, ValueError, KeyError, TypeError):
        return False
    return manifest.get("format") == FORMAT and all(p.name in listed for p in folder.iterdir())


def swap_in(new: Path, dest: Path) -> None:
    """Put the finished folder `new` at `dest`: two renames on one file system; the old folder
    moves to a fresh hidden name (never a name a user file could hold) and is removed last."""
    if not dest.exists() and not dest.is_symlink():
        os.replace(new, dest)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dest.name}-old-", dir=dest.parent))
    # a folder moves onto the empty fresh folder; a file or link into it
    moved = old if dest.is_dir() and not dest.is_symlink() else old / dest.name
    os.replace(dest, moved)
    try:
        os.replace(new, dest)
    except BaseException:
        os.replace(moved, dest)  # put the previous one back
        raise
    shutil.rmtree(old, ignore_errors=True)


def find_evaluation(path: str | Path | None) -> Path | None:
    """The classifier's evaluation report: the given file, else the first that exists."""
    if path is not None:
        return Path(path)
    return next((p for p in EVALUATION_CANDIDATES if p.is_file()), None)


def _manifest(
    con: duckdb.DuckDBPyConnection, folder: Path, tables: dict[str, dict[str, Any]]
) -> dict[str, Any]:
    files = {}
    for p in sorted(folder.iterdir()):
        if p.name != "manifest.json":
            files[p.name] = {"bytes": p.stat().st_size, "sha256": sha256_file(p)}
    for t in tables.values():
        t.update(files[t["file"]])
    repos = con.execute("SELECT repo, rev, head_sha FROM repos ORDER BY repo").fetchall()
    return {
        "format": FORMAT,
        "strata_version": __version__,
        "schema_version": store.SCHEMA_VERSION,
        "repos": {r: {"rev": rev, "head_sha": head} for r, rev, head in repos},
        "tables": tables,
        "files": files,
    }


# --- load -------------------------------------------------------------------------------------


def read_manifest(release: str | Path) -> dict[str, Any]:
    """The release's manifest; DatabaseError naming the folder if absent or not a release."""
    path = Path(release) / "manifest.json"
    if not path.is_file():
        raise DatabaseError(f"{release}: not a release (no manifest.json); run `strata release`")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise DatabaseError(f"{path}: not valid JSON ({exc})") from exc
    if manifest.get("format") != FORMAT:
        raise DatabaseError(f"{path}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    if manifest.get("schema_version", store.SCHEMA_VERSION) != store.SCHEMA_VERSION:
        raise DatabaseError(
            f"{path}: release of schema version {manifest['schema_version']}, this ai-strata "
            f"expects {store.SCHEMA_VERSION}; use the ai-strata version that wrote it"
        )
    return manifest


def verify_release(release: str | Path) -> dict[str, Any]:
    """Check every listed file's size and sha256 against the manifest before anything loads."""
    release = Path(release)
    manifest = read_manifest(release)
    for name, meta in manifest["files"].items():
        p = release / name
        if not p.is_file():
            raise DatabaseError(f"{p}: listed in the manifest but missing")
        if p.stat().st_size != meta["bytes"] or sha256_file(p) != meta["sha256"]:
            raise DatabaseError(f"{p}: sha256 does not match manifest.json (corrupt or edited)")
    return manifest


def load_release(release: str | Path, db: str | Path, *, force: bool = False) -> dict[str, int]:
    """Build `db` from the release (replacing it only if it was itself loaded from a release, or
    `force`): schema first, so every view works, then each table's Parquet. Returns rows loaded
    per table; the rows must match the manifest."""
    manifest = verify_release(release)
    db = Path(db)
    if db.exists() and not force and not loaded_from_release(db):
        raise OutputError(
            f"--db {db}: exists and was not loaded from a release (a crawl or build would be lost); "
            "choose another --db or pass --force to replace it"
        )
    try:
        db.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputError(
            f"--db {db}: cannot create its folder: {(exc.strerror or str(exc)).lower()}"
        ) from exc
    tmp = db.with_name(f".{db.name}.loading")
    for p in (tmp, tmp.with_name(tmp.name + ".wal")):
        p.unlink(missing_ok=True)
    counts: dict[str, int] = {}
    try:
        con = store.connect(tmp)
    except DatabaseError as exc:
        raise OutputError(f"--db {db}: cannot write beside it ({exc})") from exc
    try:
        with store.transaction(con):
            for table in sorted(manifest["tables"], key=lambda t: t in KEYED):  # commits first
                meta = manifest["tables"][table]
                if not store.table_columns(con, table):
                    raise DatabaseError(
                        f"{release}: table {table} is not in this ai-strata's schema"
                    )
                path = str(Path(release) / meta["file"])
                if table in KEYED:
                    con.execute(_COMMIT_IDX)
                    sql = (
                        f'INSERT INTO "{table}" BY NAME SELECT p.* EXCLUDE (commit_idx), k.sha '  # noqa: S608
                        "FROM read_parquet(?) p JOIN _cidx k ON k.commit_idx = p.commit_idx"
                    )
                else:
                    sql = f'INSERT INTO "{table}" BY NAME SELECT * FROM read_parquet(?)'  # noqa: S608
                con.execute(sql, [path])
                counts[table] = store.one_row(con, f'SELECT count(*) FROM "{table}"')[0]  # noqa: S608
                if counts[table] != meta["rows"]:
                    raise DatabaseError(
                        f"{path}: {counts[table]} rows loaded, manifest says {meta['rows']}"
                    )
            con.execute(
                "INSERT OR REPLACE INTO strata_meta VALUES ('loaded_from_release', ?)",
                [
                    json.dumps(
                        {"release": str(release), "strata_version": manifest["strata_version"]}
                    )
                ],
            )
        con.execute("CHECKPOINT")
    except duckdb.Error as exc:
        con.close()
        tmp.unlink(missing_ok=True)
        raise DatabaseError(f"{release}: cannot load: {str(exc).splitlines()[0]}") from exc
    except StrataError:
        con.close()
        tmp.unlink(missing_ok=True)
        raise
    con.close()
    db.with_name(db.name + ".wal").unlink(missing_ok=True)
    os.replace(tmp, db)
    return counts


def loaded_from_release(db: Path) -> bool:
    """Whether `db` is a database `load` wrote (so reloading it loses nothing of the user's)."""
    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error:
        return False
    try:
        return (
            store.one_row(
                con, "SELECT count(*) FROM strata_meta WHERE key = 'loaded_from_release'"
            )[0]
            > 0
        )
    except duckdb.Error:
        return False
    finally:
        con.close()
