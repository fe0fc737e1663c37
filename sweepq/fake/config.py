"""How a fake Messages API behaves: one record shared by the HTTP server and the in-process backend.

Both transports read the same `FakeConfig`, so a test that moves from HTTP to the
in-process backend keeps its answers, accuracy and faults.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sweepq.models import DEFAULT_MODELS, PRICES
from sweepq.prompts import PromptSet

# Model ids the fake knows unless told otherwise (`--models`): every id sweepq names or
# prices, in the undated form and any dated form (`claude-haiku-4-5-20251001`).
KNOWN_MODELS: tuple[str, ...] = tuple(dict.fromkeys([*DEFAULT_MODELS.values(), *PRICES]))

# What `spend_limit` may name: which documented spend-limit error the exhaustion window
# answers with (see `documented.py`).
SPEND_LIMITS = ("tier", "tier-message-only", "organization", "workspace")


@dataclass
class FakeConfig:
    """How the fake API behaves.  All rates are probabilities in [0, 1]."""

    latency_ms: float = 0
    seed: int = 0
    answer_key: dict[str, str] | None = None
    accuracy: dict[str, float] = field(default_factory=dict)
    faults: dict[int, float] = field(default_factory=dict)
    reset_rate: float = 0.0
    retry_after: float | None = None
    exhaust_after: int | None = None
    exhaust_for: float = 0.0
    spend_limit: str = "tier"
    credit_exhausted: bool = False
    valid_api_keys: set[str] | None = None
    models: tuple[str, ...] = KNOWN_MODELS
    # Prompt sets whose prompts the fake recognises besides the built-in ones (a sweep
    # enqueued with `--prompts`): their option lines, judge question and verdict words.
    prompt_sets: tuple[PromptSet, ...] = ()
    # The rate limiter (limiter.py): per-minute limits, None = not limited.
    rpm: float | None = None
    itpm: float | None = None
    otpm: float | None = None
    bucket_seconds: float = 60.0        # the bucket holds this many seconds of refill
    bucket_start: str = "full"          # "full" (a fresh key) or "empty" (mid-sweep)
    # Message Batches (batches.py): seconds a batch takes to end, and the share of its
    # requests that end `errored` (api_error) or `expired`.
    batch_seconds: float = 0.0
    batch_errored: float = 0.0
    batch_expired: float = 0.0

    @property
    def limited(self) -> bool:
        return bool(self.rpm or self.itpm or self.otpm)

    def validate(self) -> None:
        """Raise ValueError (one line) when a value is out of range."""
        self._validate_rates()
        if self.latency_ms < 0:
            raise ValueError(f"latency_ms must be >= 0, got {self.latency_ms}")
        if self.retry_after is not None and self.retry_after < 0:
            raise ValueError(f"retry_after must be >= 0, got {self.retry_after}")
        if self.exhaust_after is not None and self.exhaust_after < 0:
            raise ValueError(f"exhaust_after must be >= 0, got {self.exhaust_after}")
        if self.exhaust_for < 0:
            raise ValueError(f"exhaust_for must be >= 0, got {self.exhaust_for}")
        if self.spend_limit not in SPEND_LIMITS:
            raise ValueError(f"spend_limit must be one of {', '.join(SPEND_LIMITS)}, "
                             f"got {self.spend_limit!r}")
        if self.batch_seconds < 0:
            raise ValueError(f"batch_seconds must be >= 0, got {self.batch_seconds}")
        if not (0 <= self.batch_errored and 0 <= self.batch_expired
                and self.batch_errored + self.batch_expired <= 1):
            raise ValueError("batch_errored and batch_expired must be >= 0 and add up to <= 1")
        if not self.models:
            raise ValueError("models must name at least one model id")
        self._validate_limits()

    def _validate_limits(self) -> None:
        for name in ("rpm", "itpm", "otpm"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be > 0, got {value}")
        if not self.bucket_seconds > 0:
            raise ValueError(f"bucket_seconds must be > 0, got {self.bucket_seconds}")
        if self.bucket_start not in ("full", "empty"):
            raise ValueError(f"bucket_start must be full or empty, got {self.bucket_start!r}")

    def _validate_rates(self) -> None:
        for name, p in self.accuracy.items():
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"accuracy for {name!r} must be in [0, 1], got {p}")
        for status, p in self.faults.items():
            if not (isinstance(status, int) and 400 <= status <= 599):
                raise ValueError(f"fault status must be an HTTP error status 400-599, got {status}")
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"fault rate for {status} must be in [0, 1], got {p}")
        if not 0.0 <= self.reset_rate <= 1.0:
            raise ValueError(f"reset rate must be in [0, 1], got {self.reset_rate}")
        if self.reset_rate + sum(self.faults.values()) > 1.0 + 1e-9:
            raise ValueError("fault rates plus reset rate add up to more than 1")

    def knows(self, model: str) -> bool:
        """True for a listed id or a dated form of one (`<id>-YYYYMMDD`)."""
        if model in self.models:
            return True
        base, _, date = model.rpartition("-")
        return len(date) == 8 and date.isdigit() and base in self.models
