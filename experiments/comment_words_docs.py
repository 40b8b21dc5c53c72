"""What experiments/comment_words.md reports besides the scores: which diff-token documents the
comment words change, and what they cost (its decision rule's condition 3).

Run each step with the code whose documents it writes (main's, then the branch's), e.g. main's
tree exported to /tmp/main and put first on PYTHONPATH:

    python experiments/comment_words_docs.py dump GIT_DIR OUT.json     # documents, one CPU run
    python experiments/comment_words_docs.py compare MAIN.json BRANCH.json

`dump` parses the patches of GIT_DIR's last 1,000 non-merge commits (not timed), then times
`diff_tokens` over them once with the line caches cleared (process CPU), and writes the
documents with the timing. `compare` removes the `#` tokens from the branch's documents and
counts the commits whose document changes, those that are equal once they are removed, and
those the caps cut differently (the rest of the branch's document is a part of main's).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import time
from collections import Counter
from pathlib import Path

from mining import text_features
from mining.diffs import iter_commit_diffs

N_COMMITS = 1000


def dump(git_dir: str, out: Path) -> None:
    """The documents of the last N_COMMITS non-merge commits, and the CPU of computing them."""
    shas = subprocess.run(
        ["git", f"--git-dir={git_dir}", "rev-list", "--no-merges", f"-n{N_COMMITS}", "HEAD"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    commits = list(iter_commit_diffs(git_dir, shas))
    text_features._line_tokens.cache_clear()
    text_features._subwords.cache_clear()
    start = time.process_time()
    docs = {c.sha: text_features.diff_tokens(c) for c in commits}
    cpu = time.process_time() - start
    out.write_text(json.dumps({"cpu_s": cpu, "code": text_features.__file__, "docs": docs}))
    print(
        f"{git_dir}: {len(docs)} documents, diff_tokens CPU {cpu:.3f} s ({text_features.__file__})"
    )


def compare(old_path: Path, new_path: Path) -> None:
    """Main's documents against the branch's with its `#` tokens removed."""
    old, new = (json.loads(p.read_text())["docs"] for p in (old_path, new_path))
    assert old.keys() == new.keys(), "the two dumps read different commits"
    changed = equal_without = cut = other = 0
    for sha, doc in old.items():
        if new[sha] == doc:
            continue
        changed += 1
        before = Counter(text_features.token_counts(doc))
        after = Counter(
            t for t in text_features.token_counts(new[sha]) if not t.lstrip("+-").startswith("#")
        )
        if after == before:
            equal_without += 1
        elif not after - before:  # only fewer code tokens: the comment words took their room
            cut += 1
        else:
            other += 1
    n = len(old)
    print(
        f"{n} commits: {changed} documents change ({100 * changed / n:.1f}%); equal once the "
        f"#words are removed {equal_without}; cut differently by the caps {cut}; other {other}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="step", required=True)
    d = sub.add_parser("dump")
    d.add_argument("git_dir")
    d.add_argument("out", type=Path)
    c = sub.add_parser("compare")
    c.add_argument("main", type=Path)
    c.add_argument("branch", type=Path)
    args = ap.parse_args()
    if args.step == "dump":
        dump(args.git_dir, args.out)
    else:
        compare(args.main, args.branch)


if __name__ == "__main__":
    main()
