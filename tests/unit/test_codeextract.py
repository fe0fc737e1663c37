"""Code extraction from the reply shapes the team's harness met, and echo-ast agreement."""

from __future__ import annotations

import pytest

from sweepq.codeextract import ast_agree, extract, normalised
from sweepq.sandbox import Limits, run_check

PROMPT = (
    "from typing import List\n\n\n"
    "def total(xs: List[int]) -> int:\n"
    '    """Sum of xs.\n    >>> total([1, 2])\n    3\n    """\n'
)
TEST = ("\n\ndef check(candidate):\n    assert candidate([1, 2, 3]) == 6\n"
        "    assert candidate([]) == 0\n")
FULL = ("def total(xs: List[int]) -> int:\n    s = 0\n    for x in xs:\n        s += x\n"
        "    return s\n")
BODY = "s = 0\nfor x in xs:\n    s += x\nreturn s\n"


def _passes(code: str) -> bool:
    return run_check(PROMPT, code, TEST, "total", Limits(timeout=5)).passed


def test_a_python_fence_with_a_full_def():
    got = extract(f"Here you go:\n\n```python\n{FULL}```\n\nIt loops once.", PROMPT, "total")
    assert (got.shape, got.body) == ("fenced", False)
    assert got.code == FULL
    assert _passes(got.code)


def test_a_bare_fence_with_a_body_is_indented_under_the_prompt():
    got = extract(f"```\n{BODY}```", PROMPT, "total")
    assert (got.shape, got.body) == ("fenced", True)
    assert got.code.startswith("    s = 0\n")
    assert _passes(got.code)


def test_of_several_blocks_the_one_defining_the_entry_point_wins():
    reply = (f"Usage:\n```python\nprint(total([1]))\n```\nCode:\n```py\n{FULL}```\n"
             "```python\nassert total([2]) == 2\n```\n")
    assert extract(reply, PROMPT, "total").code == FULL


def test_an_unfenced_full_def_with_imports_is_kept_whole():
    reply = "import math\n\n" + FULL
    got = extract(reply, PROMPT, "total")
    assert (got.shape, got.code) == ("def", reply)


def test_a_body_at_column_zero_is_indented_where_the_raw_text_would_not_run():
    raw = run_check(PROMPT, BODY, TEST, "total", Limits(timeout=5))
    assert raw.detail == "SyntaxError: 'return' outside function"  # the team's failure
    got = extract(BODY, PROMPT, "total")
    assert (got.shape, got.body) == ("body", True)
    assert _passes(got.code)


def test_an_indented_body_stays_as_it_is():
    body = "    return sum(xs)\n"
    got = extract(body, PROMPT, "total")
    assert (got.shape, got.code) == ("body", body)


def test_prose_around_unfenced_code():
    reply = f"Sure! The function is:\n\n{FULL}\nThis runs in O(n) time.\nHope it helps."
    got = extract(reply, PROMPT, "total")
    assert (got.shape, got.code) == ("prose", FULL)
    assert _passes(got.code)


def test_what_fits_no_shape_is_returned_as_written():
    reply = "I cannot solve this."
    assert extract(reply, PROMPT, "total") == extract(reply, PROMPT, "total")
    assert (extract(reply, PROMPT, "total").shape, extract(reply, PROMPT, "total").code) == (
        "raw", reply)


# --------------------------------------------------------------------------- agreement

REFORMATTED = (
    "```python\ndef total(xs: List[int]) -> int:\n"
    '    """Adds them up."""  \n'
    "    s = 0   # running sum\n\n"
    "    for x in xs: s += x\n"
    "    return (s)\n```"
)


def test_comments_docstrings_and_layout_do_not_matter():
    assert ast_agree(FULL, REFORMATTED, PROMPT, "total")


def test_a_body_agrees_with_the_same_full_def():
    assert ast_agree(BODY, FULL, PROMPT, "total")


def test_repeating_the_prompts_imports_and_helpers_does_not_matter():
    prompt = "def helper(x):\n    return x * 2\n\n\ndef twice(x):\n    \"\"\"Doc.\"\"\"\n"
    a = "def twice(x):\n    return helper(x)\n"
    b = "import os\n\ndef helper(x):\n    return x * 2\n\n\ndef twice(x):\n    return helper(x)\n"
    assert ast_agree(a, b, prompt, "twice")


def test_different_logic_disagrees():
    assert not ast_agree(FULL, "def total(xs: List[int]) -> int:\n    return sum(xs)\n",
                         PROMPT, "total")


@pytest.mark.parametrize("rename", [False, True])
def test_local_names_count_unless_renamed(rename):
    other = ("def total(xs: List[int]) -> int:\n    acc = 0\n    for item in xs:\n"
             "        acc += item\n    return acc\n")
    assert ast_agree(FULL, other, PROMPT, "total", rename_locals=rename) is rename


def test_renaming_keeps_globals_and_calls_apart():
    a = "def total(xs: List[int]) -> int:\n    return sum(xs)\n"
    b = "def total(xs: List[int]) -> int:\n    return len(xs)\n"
    assert not ast_agree(a, b, PROMPT, "total", rename_locals=True)


def test_an_unparseable_reply_never_agrees():
    broken = "def total(xs:\n    return"
    assert normalised(broken, PROMPT, "total") is None
    assert not ast_agree(broken, broken, PROMPT, "total")
