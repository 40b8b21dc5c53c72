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
import re
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
                raise QueryError(
                    f"strata query is read-only: {kind} statements are not allowed (SELECT only)"
                )
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


def check_format(fmt: str) -> None:
    """Refuse an unknown --format before the query runs."""
    if fmt not in FORMATS:
        raise QueryError(f"--format {fmt!r}: choose from {', '.join(FORMATS)}")


#: C0 and C1 control characters but tab and newline: on a terminal they move the cursor, set the
#: window title or clear the screen; repository text (messages, names, paths) may hold them
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def escape_controls(text: str) -> str:
    """Show control characters as visible escapes (\\x1b) so stored text cannot drive a terminal."""
    return _CONTROL_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text)


def format_rows(
    cols: list[str],
    rows: list[tuple[Any, ...]],
    fmt: str,
    *,
    escape: bool = False,
    footer: bool = True,
) -> str:
    """Render as csv (header + rows), json (list of objects) or an aligned text table.

    `escape` (output to a terminal): control characters in text are shown as escapes; JSON
    escapes them by its own rules. `footer`: the table's "(N rows)" line.
    """
    check_format(fmt)
    if fmt == "json":
        text = json.dumps(
            [dict(zip(cols, map(_jsonable, r), strict=True)) for r in rows],
            indent=2,
            ensure_ascii=False,
        )
        # JSON escapes C0 itself; C1 (e.g. \x9b, a one-byte CSI) it leaves raw unless asked
        return _CONTROL_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) if escape else text
    show = escape_controls if escape else str
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow([show(c) for c in cols])
        for r in rows:
            w.writerow(
                [
                    ""
                    if v is None
                    else show(
                        json.dumps(_jsonable(v))
                        if isinstance(v, list | dict)
                        else str(_jsonable(v))
                    )
                    for v in r
                ]
            )
        return buf.getvalue().rstrip("\n")
    cols = [show(c) for c in cols]
    cells = [[("" if v is None else show(str(_jsonable(v)))) for v in r] for r in rows]
    widths = [max([len(c)] + [len(row[i]) for row in cells]) for i, c in enumerate(cols)]
    line = "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))
    sep = "  ".join("-" * w for w in widths)
    body = ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
    return "\n".join([line, sep, *body, *([f"({len(rows)} rows)"] if footer else [])])
