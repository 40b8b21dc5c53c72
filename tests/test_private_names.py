"""No module of the miner or the study reaches into another module's private names.

Why a test: import-linter checks which modules import which, not which names they use, so the
contract "stages call each other through public functions" (issue 14) is kept here, by reading
the source: `from mining.x import _y`, `x._y` (or `mining.x._y`) and `getattr(x, "_y")` on an
imported project module all fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mining", "analysis")
SCANNED = (*PACKAGES, "benchmarks")  # benchmarks call the stages too


def _modules() -> list[Path]:
    return sorted(p for pkg in SCANNED for p in (ROOT / pkg).rglob("*.py"))


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_reaches(path: Path, root: Path = ROOT) -> list[str]:
    """`module:line name` for each private name of another project module used in `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    own = ".".join(path.relative_to(root).with_suffix("").parts)
    aliases: dict[str, str] = {}  # local name -> project module it stands for
    found: list[str] = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and node.module
            and node.module.split(".")[0] in PACKAGES
        ):
            for a in node.names:
                target = f"{node.module}.{a.name}"
                if _private(a.name) and node.module != own:
                    found.append(f"{own}:{node.lineno} {target}")
                aliases[a.asname or a.name] = target
        elif isinstance(node, ast.Import):
            for a in node.names:
                if a.name.split(".")[0] in PACKAGES:
                    aliases[a.asname or a.name.split(".")[0]] = (
                        a.name if a.asname else a.name.split(".")[0]
                    )

    def project_name(node: ast.expr) -> str | None:
        """The project name an expression stands for: `a`, `mining.a` (after `import mining.a`)."""
        if isinstance(node, ast.Name):
            return aliases.get(node.id)
        if isinstance(node, ast.Attribute) and (base := project_name(node.value)):
            return f"{base}.{node.attr}"
        return None

    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            owner, name = project_name(node.value), node.attr
        elif (  # getattr(a, "_hidden"), hasattr/setattr/delattr alike
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
        ):
            owner, name = project_name(node.args[0]), node.args[1].value
        else:
            continue
        if owner and owner != own and _private(name):
            found.append(f"{own}:{node.lineno} {owner}.{name}")
    return sorted(found, key=lambda r: int(r.split(":")[1].split()[0]))


def test_no_module_uses_another_modules_private_names() -> None:
    reaches = [r for p in _modules() for r in private_reaches(p)]
    assert reaches == []


def test_the_check_sees_both_kinds_of_reach(tmp_path: Path) -> None:
    pkg = tmp_path / "mining"
    pkg.mkdir()
    (pkg / "a.py").write_text("def _hidden():\n    return 1\n\n\ny = _hidden()\n")
    (pkg / "b.py").write_text(
        "from mining import a\nfrom mining.a import _hidden\n\nx = a._hidden()\n"
    )
    assert private_reaches(pkg / "b.py", tmp_path) == [
        "mining.b:2 mining.a._hidden",
        "mining.b:4 mining.a._hidden",
    ]
    # a dotted module path and a name handed to getattr are reaches too
    (pkg / "c.py").write_text(
        "import mining.a\n\nx = mining.a._hidden()\ny = getattr(mining.a, '_hidden')\n"
    )
    assert private_reaches(pkg / "c.py", tmp_path) == [
        "mining.c:3 mining.a._hidden",
        "mining.c:4 mining.a._hidden",
    ]
    assert private_reaches(pkg / "a.py", tmp_path) == []
