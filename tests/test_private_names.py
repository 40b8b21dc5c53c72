"""No module of the miner or the study reaches into another module's private names.

Why a test: import-linter checks which modules import which, not which names they use, so the
contract "stages call each other through public functions" (issue 14) is kept here, by reading
the source: `from mining.x import _y` and `x._y` on an imported project module both fail.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("mining", "analysis")


def _modules() -> list[Path]:
    return sorted(p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py"))


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
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.value, ast.Name)
            and node.value.id in aliases
            and _private(node.attr)
            and aliases[node.value.id] != own
        ):
            found.append(f"{own}:{node.lineno} {aliases[node.value.id]}.{node.attr}")
    return found


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
    assert private_reaches(pkg / "a.py", tmp_path) == []
