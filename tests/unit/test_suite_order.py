"""The order conftest gives xdist: the longest tests start early on every worker, and the
names that order them are names of tests that exist."""
from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

from conftest import FAST_LONGEST, LONGEST_FIRST, ROOT, _dealt

WORKERS = 4


def shares(items: list, workers: int) -> list[list]:
    """The runs xdist's worksteal first sends: to each idle worker in turn, the pending
    tests divided by the workers still to be served."""
    pending, runs = list(items), []
    for worker in range(workers):
        size = len(pending) // (workers - worker)
        runs.append(pending[:size])
        del pending[:size]
    return runs


def test_each_worker_starts_its_share_of_the_longest_in_its_first_half() -> None:
    long = [SimpleNamespace(originalname=name, nodeid=name) for name in FAST_LONGEST]
    short = [SimpleNamespace(originalname=f"test_{i}", nodeid=f"test_{i}") for i in range(1200)]
    items = short[:500] + long[::-1] + short[500:]   # collection order: anywhere

    order = _dealt(items, WORKERS)

    assert sorted(item.nodeid for item in order) == sorted(item.nodeid for item in items)
    is_long = {id(item) for item in long}
    assert [item for item in order if id(item) not in is_long] == short   # the rest, in order
    for worker, run in enumerate(shares(order, WORKERS)):
        positions = [i for i, item in enumerate(run) if id(item) in is_long]
        assert [run[i].originalname for i in positions] == FAST_LONGEST[worker::WORKERS]
        assert max(positions) < len(run) / 2


def test_without_the_longest_the_order_stays() -> None:
    items = [SimpleNamespace(originalname=f"test_{i}", nodeid=f"test_{i}") for i in range(50)]
    assert _dealt(items, WORKERS) == items


def test_every_name_that_orders_the_suite_is_a_test() -> None:
    defined = {name for path in Path(ROOT, "tests").rglob("test_*.py")
               for name in re.findall(r"^def (test_\w+)\(", path.read_text(), re.MULTILINE)}
    assert [name for name in LONGEST_FIRST + FAST_LONGEST if name not in defined] == []
