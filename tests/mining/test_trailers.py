"""Trailers are read as git reads them, plus squash bodies; prose, quotes and code are not."""

from __future__ import annotations

import subprocess

import pytest

from mining.trailers import parse_trailers, subject, whole_lines

KNOWN = {"co-authored-by", "assisted-by"}


def keys(message: str) -> list[tuple[str, str]]:
    return [(t.key, t.value) for t in parse_trailers(message, KNOWN)]


def test_last_paragraph_all_trailers():
    msg = "Fix parser\n\nLonger body.\n\nCo-authored-by: A <a@x>\nSigned-off-by: B <b@x>\n"
    assert keys(msg) == [("co-authored-by", "A <a@x>"), ("signed-off-by", "B <b@x>")]


def test_title_is_never_a_trailer():
    assert keys("Co-authored-by: A <a@x>") == []
    assert keys("Co-authored-by: A <a@x>\nSigned-off-by: B <b@x>") == []


def test_mixed_last_paragraph_needs_known_key_and_quarter_trailers():
    # 1 trailer + 2 prose lines: 33% >= 25% and the key is known -> trailer block (git's rule)
    msg = "t\n\n🤖 Generated with tool\nsome prose line\nCo-authored-by: A <a@x>"
    assert keys(msg) == [("co-authored-by", "A <a@x>")]
    # same shape with an unknown key is not a trailer block
    msg2 = "t\n\nprose one\nprose two\nReviewed-on: something"
    assert keys(msg2) == []
    # 1 trailer in 5 lines (20%) is below the threshold
    msg3 = "t\n\na\nb\nc\nd\nCo-authored-by: A <a@x>"
    assert keys(msg3) == []


def test_continuation_lines_fold():
    msg = "t\n\nAssisted-by: Claude Code\n  with Opus\nSigned-off-by: B <b@x>"
    assert keys(msg)[0] == ("assisted-by", "Claude Code with Opus")


def test_squash_body_trailers_in_earlier_paragraphs():
    msg = (
        "Feature (#12)\n\n* first step\n\nCo-authored-by: X <x@x>\n\n* second step\n\n"
        "Assisted-by: opencode\n\n---------\n\nCo-authored-by: Y <y@y>"
    )
    assert keys(msg) == [
        ("co-authored-by", "X <x@x>"),
        ("assisted-by", "opencode"),
        ("co-authored-by", "Y <y@y>"),
    ]


def test_earlier_paragraph_with_prose_is_not_trailers():
    msg = "t\n\nWe now document the line\nCo-authored-by: X <x@x>\nfor contributors.\n\nDone."
    assert keys(msg) == []


@pytest.mark.parametrize(
    "body",
    [
        "Example:\n\n    Co-authored-by: Claude <noreply@anthropic.com>\n\nend",
        "> Co-authored-by: Claude <noreply@anthropic.com>",
        "```\nCo-authored-by: Claude <noreply@anthropic.com>\n```",
        "Use this:\n```\nCo-authored-by: Claude <noreply@anthropic.com>\n```",
    ],
)
def test_quoted_indented_fenced_lines_are_not_trailers(body):
    assert [t for t in parse_trailers("t\n\n" + body, KNOWN) if t.key == "co-authored-by"] == []


def test_comment_lines_are_skipped():
    msg = "t\n\n# a heading\nCo-authored-by: A <a@x>"
    assert keys(msg) == [("co-authored-by", "A <a@x>")]


def test_crlf_messages():
    msg = "t\r\n\r\nbody\r\n\r\nCo-authored-by: A <a@x>\r\n"
    assert keys(msg) == [("co-authored-by", "A <a@x>")]


def test_agrees_with_git_on_the_last_block(tmp_path):
    """Our last-paragraph rule matches `git interpret-trailers --parse` for configured keys."""
    cases = [
        "t\n\nbody\n\nCo-authored-by: A <a@x>\nSigned-off-by: B <b@x>\n",
        "t\n\nGenerated\nprose\nCo-authored-by: A <a@x>\n",
        "t\n\na\nb\nc\nd\nSigned-off-by: A <a@x>\n",
        "t\n\nSigned-off-by: A <a@x>\n  continued\n",
    ]
    for msg in cases:
        out = subprocess.run(
            [
                "git",
                "-c",
                "trailer.co-authored-by.key=Co-authored-by",
                "interpret-trailers",
                "--parse",
            ],
            input=msg.encode(),
            capture_output=True,
            check=True,
        ).stdout.decode()
        git_pairs = [
            (ln.split(":", 1)[0].lower(), ln.split(":", 1)[1].strip())
            for ln in out.splitlines()
            if ln
        ]
        assert keys(msg) == git_pairs, msg


def test_whole_lines_skip_quotes_indent_and_fences():
    msg = "subject\n\n  Generated with X\n> Generated with Y\n```\nGenerated with Z\n```\nGenerated with W"
    assert list(whole_lines(msg)) == ["subject", "Generated with W"]


def test_subject_is_first_line():
    assert subject("\nfirst\nsecond\n\nbody") == "first"
