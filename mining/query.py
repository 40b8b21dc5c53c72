"""`strata query`: run SQL on a read-only connection and format the result for people or scripts.

Read-only is enforced by DuckDB itself (the file is opened read_only), so a query cannot change
the dataset however it is written. A read-only file still lets SQL write elsewhere (COPY TO,
EXPORT DATABASE, INSTALL), so only SELECT/EXPLAIN statements run, with file and network access
switched off and the configuration locked.
"""

from __future__ import annotations

import csv
import io
import json
import math
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb

from mining import store
from mining.errors import QueryError

FORMATS = ("table", "csv", "json")
_ALLOWED = frozenset({"SELECT", "EXPLAIN"})
_LOCKDOWN = (
    "SET enable_external_access = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET lock_configuration = true",
)


def run_query(db: str | Path, sql: str) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Execute `sql` read-only; QueryError with DuckDB's message on failure or write attempts."""
    con = store.connect(db, read_only=True)
    try:
        for setting in _LOCKDOWN:
            con.execute(setting)
        for stmt in con.extract_statements(sql):
            kind = stmt.type.name
            if kind not in _ALLOWED:
                raise QueryError(f"strata query is read-only: {kind} statements are not allowed (SELECT only)")
        cur = con.execute(sql)
        if cur.description is None:
            return [], []
        cols = [d[0] for d in cur.description]
        return cols, cur.fetchall()
    except duckdb.Error as exc:
        msg = str(exc).strip().splitlines()[0]
        low = msg.lower()
        if "read-only" in low or "read only" in low or "disabled by configuration" in low:
            raise QueryError(f"strata query is read-only: {msg}") from exc
        raise QueryError(msg) from exc
    finally:
        con.close()


def _jsonable(v: Any) -> Any:
    if isinstance(v, datetime | date):
        return v.isoformat()
    if isinstance(v, Decimal):
        return float(v)
    if isinstance(v, float) and (math.isnan(v) or math.isinf(v)):
        return None
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    return v


def format_rows(cols: list[str], rows: list[tuple[Any, ...]], fmt: str) -> str:
    """Render as csv (header + rows), json (list of objects) or an aligned text table."""
    if fmt == "json":
        return json.dumps([dict(zip(cols, map(_jsonable, r), strict=True)) for r in rows], indent=2, ensure_ascii=False)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(cols)
        for r in rows:
            w.writerow(["" if v is None else (json.dumps(_jsonable(v)) if isinstance(v, list | dict) else _jsonable(v)) for v in r])
        return buf.getvalue().rstrip("\n")
    if fmt != "table":
        raise QueryError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    cells = [[("" if v is None else str(_jsonable(v))) for v in r] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([line, sep, *body, f"({len(rows)} rows)"])
