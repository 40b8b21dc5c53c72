"""The DuckDB store: connect, apply the schema, and write a stage's rows atomically.

Stages never issue DDL of their own: the schema lives in `mining/schema/*.sql` (package data),
applied in file order on every writable connect. Writes replace a repository's rows inside one
transaction, so an interrupted stage leaves the previous state intact.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from mining import __version__
from mining.errors import DatabaseError
from mining.vocabulary import CHANNEL_DEFS, DEFAULT_DB

#: bump when a table's columns change; `connect` refuses older files with a clear message.
SCHEMA_VERSION = 1


def schema_sql() -> list[tuple[str, str]]:
    """Return (file name, SQL) for every schema file, in application order."""
    folder = resources.files("mining") / "schema"
    files = sorted((p for p in folder.iterdir() if p.name.endswith(".sql")), key=lambda p: p.name)
    return [(p.name, p.read_text(encoding="utf-8")) for p in files]


def connect(path: str | Path = DEFAULT_DB, *, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """Open the database; a writable connection creates it and applies the schema.

    Raises DatabaseError naming the file when it is locked by another process, missing (read-only),
    or written by an incompatible schema version.
    """
    path = Path(path)
    if read_only and str(path) != ":memory:" and not path.exists():
        raise DatabaseError(f"{path}: no such database (run `strata crawl` or `strata load` first)")
    if not read_only and str(path) != ":memory:":
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise DatabaseError(
                f"{path}: cannot create its folder: {(exc.strerror or str(exc)).lower()}"
            ) from exc
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        msg = str(exc)
        if "lock" in msg.lower():
            raise DatabaseError(
                f"{path}: database is in use by another process ({_first_line(msg)})"
            ) from exc
        raise DatabaseError(f"{path}: cannot open database: {_first_line(msg)}") from exc
    except duckdb.Error as exc:
        raise DatabaseError(
            f"{path}: not a DuckDB database or unreadable: {_first_line(str(exc))}"
        ) from exc
    con.execute("SET TimeZone = 'UTC'")
    if read_only:
        try:
            check_version(con, path)
        except BaseException:
            con.close()
            raise
    else:
        try:
            apply_schema(con, path)
        except BaseException:
            con.close()  # release the file lock: the caller never sees this connection
            raise
    return con


def apply_schema(con: duckdb.DuckDBPyConnection, path: str | Path = ":memory:") -> None:
    """Create missing tables and (re)create views; refuse a database from another schema version.

    All or nothing: a database the schema cannot be applied to (older layout, foreign tables) is
    left exactly as it was.
    """
    check_version(con, path)
    try:
        with transaction(con):
            con.execute(
                "CREATE TABLE IF NOT EXISTS strata_meta (key VARCHAR PRIMARY KEY, value VARCHAR)"
            )
            for _name, sql in schema_sql():
                con.execute(sql)
            _fill_lookups(con)
            con.execute(
                "INSERT OR REPLACE INTO strata_meta VALUES ('schema_version', ?)",
                [str(SCHEMA_VERSION)],
            )
    except duckdb.Error as exc:
        raise DatabaseError(
            f"{path}: cannot apply the ai-strata schema: {_first_line(str(exc))}; {REBUILD}"
        ) from exc


def _fill_lookups(con: duckdb.DuckDBPyConnection) -> None:
    """Refill the lookup tables from their definitions in the package (mining/channels.toml), so
    that the SQL views and the Python stages read the same vocabulary."""
    con.execute("DELETE FROM attribution_channels")
    con.executemany(
        "INSERT INTO attribution_channels VALUES (?, ?, ?, ?, ?)",
        [[c.name, i, c.ai, c.direct, c.description] for i, c in enumerate(CHANNEL_DEFS, start=1)],
    )


REBUILD = "rebuild it (`strata crawl` into a new --db, or `strata load`)"


def check_version(con: duckdb.DuckDBPyConnection, path: str | Path = ":memory:") -> None:
    """Refuse a database from another schema version or another tool, for readers and writers
    alike: a reader of a newer layout would misread it silently (query, release, figures)."""
    tables = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
        ).fetchall()
    }
    if "strata_meta" in tables:
        row = con.execute("SELECT value FROM strata_meta WHERE key = 'schema_version'").fetchone()
        if row is not None and row[0] != str(SCHEMA_VERSION):
            raise DatabaseError(
                f"{path}: database has schema version {row[0]}, this ai-strata expects {SCHEMA_VERSION}; {REBUILD}"
            )
    elif tables:
        raise DatabaseError(
            f"{path}: database has tables ({', '.join(sorted(tables)[:3])}, ...) but no ai-strata "
            f"schema version: written by something else or an older ai-strata; {REBUILD}"
        )


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All-or-nothing block: commit on success, roll back on any exception (incl. Ctrl-C)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


def table_columns(con: duckdb.DuckDBPyConnection, table: str) -> list[str]:
    """Column names of `table` in schema order (used to align frames before insert)."""
    rows = con.execute(
        "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        [table],
    ).fetchall()
    return [r[0] for r in rows]


def tables_with(con: duckdb.DuckDBPyConnection, *columns: str) -> list[str]:
    """Base tables that have every one of `columns` (e.g. all tables keyed by repo and sha)."""
    rows = con.execute(
        "SELECT table_name FROM information_schema.columns WHERE column_name IN (SELECT unnest(?)) "
        "AND table_name IN (SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE') "
        "GROUP BY table_name HAVING count(DISTINCT column_name) = ? ORDER BY table_name",
        [list(columns), len(columns)],
    ).fetchall()
    return [r[0] for r in rows]


def insert_frame(con: duckdb.DuckDBPyConnection, table: str, frame: Any) -> int:
    """Bulk-insert a pandas DataFrame or Arrow table whose columns are a subset of `table`'s.

    Columns are matched by name, so a stage may leave optional columns out. Returns rows inserted.
    """
    n = len(frame)
    if n == 0:
        return 0
    cols = list(frame.column_names) if hasattr(frame, "column_names") else list(frame.columns)
    known = set(table_columns(con, table))
    unknown = [c for c in cols if c not in known]
    if unknown:
        raise DatabaseError(f"table {table} has no columns {unknown}")
    con.register("_strata_frame", frame)
    try:
        col_list = ", ".join(f'"{c}"' for c in cols)
        con.execute(f'INSERT INTO "{table}" ({col_list}) SELECT {col_list} FROM _strata_frame')  # noqa: S608 - names checked against the schema
    finally:
        con.unregister("_strata_frame")
    return n


def replace_repo_rows(
    con: duckdb.DuckDBPyConnection,
    table: str,
    repo: str,
    frame: Any,
    shas: Sequence[str] | None = None,
) -> int:
    """Delete `repo`'s rows (only those `shas` if given) from `table`, then insert `frame`.

    Call inside `transaction()` so the delete and insert land together.
    """
    if not table_columns(con, table):
        raise DatabaseError(f"no table {table} in the schema")
    if shas is None:
        con.execute(f'DELETE FROM "{table}" WHERE repo = ?', [repo])  # noqa: S608
    elif len(shas):
        con.register("_strata_shas", _sha_frame(shas))
        try:
            con.execute(
                f'DELETE FROM "{table}" WHERE repo = ? AND sha IN (SELECT sha FROM _strata_shas)',  # noqa: S608
                [repo],
            )
        finally:
            con.unregister("_strata_shas")
    return insert_frame(con, table, frame)


def require_rows(con: duckdb.DuckDBPyConnection, table: str, stage: str) -> None:
    """Raise StageError if `table` is empty: the stage that fills it has not run."""
    from mining.errors import StageError

    n = one_row(con, f'SELECT count(*) FROM "{table}"')[0]  # noqa: S608
    if n == 0:
        raise StageError(f"table {table} is empty: run `strata {stage}` first")


def one_row(
    con: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] | None = None
) -> tuple[Any, ...]:
    """The row a query must return (an aggregate, a state row written earlier): a missing one is a
    DatabaseError naming the query, where `fetchone()[0]` would fail on None."""
    row = con.execute(sql, params).fetchone()
    if row is None:
        raise DatabaseError(f"query returned no row: {' '.join(sql.split())[:80]}")
    return row


@contextlib.contextmanager
def run_record(con: duckdb.DuckDBPyConnection, stage: str, args: str = "") -> Iterator[str]:
    """Record a stage run in `runs` (provenance): a 'running' row now; on exit 'finished', or
    'failed' / 'interrupted' with the error's first line, so a failed run never looks done."""
    run_id = uuid.uuid4().hex[:12]
    con.execute(
        "INSERT INTO runs (run_id, stage, started_at, finished_at, strata_version, args, status) "
        "VALUES (?, ?, ?, NULL, ?, ?, 'running')",
        [run_id, stage, datetime.now(UTC), __version__, args],
    )
    try:
        yield run_id
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        mark_run(con, run_id, status, f"{type(exc).__name__}: {_first_line(str(exc))}")
        raise
    mark_run(con, run_id, "finished")


def mark_run(
    con: duckdb.DuckDBPyConnection, run_id: str, status: str, error: str | None = None
) -> None:
    """End a run: the first non-'finished' status sticks (a crawl marks itself 'failed' when one
    repository failed, and the context manager's 'finished' must not overwrite that)."""
    try:
        con.execute(
            "UPDATE runs SET finished_at = coalesce(finished_at, ?), "
            "status = CASE WHEN status IN ('failed', 'interrupted') THEN status ELSE ? END, "
            "error = coalesce(error, ?) WHERE run_id = ?",
            [datetime.now(UTC), status, error, run_id],
        )
    except duckdb.Error:  # the connection is gone (the original error is what matters)
        pass


def crawl_staging(db: str | Path) -> Path:
    """A staging folder private to this run, beside the database (same file system, so the
    rows move in without a copy). Two runs never share one: a crawl removes its own, and the
    folders of killed crawls into the same database (their process is gone) on its next run."""
    import os
    import shutil
    import tempfile

    parent = Path(db).resolve().parent
    parent.mkdir(parents=True, exist_ok=True)
    prefix = f".{Path(db).name}.staging-"
    for old in parent.glob(prefix + "*"):
        pid = old.name[len(prefix) :].split("-", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)):
            shutil.rmtree(old, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-", dir=parent))


def _process_alive(pid: int) -> bool:
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def build_staging(db: str | Path) -> Path:
    """The build's staging folder: kept across runs (a killed build merges what it left), so it
    is named after its database; a build into another database in the same folder has its own."""
    return Path(db).resolve().parent / f".{Path(db).name}.build-staging"


def _sha_frame(shas: Sequence[str]) -> Any:
    import pyarrow as pa

    return pa.table({"sha": pa.array(list(shas), pa.string())})


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def write_repo_batches(
    con: duckdb.DuckDBPyConnection,
    table: str,
    repo: str,
    shas: list[str],
    rows_for: Callable[[list[str]], pd.DataFrame],
    version: tuple[str, str],
    batch: int,
    progress: Callable[[str, int, int], None] | None = None,
    side_table: tuple[str, list[str], tuple[str, str]] | None = None,
) -> int:
    """Compute and write a per-commit stage table in batches, each batch in its own transaction.

    Why: an interrupted stage keeps every finished batch and redoes only the rest (features and
    structure share this resumable loop). `rows_for(shas)` returns one row per commit keyed by
    sha; `version` is the (column, value) that marks how the rows were computed. `side_table`
    (table, columns, version): those columns of each batch go to a second table in the same
    transaction (what one pass over the patches computes for two tables).
    """
    done = 0
    for start in range(0, len(shas), batch):
        part = shas[start : start + batch]
        frame = rows_for(part)  # `_versioned` copies it
        side = None
        if side_table is not None:
            side_name, side_columns, side_version = side_table
            side = _versioned(frame[["sha", *side_columns]], repo, side_version)
            frame = frame.drop(columns=side_columns)
        frame = _versioned(frame, repo, version)
        with transaction(con):
            replace_repo_rows(con, table, repo, frame, shas=part)
            if side is not None:
                replace_repo_rows(con, side_name, repo, side, shas=part)
        done += len(frame)
        if progress is not None:
            progress(repo, start + len(part), len(shas))
    return done


def _versioned(frame: pd.DataFrame, repo: str, version: tuple[str, str]) -> pd.DataFrame:
    """`frame` (sha first) with the table's leading repo and version columns."""
    frame = frame.copy()
    frame.insert(0, "repo", repo)
    frame.insert(2, version[0], version[1])
    return frame
