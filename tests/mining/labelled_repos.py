"""Small labelled sets on real git repositories, for the classifier and evaluation tests.

Each repository gets commits of the four layers written to look like them (a version bump, a
rename inside a module, a new option with a test, a new plugin package), labelled by scenario,
so a nested cross-validation over a few repositories has something learnable to find.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from tests.gitrepo import RepoBuilder


def build_repo(rb: RepoBuilder, tag: str, rounds: int = 2) -> list[tuple[str, str, bool]]:
    """Commit `rounds` commits of each layer; return (sha, layer, is_fix) per commit."""
    rb.commit(
        "initial import",
        {
            "pkg/core.py": "def run(x):\n    return x\n",
            "pyproject.toml": '[project]\nversion = "0.1.0"\n',
            "README.md": "# demo\n",
        },
    )
    out = []
    for i in range(rounds):
        out.append(
            (
                rb.commit(
                    f"chore: bump version to 0.{i + 2}.0",
                    {"pyproject.toml": f'[project]\nversion = "0.{i + 2}.0"\n'},
                ),
                "boilerplate",
                False,
            )
        )
        out.append(
            (
                rb.commit(
                    f"docs: fix typo {tag}{i}", {"README.md": f"# demo {tag}{i}\n\nUsage notes.\n"}
                ),
                "boilerplate",
                False,
            )
        )
        body = "".join(f"def helper_{tag}_{i}_{k}(v):\n    return v + {k}\n\n" for k in range(3))
        rb.commit(f"feat: add helpers {i}", {f"pkg/h{i}.py": body})
        renamed = body.replace(f"helper_{tag}_{i}", f"assist_{tag}_{i}")
        out.append(
            (
                rb.commit(f"refactor: rename helpers in h{i}", {f"pkg/h{i}.py": renamed}),
                "refactor",
                False,
            )
        )
        out.append(
            (
                rb.commit(
                    f"feat: add --limit option {i}",
                    {
                        "pkg/core.py": f"def run(x, limit={i}):\n    if limit:\n        x = x[:limit]\n    return x\n",
                        f"tests/test_limit{i}.py": f"def test_limit():\n    assert {i} == {i}\n",
                    },
                ),
                "feature",
                False,
            )
        )
        out.append(
            (
                rb.commit(
                    f"fix: handle empty input {i}",
                    {
                        "pkg/core.py": f"def run(x, limit={i}):\n    if not x:\n        return x\n    return x[:limit]\n"
                    },
                ),
                "feature",
                True,
            )
        )
        plugin = {
            f"pkg/plugins{i}/__init__.py": "from .base import Plugin\n",
            f"pkg/plugins{i}/base.py": "class Plugin:\n    def load(self):\n        raise NotImplementedError\n",
            f"pkg/plugins{i}/registry.py": "class Registry:\n    def add(self, p):\n        self.p = p\n",
            f"pkg/plugins{i}/loader.py": "class Loader:\n    def find(self):\n        return []\n",
        }
        out.append((rb.commit(f"introduce plugin interface {i}", plugin), "architectural", False))
    return out


def labelled_set(
    make_repo, root: Path, n_repos: int = 3, rounds: int = 2
) -> tuple[Path, Path, pd.DataFrame]:
    """Repos, labels.csv (with a varying `pi`) and repos.toml naming each mirror path."""
    rows, toml = [], []
    for r in range(n_repos):
        rb = make_repo(f"r{r}")
        name = f"org/r{r}"
        for j, (sha, layer, fix) in enumerate(build_repo(rb, f"t{r}", rounds)):
            rows.append(
                {
                    "repo": name,
                    "sha": sha,
                    "layer": layer,
                    "is_fix": int(fix),
                    "stratum": "enrich" if j % 3 == 0 else "srs",
                    "pi": 0.5 if j % 3 == 0 else 0.25,
                    "round": 4 if r == n_repos - 1 else 1,  # round 4: a repo outside the corpus
                }
            )
        toml.append(f'[[repo]]\nrepo = "{name}"\nmirror = "{rb.path}"\nlanguage = "Python"\n')
    labels = pd.DataFrame(rows)
    root.mkdir(parents=True, exist_ok=True)
    labels.to_csv(root / "labels.csv", index=False)
    (root / "repos.toml").write_text("\n".join(toml))
    return root / "labels.csv", root / "repos.toml", labels
