"""Subject templates: commit subjects with their variable parts masked, counted per repository.

Scripts (release tools, sync daemons, version bumps) commit under a person's name with one
subject pattern that differs only in numbers, versions, hashes, dates or PR numbers. Masking
those parts turns each script's subjects into one template; a template that repeats at least
`min_commits` times in a repository is *detected* and its commits are flagged `scripted`. The
catalog's reviewed `[[templates]]` rules (mining/signatures.toml) then decide which templates
are automation and which are a person's chores. Template text is local only: the release
carries a template's id (a hash) and counts, never its text.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable

#: what a masked part becomes (a PR or issue reference: REF_SLOT)
SLOT = "#"
REF_SLOT = "##"

# Order matters: a date before its numbers, a version before its numbers.
_MASKS = (
    # dates with optional time and zone: 2025-10-30, 2025-10-30 14:22:01, 2025-10-30T14:22Z
    re.compile(
        r"\b\d{4}-\d{2}-\d{2}(?:[ T_]\d{1,2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:z|[+-]\d{2}:?\d{2})?)?",
        re.IGNORECASE,
    ),
    re.compile(r"\b\d{1,2}:\d{2}(?::\d{2})?\b"),  # times
    re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{7,64}\b", re.IGNORECASE),  # hashes (with a digit)
    # versions: 1.2, v1.2.3, 1.2.3-beta.1, 1.0.0+build.5, v12
    re.compile(r"\bv?\d+(?:\.\d+)+(?:[-+][0-9a-z][0-9a-z.-]*)?|\bv\d+\b", re.IGNORECASE),
    re.compile(r"\d+"),  # any other number
)
_REF = re.compile(r"#\d+|\bgh-\d+\b", re.IGNORECASE)  # PR and issue numbers: `##`
_RUNS = re.compile(r"#(?:[#.]*#)?")  # adjacent slots ("1.2.3rc1" -> "#rc#", "# . #" stays)
_SPACE = re.compile(r"\s+")
_DIGIT = re.compile(r"\d")  # the same digits as the `\d` every pattern above requires


def mask(subject: str) -> str:
    """The subject's template: numbers, versions, hashes and dates become `#`, PR and issue
    references `##` (so a bare version and a bare "#123" differ), spaces collapsed, lowercased."""
    subject = subject.replace("\0", "")
    if _DIGIT.search(subject):  # every mask and reference needs a digit: most subjects have none
        subject = _REF.sub("\0", subject)
        for rx in _MASKS:
            subject = rx.sub(SLOT, subject)
    subject = _RUNS.sub(SLOT, subject).replace("\0", REF_SLOT)
    return _SPACE.sub(" ", subject).strip().lower()


def template_id(template: str) -> str:
    """A stable id for a template (the same text in two repositories has the same id).

    The release carries this id instead of the text, so readers can count and compare templates
    without any commit-message text leaving the database.
    """
    return hashlib.sha256(template.encode("utf-8")).hexdigest()[:16]


def detect(templates: Iterable[str], min_commits: int) -> dict[str, int]:
    """Templates occurring at least `min_commits` times, with their counts (empty ones never)."""
    counts = Counter(t for t in templates if t)
    return {t: n for t, n in counts.items() if n >= min_commits}
