"""What the fakes of other vendors' APIs share: answers, counters, the quota and a script.

`fake.openai` (Chat Completions) and `fake.gemini` (generateContent) only translate
their wire formats; the answer text comes from the same `Answerer` as the Messages fake,
so a judge prompt gets YES/NO, a task gets a BBH answer, whatever the vendor. Faults are
what a sweep must tell apart: `quota_after` successes then the vendor's exhaustion
error for ever, and `script` for exact responses to the next requests.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .answers import Answerer, count_tokens, input_tokens
from .config import FakeConfig
from .wire import Reply, dumps


@dataclass
class Scripted:
    """One exact response: a status, a JSON body and headers."""

    status: int
    body: dict
    headers: list[tuple[str, str]] = field(default_factory=list)


class VendorFake:
    """Answers and counters of one vendor's fake; subclasses speak its wire format."""

    def __init__(self, config: FakeConfig | None = None, *,
                 models: tuple[str, ...] | None = None, quota_after: int | None = None,
                 api_key: str | None = None) -> None:
        self.config = config or FakeConfig()
        self.answers = Answerer(self.config)
        self.models, self.quota_after, self.api_key = models, quota_after, api_key
        self._lock = threading.Lock()
        self._script: list[Scripted] = []
        self.requests = 0
        self.successes: Counter[str] = Counter()   # by model
        self.exhausted = 0

    def script(self, responses: list[Scripted]) -> None:
        """Answer the next requests with these, in order, before anything else."""
        with self._lock:
            self._script.extend(responses)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            return {"requests": self.requests, "successes": sum(self.successes.values()),
                    "successes_by_model": dict(self.successes), "exhausted": self.exhausted}

    def answer(self, model: str, system: str | None, user: str, max_tokens: int,
               exhausted: Callable[[], Reply], success: Callable[[str, int, int], Reply]
               ) -> Reply:
        """The scripted reply, the exhaustion once the quota is spent, else a success
        built by `success(text, input_tokens, output_tokens)`."""
        with self._lock:
            self.requests += 1
            if self._script:
                s = self._script.pop(0)
                return Reply(s.status, dumps(s.body), list(s.headers))
            spent = self.quota_after is not None and \
                sum(self.successes.values()) >= self.quota_after
            if spent:
                self.exhausted += 1
            else:
                self.successes[model] += 1
        if spent:
            return exhausted()
        if self.config.latency_ms > 0:   # a success takes the configured time, as Claude's fake
            time.sleep(self.config.latency_ms / 1000.0)
        body = {"model": model, "system": system,
                "messages": [{"role": "user", "content": user}]}
        text = self.answers.text(body)
        out = min(count_tokens(text), max_tokens)
        return success(text[: max_tokens * 4], input_tokens(body), out)

    def knows(self, model: str) -> bool:
        return self.models is None or model in self.models

