"""`echo-ast`: two cheap programs agree when their normalised syntax trees are equal; else
sonnet answers. The arm's decision is driven here by a client that returns given texts
and records what it was asked (the calls themselves are the worker's, tested elsewhere);
the demo and test_benchmark_sweeps run it against the fake."""

from __future__ import annotations

from sweepq.arms import BUILTIN, CALLS, echo_ast
from sweepq.task import Task

STUB = 'def double(x: int) -> int:\n    """Twice x."""\n'
PROBLEM = Task("HumanEval/9", "humaneval", 9, STUB, (), "    return 2 * x\n",
               "    return 2 * x\n", "p", extra={"benchmark": "humaneval",
                                                  "entry_point": "double"})


class Texts:
    """A client answering the two cheap calls with `a` and `b`, any other with `strong`."""

    def __init__(self, a: str, b: str, strong: str = "STRONG") -> None:
        self.a, self.b, self.strong, self.models = a, b, strong, []

    def call_many(self, requests, max_tokens=None):
        self.models += [model for model, _, _ in requests]
        return [self.a, self.b]

    def call(self, model, prompt, *, system=None, max_tokens=None):
        self.models.append(model)
        return self.strong


def test_the_same_program_in_other_layouts_agrees():
    fenced = "Sure:\n```python\ndef double(x: int) -> int:\n    # doubled\n    return 2*x\n```"
    body = "    return (2 * x)\n"
    client = Texts(fenced, body)
    assert echo_ast(PROBLEM, client) == fenced and client.models == ["haiku", "haiku"]


def test_different_programs_escalate_to_sonnet():
    client = Texts("    return 2 * x\n", "    return x + x\n")
    assert echo_ast(PROBLEM, client) == "STRONG" and client.models == ["haiku", "haiku",
                                                                       "sonnet"]


def test_a_reply_that_does_not_parse_never_agrees():
    client = Texts("    return 2 * (x\n", "    return 2 * (x\n")
    assert echo_ast(PROBLEM, client) == "STRONG"


def test_on_a_task_without_code_it_is_echo_lexical():
    task = Task("bbh/navigate/0", "navigate", 0, "Q?", (("A", "Yes"), ("B", "No")), "(A)",
                "A", "p")
    client = Texts("Answer: A", "so... Answer: A")
    assert echo_ast(task, client) == "Answer: A" and client.models == ["haiku", "haiku"]


def test_echo_ast_is_a_builtin_arm_with_its_models_declared():
    assert BUILTIN["echo-ast"] is echo_ast and CALLS[echo_ast] == ("haiku", "sonnet")
