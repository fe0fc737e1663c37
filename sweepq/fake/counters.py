"""The counters a fake serves at GET /stats, declared once as a dataclass.

The engine and its batches each keep theirs as one dataclass of numbers and `Counter`s
(its field names are the JSON keys), replaced whole to reset and read by `snapshot`, so
a new counter is one line and a reset cannot miss one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import fields
from typing import Any


def snapshot(counts: Any) -> dict[str, Any]:
    """A counters dataclass as the JSON-able dict /stats returns (each `Counter` a dict)."""
    values = {f.name: getattr(counts, f.name) for f in fields(counts)}
    return {name: dict(v) if isinstance(v, Counter) else v for name, v in values.items()}
