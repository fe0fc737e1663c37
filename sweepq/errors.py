"""Errors sweepq raises on purpose, and the classification of model-call failures.

`SweepqError` is a mistake the user can fix: the CLI prints its message on one
line and exits non-zero, never with a traceback.

`classify(exc)` and `classify_cli(returncode, stdout, stderr)` turn a failed model
call into a `Failure`: exhausted, rate_limited, transient or fatal, with the time
the queue may resume and a one-line message that never contains an API key.
"""

from __future__ import annotations

import json
import os
import re
import socket
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from email.utils import parsedate_to_datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


class SweepqError(Exception):
    """A user-fixable problem; the message names the problem and the fix, on one line."""

    exit_code = 1


# ---------------------------------------------------------------------------
# Classification of model-call failures (DESIGN.md, "Errors: four classes").
#
# Every decision below is made from exception types, HTTP status codes, the
# error body's `type` / `details.error_code`, response headers, or — for the
# Claude CLI — anchored regexes over the CLI's own documented messages. A
# substring of a free-text message never decides the kind, with the one
# exception the spec makes: the two documented 400 `invalid_request_error`
# sentences about usage limits and credit balance, matched as anchored prefixes.
# ---------------------------------------------------------------------------


Kind = Literal["exhausted", "rate_limited", "transient", "fatal"]
Scope = Literal["job", "run"]

MESSAGE_MAX = 300
DEFAULT_RATE_LIMIT_PAUSE = 60.0  # seconds, for a 429 that gives no advice at all
CLI_RESET_GRACE = 300.0  # seconds: a CLI reset time this recently passed is "now", not tomorrow
CLI_MIN_PAUSE = 60.0  # seconds: the shortest pause for a CLI limit whose reset just passed

_API_KEY = re.compile(r"sk-ant-[A-Za-z0-9_-]+")
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class Failure:
    """A classified model-call failure: what kind, until when, and a printable message."""

    kind: Kind
    resume_at: float | None  # unix seconds; None = no known time
    message: str  # one line, no API key
    scope: Scope = "job"  # for fatal: the whole run (auth, unknown model) or only this job

    def __post_init__(self) -> None:
        # Every Failure is safe to store and print, whoever built it.
        object.__setattr__(self, "message", one_line(self.message))


class ModelCallError(Exception):
    """A model-call failure already classified (raised by the CLI backend); see `.failure`."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.message)
        self.failure = failure


def scrub(text: str) -> str:
    """Mask `sk-ant-…` keys and the values of ANTHROPIC_API_KEY / ANTHROPIC_AUTH_TOKEN."""
    from .secrets import mask  # imported late: secrets is tiny, errors is imported everywhere

    return mask(text)


def one_line(text: str, limit: int = MESSAGE_MAX) -> str:
    """`text` scrubbed of API keys, on one line, at most `limit` characters."""
    line = _WHITESPACE.sub(" ", scrub(str(text))).strip()
    if len(line) > limit:
        line = line[: limit - 1].rstrip() + "…"
    return scrub(line)  # a cut can't create a key, but be certain


# ---------------------------------------------------------------------------
# Times
# ---------------------------------------------------------------------------


def next_occurrence(
    hour: int,
    minute: int,
    tz: ZoneInfo,
    now: datetime,
    month: int | None = None,
    day: int | None = None,
) -> datetime:
    """The first wall-clock `hour:minute` in `tz` strictly after `now` (aware, in `tz`).

    With `month` and `day`, the first such date and time (this year, or a later
    one if it has passed). Comparisons are made in UTC, so DST is honoured: an
    ambiguous time (clocks going back) resolves to its first occurrence still to
    come, a non-existent one (clocks going forward) to the same offset as before
    the change (2:30 on a spring-forward night is 3:30 daylight time).
    """
    if now.tzinfo is None:
        now = now.replace(tzinfo=tz)
    now_utc = now.astimezone(UTC)
    local_today = now.astimezone(tz).date()
    if month is None and day is None:
        days: Any = (local_today + timedelta(days=n) for n in range(-1, 3))
    elif month is not None and day is not None:
        days = _yearly(local_today.year - 1, month, day)
    else:
        raise ValueError("next_occurrence: give both month and day, or neither")
    for d in days:
        for instant in _instants(d, hour, minute, tz):
            if instant > now_utc:
                return instant.astimezone(tz)
    raise AssertionError("unreachable: some occurrence lies ahead")  # pragma: no cover


def _yearly(first_year: int, month: int, day: int) -> Any:
    for year in range(first_year, first_year + 10):  # Feb 29 needs up to 8 years
        try:
            yield date(year, month, day)
        except ValueError:
            continue


def _instants(d: date, hour: int, minute: int, tz: ZoneInfo) -> list[datetime]:
    """The UTC instants at which the wall clock in `tz` reads `d hour:minute`."""
    wall = datetime.combine(d, dtime(hour, minute), tzinfo=tz)
    first = wall.replace(fold=0).astimezone(UTC)
    second = wall.replace(fold=1).astimezone(UTC)
    if first < second:  # ambiguous (clocks went back): it happens twice
        return [first, second]
    return [first]  # normal, or non-existent (fold=0 keeps the pre-change offset)


def local_zone() -> ZoneInfo:
    """The machine's zone as a `ZoneInfo` ($TZ, then /etc/localtime), UTC when unknown."""
    name = os.environ.get("TZ", "").lstrip(":")
    if name:
        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    try:
        target = os.path.realpath("/etc/localtime")
        marker = "/zoneinfo/"
        if marker in target:
            return ZoneInfo(target.split(marker, 1)[1])
        with open("/etc/localtime", "rb") as f:
            return ZoneInfo.from_file(f, key="localtime")
    except (OSError, ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _zone(name: str | None) -> ZoneInfo | None:
    if not name:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _first_of_next_month_utc(now: float) -> float:
    t = datetime.fromtimestamp(now, tz=UTC)
    year, month = (t.year + 1, 1) if t.month == 12 else (t.year, t.month + 1)
    return datetime(year, month, 1, tzinfo=UTC).timestamp()


def _parse_rfc3339(value: str) -> float | None:
    try:
        t = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.timestamp()


def _retry_after(headers: Any, now: float) -> float | None:
    """Seconds to wait from `retry-after-ms` / `retry-after` (seconds or an HTTP-date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000.0
            if value >= 0:
                return value
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
        return value if value >= 0 else None
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - now)


_RATELIMIT_REMAINING = re.compile(r"^anthropic-ratelimit-([a-z0-9-]+)-remaining$")


def _ratelimit_reset(headers: Any) -> float | None:
    """The latest `anthropic-ratelimit-<x>-reset` among the limits whose `-remaining` is 0."""
    if headers is None:
        return None
    latest: float | None = None
    for name, value in headers.items():
        match = _RATELIMIT_REMAINING.match(name.lower())
        if not match or value.strip() != "0":
            continue
        reset = headers.get(f"anthropic-ratelimit-{match.group(1)}-reset")
        when = _parse_rfc3339(reset) if reset else None
        if when is not None and (latest is None or when > latest):
            latest = when
    return latest


# ---------------------------------------------------------------------------
# The anthropic SDK
# ---------------------------------------------------------------------------

# The documented 400 invalid_request_error sentences (the only message text that decides a kind).
_USAGE_LIMITS = re.compile(r"^You have reached your specified API usage limits\.")
_CREDIT_LOW = re.compile(r"^Your credit balance is too low\b")
# Reading the reset date out of a known sentence shape (not deciding the kind).
_REGAIN_ACCESS = re.compile(
    r"(?:^|[.!]\s+)You will regain access on (\d{4})-(\d{2})-(\d{2}) at (\d{1,2}):(\d{2}) UTC\.?$"
)
_SPEND_LIMIT_CODES = frozenset({"enforced_spend_limit_reached", "contract_spend_limit_reached"})
_FATAL_JOB_STATUSES = frozenset({400, 413, 422, 431})
_TRANSIENT_BODY_TYPES = frozenset({"api_error", "overloaded_error", "timeout_error"})


def _regain_access(message: str | None) -> float | None:
    match = _REGAIN_ACCESS.search((message or "").strip())
    if not match:
        return None
    y, mo, d, h, mi = (int(g) for g in match.groups())
    try:
        return datetime(y, mo, d, h, mi, tzinfo=UTC).timestamp()
    except ValueError:
        return None


def _requested_model(exc: Any) -> str | None:
    try:
        payload = json.loads(exc.request.content)
    except Exception:
        return None
    model = payload.get("model") if isinstance(payload, dict) else None
    return model if isinstance(model, str) else None


def _describe(exc: Any) -> str:
    """`<type> <error_code>: <api message>` for an APIStatusError (the parts it has)."""
    tag = " ".join(p for p in (exc.type, exc.error_code) if p)
    text = exc.api_message or exc.message or ""
    return f"{tag}: {text}" if tag else text


def classify(exc: BaseException, now: float | None = None) -> Failure:
    """Decide what a failed model call means. Never raises; unknown exceptions are transient."""
    now = time.time() if now is None else now
    if isinstance(exc, ModelCallError):
        return exc.failure
    try:
        import anthropic
    except ImportError:  # pragma: no cover - anthropic is a dependency
        anthropic = None  # type: ignore[assignment]
    if anthropic is not None and isinstance(exc, anthropic.APIStatusError):
        return _classify_status(exc, now)
    if anthropic is not None and isinstance(exc, anthropic.APIConnectionError):
        # APITimeoutError is a subclass.
        kind = "timed out" if isinstance(exc, anthropic.APITimeoutError) else "connection error"
        return Failure("transient", None, f"{kind}: {exc}")
    if _is_network_error(exc):
        return Failure("transient", None, f"network error: {type(exc).__name__}: {exc}")
    return Failure("transient", None, f"{type(exc).__name__}: {exc}")


def _is_network_error(exc: BaseException) -> bool:
    if isinstance(exc, (TimeoutError, socket.timeout, ConnectionError, socket.gaierror)):
        return True
    try:
        import httpx2
    except ImportError:  # pragma: no cover
        return False
    return isinstance(exc, (httpx2.TransportError, httpx2.TimeoutException))


def _classify_status(exc: Any, now: float) -> Failure:
    status = int(exc.status_code)
    headers = getattr(getattr(exc, "response", None), "headers", None)
    body_type = exc.type
    code = exc.error_code
    api_message = (exc.api_message or "").strip()
    what = _describe(exc)
    # The status decides; the body's `type` only when the status can't (an `error` event
    # inside a 200 stream).
    streamed = body_type if status < 400 else None

    # Exhausted: spend limits and billing, decided by status / error_code / body type.
    if status == 429 and code in _SPEND_LIMIT_CODES:
        resume = _regain_access(api_message)
        if resume is None:
            wait = _retry_after(headers, now)
            resume = now + wait if wait is not None else _first_of_next_month_utc(now)
        return Failure("exhausted", resume, f"spend limit reached ({status}): {what}")
    if status == 402 or body_type == "billing_error":
        return Failure("exhausted", None, f"billing ({status}): a person must act - {what}")
    if status == 400 and body_type == "invalid_request_error":
        if _USAGE_LIMITS.match(api_message):
            resume = _regain_access(api_message) or _first_of_next_month_utc(now)
            return Failure("exhausted", resume, f"API usage limit reached ({status}): {what}")
        if _CREDIT_LOW.match(api_message):
            return Failure(
                "exhausted", None, f"credit balance too low ({status}): a person must act - {what}"
            )

    # Rate limited: 429 (or a rate_limit_error body, e.g. mid-stream).
    if status == 429 or streamed == "rate_limit_error":
        wait = _retry_after(headers, now)
        if wait is not None:
            resume = now + wait
        else:
            reset = _ratelimit_reset(headers)
            resume = max(now, reset) if reset is not None else now + DEFAULT_RATE_LIMIT_PAUSE
        return Failure("rate_limited", resume, f"rate limited ({status}): {what}")

    # Fatal for the whole run: credentials and unknown models.
    if status == 401 or streamed == "authentication_error":
        message = f"authentication failed ({status}): check ANTHROPIC_API_KEY - {what}"
        return Failure("fatal", None, message, scope="run")
    if status == 403 or streamed == "permission_error":
        message = f"permission denied ({status}): check ANTHROPIC_API_KEY - {what}"
        return Failure("fatal", None, message, scope="run")
    if status == 404 or streamed == "not_found_error":
        model = _requested_model(exc)
        named = f"model {model!r} not found" if model else "not found"
        message = f"{named} ({status}): check the model id - {what}"
        return Failure("fatal", None, message, scope="run")

    # Transient: overloaded, server errors, request timeouts.
    if status >= 500 or status == 408 or streamed in _TRANSIENT_BODY_TYPES:
        wait = _retry_after(headers, now)
        resume = now + wait if wait is not None else None
        return Failure("transient", resume, f"server error ({status}): {what}")

    # Fatal for this job only: the request itself is wrong.
    if status in _FATAL_JOB_STATUSES:
        return Failure("fatal", None, f"request rejected ({status}): {what}", scope="job")

    # Anything else (409, 412, 499, a future status): conservative.
    wait = _retry_after(headers, now)
    return Failure(
        "transient",
        now + wait if wait is not None else None,
        f"{type(exc).__name__} ({status}): {what}",
    )


# ---------------------------------------------------------------------------
# The Claude CLI (`claude --print`, subscription users)
# ---------------------------------------------------------------------------

_SEP = r"\s*[\u2219\u00b7]\s*"  # `∙` (U+2219) or `·` (U+00B7)
_MONTHS = {
    m: i
    for i, names in enumerate(
        (
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ),
        start=1,
    )
    for m in names
}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
_CLOCK = (
    r"(?:(?P<month>" + _MONTH_RE + r")\.?\s+(?P<day>\d{1,2}),?\s+at\s+)?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s?(?P<ampm>am|pm)?"
    r"(?:\s+\((?P<tz>[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*)\))?"
)
# `Claude AI usage limit reached|1762952400`
_CLI_EPOCH = re.compile(r"^Claude AI usage limit reached\|(?P<epoch>\d{9,13})$")
# `5-hour limit reached ∙ resets 2am`, `You've hit your weekly limit · resets 3am (Europe/London)`,
# `You've hit your limit · resets Apr 23 at 4pm (America/Recife)`, each optionally followed by
# `· /upgrade to increase your usage limit.`
_CLI_RESETS = re.compile(
    r"^(?:(?:5-hour|session|weekly|Opus|Sonnet)(?: weekly)? limit reached"
    r"|You(?:'|\u2019)ve hit your (?:(?:5-hour|session|weekly|Opus|Sonnet)(?: weekly)? )?limit)"
    + _SEP
    + r"resets\s+"
    + _CLOCK
    + r"(?:"
    + _SEP
    + r"/upgrade[^\n]*)?\.?$",
    re.IGNORECASE,
)
# The 2025 wording: `Claude usage limit reached. Your limit will reset at 3pm (Europe/Stockholm).`
_CLI_WILL_RESET = re.compile(
    r"^Claude usage limit reached\. Your limit will reset at " + _CLOCK + r"\.?$",
    re.IGNORECASE,
)
# The CLI's own wording for a bad login, and its `API Error: <status> {json}` line.
_CLI_LOGIN = re.compile(r"^Invalid API key" + _SEP + r"Please run /login\.?$", re.IGNORECASE)
_CLI_API_ERROR = re.compile(r"^API Error: (?P<status>[1-5]\d\d)\b")
_CLI_AUTH_STATUSES = frozenset({401, 403})


def classify_cli(
    returncode: int,
    stdout: str,
    stderr: str,
    now: float | None = None,
    tz: str | None = None,
) -> Failure | None:
    """Classify one `claude --print` run from its exit code and output; None when it succeeded.

    Understands plain text output, `--output-format json` (one result object) and
    `--output-format stream-json` (one JSON object per line, including
    `rate_limit_event`). Reset times without a zone in the text are read in `tz`
    (an IANA name), else in the machine's zone.
    """
    now = time.time() if now is None else now
    result, events = _parse_cli_output(stdout)
    is_error = bool(result.get("is_error")) if result is not None else False
    result_text = result.get("result") if result is not None else None
    result_text = result_text if isinstance(result_text, str) else ""

    texts = [result_text] if result is not None else []
    if result is None:
        texts.extend(stdout.splitlines())
    texts.extend(stderr.splitlines())
    exhausted = _cli_limit(texts, now, tz)

    if returncode == 0 and not is_error:
        # Success — unless the whole answer *is* the CLI's own limit message, which is
        # never a model answer and must not be scored as one.
        # (A rejected rate_limit_event alone doesn't undo a success: the CLI may have
        # fallen back to another model.)
        whole = result_text.strip() if result is not None else stdout.strip()
        if exhausted is not None and "\n" not in whole and _cli_limit([whole], now, tz):
            return exhausted
        return None

    # A rejected rate_limit_event (stream-json) carries the exact reset instant.
    for event in events:
        info = event.get("rate_limit_info")
        if isinstance(info, dict) and info.get("status") == "rejected":
            resets_at = info.get("resetsAt")
            if isinstance(resets_at, (int, float)) and not isinstance(resets_at, bool):
                resume: float | None = _epoch(resets_at, now)
            else:
                resume = exhausted.resume_at if exhausted is not None else None
            limit = info.get("rateLimitType") or "usage"
            message = exhausted.message if exhausted else f"claude CLI: {limit} limit reached"
            return Failure("exhausted", resume, message)
    if exhausted is not None:
        return exhausted
    status = result.get("api_error_status") if result is not None else None
    if not isinstance(status, int):
        status = _cli_status(texts)
    detail = result_text or _first_line(stderr) or _first_line(stdout) or "no output"
    if status in _CLI_AUTH_STATUSES:
        message = f"claude CLI not authorised ({status}): run `claude login` - {detail}"
        return Failure("fatal", None, message, scope="run")
    if status == 429:
        # A 429 whose text we don't know (e.g. an API-key user's rate limit): back off together.
        resume = now + DEFAULT_RATE_LIMIT_PAUSE
        return Failure("rate_limited", resume, f"claude CLI rate limited (429): {detail}")
    label = f"api_error_status {status}" if status is not None else f"exit code {returncode}"
    return Failure("transient", None, f"claude CLI failed ({label}): {detail}")


def _parse_cli_output(stdout: str) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """(the last `result` object, the `rate_limit_event` objects) from json / stream-json output."""
    text = stdout.strip()
    objects: list[Any] = []
    if text.startswith("{"):
        try:
            objects = [json.loads(text)]
        except ValueError:
            for line in text.splitlines():
                line = line.strip()
                if not line.startswith("{"):
                    continue
                try:
                    objects.append(json.loads(line))
                except ValueError:
                    continue
    elif text.startswith("["):  # some versions print the whole stream as an array
        try:
            parsed = json.loads(text)
            objects = parsed if isinstance(parsed, list) else []
        except ValueError:
            objects = []
    result: dict[str, Any] | None = None
    events: list[dict[str, Any]] = []
    for obj in objects:
        if not isinstance(obj, dict):
            continue
        if obj.get("type") == "result":
            result = obj
        elif obj.get("type") == "rate_limit_event":
            events.append(obj)
    return result, events


def _cli_limit(texts: list[str], now: float, tz: str | None) -> Failure | None:
    for raw in texts:
        for line in raw.splitlines() or [raw]:
            line = line.strip()
            if not line:
                continue
            match = _CLI_EPOCH.match(line)
            if match:
                resume = _epoch(int(match.group("epoch")), now)
                return Failure("exhausted", resume, f"claude CLI: {line}")
            match = _CLI_RESETS.match(line) or _CLI_WILL_RESET.match(line)
            if match:
                resume = _cli_reset_time(match, now, tz)
                return Failure("exhausted", resume, f"claude CLI: {line}")
    return None


def _epoch(value: float, now: float) -> float:
    if value > 1e11:  # milliseconds
        value = value / 1000.0
    return float(value) if value > now else now + CLI_MIN_PAUSE


def _cli_reset_time(match: re.Match[str], now: float, tz: str | None) -> float | None:
    hour = int(match.group("hour"))
    minute = int(match.group("minute") or 0)
    ampm = (match.group("ampm") or "").lower()
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    elif match.group("minute") is None:
        return None  # a bare number is not a time
    if hour > 23 or minute > 59:
        return None
    zone = _zone(match.group("tz")) or _zone(tz) or local_zone()
    month = day = None
    if match.group("month"):
        month = _MONTHS[match.group("month").lower()]
        day = int(match.group("day"))
    # A reset a few minutes past (clock skew, minute rounding) means "about now", not tomorrow.
    since = datetime.fromtimestamp(now - CLI_RESET_GRACE, tz=UTC)
    try:
        when = next_occurrence(hour, minute, zone, since, month=month, day=day).timestamp()
    except ValueError:
        return None
    return max(when, now + CLI_MIN_PAUSE) if when <= now else when


def _cli_status(texts: list[str]) -> int | None:
    """The HTTP status the CLI reports in its own words, when it does."""
    for raw in texts:
        for line in raw.splitlines():
            line = line.strip()
            if _CLI_LOGIN.match(line):
                return 401
            match = _CLI_API_ERROR.match(line)
            if match:
                return int(match.group("status"))
    return None


def _first_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""
