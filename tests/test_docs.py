"""Docs that fail when stale: every table and column of the DDL is explained in docs/schema.md,
and the README shows the two commands and every strata command."""

from __future__ import annotations

import re
from pathlib import Path

import typer.main

from mining import store
from mining.cli import app

ROOT = Path(__file__).resolve().parent.parent


#: tables whose many columns are explained next to the code that computes them
DOC_FOR = {"commit_features": "classifier.md"}


def test_schema_doc_covers_every_table_and_column():
    docs = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "docs").glob("*.md")}
    con = store.connect(":memory:")
    tables = con.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' AND table_name <> 'strata_meta'"
    ).fetchall()
    missing = []
    for (table,) in tables:
        doc = docs.get(DOC_FOR.get(table, "schema.md"), "")
        if f"`{table}" not in docs["schema.md"]:
            missing.append(table)
            continue
        for col in store.table_columns(con, table):
            if not re.search(rf"\b{re.escape(col)}\b", doc):
                missing.append(f"{table}.{col}")
    assert not missing, f"document these in docs/schema.md: {missing}"


def test_readme_shows_the_two_commands_and_every_command():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make reproduce" in readme and "make test" in readme
    group = typer.main.get_command(app)
    undocumented = [name for name in group.commands if f"strata {name}" not in readme]  # type: ignore[attr-defined]
    assert not undocumented, f"README.md does not mention: {undocumented}"


def test_readme_your_own_repository_uses_real_analyze_options():
    """Every option the README's "Your own repository" section shows exists on `strata analyze`."""
    import re

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Your own repository", 1)[1].split("\n## ", 1)[0]
    group = typer.main.get_command(app)
    command = group.commands["analyze"]  # type: ignore[attr-defined]
    known = {opt for param in command.params for opt in (*param.opts, *param.secondary_opts)}
    lines = [line for line in section.splitlines() if "strata query" not in line]
    shown = set(re.findall(r"(?<![\w-])(--[a-z][a-z-]+)", "\n".join(lines)))
    assert shown and not shown - known, f"README shows options analyze lacks: {shown - known}"
    assert "strata analyze" in section and "--out" in shown
