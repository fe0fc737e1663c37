"""Classifying one run of the Claude CLI (`claude -p`, subscription or API-key users).

Ground truth: the captured output of the real binaries in `tests/data/claude-cli/`.
Signals, strongest first:

1. stream-json's `rate_limit_event` with `status: rejected`: `resetsAt` is the exact
   resume instant, `rateLimitType` the kind of limit;
2. the limit sentence, in the `result` line, plain text or stderr:
   `You've hit your <name> · resets <time>` (2.1.x; `· resets …` absent when unknown),
   `<Name> limit reached ∙ resets <time>` (2.0.x, no zone: the machine's applies),
   `Claude AI usage limit reached|<unix seconds>` (1.0.x; `|0` = unknown);
3. the CLI's own words for login, credit and model problems, `api_error_status`, and the
   stream-json assistant message's `error` field.

A successful run is never a failure unless its *whole* answer is a limit sentence (old
CLIs printed it with exit 0): an answer that quotes one inside longer text is an answer.

An interrupted run is never an answer either (2.1.328 captures, `sigint`): Ctrl-C makes
the CLI exit 0 with no `result` line, or with a `result` of subtype
`error_during_execution` and `result: null`; a run ended by a signal has a negative
return code. Those are `interrupted`, whatever the exit status says.

A `rate_limit_event` is read by its fields: `rejected` with a `rateLimitType` or a
`resetsAt` is a spent subscription window; `rejected` without either comes with a plain
429 (`Server is temporarily limiting requests (not your usage limit)`), a per-minute
rate limit. `system`/`api_retry` lines (the CLI retrying on its own) carry the status of
the failure being retried.
"""

from __future__ import annotations

import json
import re
import signal
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from ..timefmt import local_zone, next_occurrence, wall_instants, zone
from ..vendors.target import claude_family
from . import DEFAULT_RATE_LIMIT_PAUSE, Failure

CLI_RESET_GRACE = 300.0  # seconds: a reset time this recently passed is "now", not tomorrow
CLI_MIN_PAUSE = 60.0  # seconds: the shortest pause for a limit whose reset just passed

LOGIN_ADVICE = "log in again (`claude`, then /login) or fix the key, then `sweepq resume`"
# `SWEEP` is replaced by the worker with the sweep's name.
MODEL_ADVICE = "set another id with `sweepq models --sweep SWEEP ALIAS=MODEL_ID`"
CREDIT_ADVICE = "a person must act (add credit), then `sweepq resume`"

_SEP = r"\s*[\u2219\u00b7\u2022]\s*"  # `∙` (2.0.x), `·` (2.1.x); `•` seen in some terminals
_MONTHS = {name: i for i, names in enumerate((
    ("jan", "january"), ("feb", "february"), ("mar", "march"), ("apr", "april"), ("may",),
    ("jun", "june"), ("jul", "july"), ("aug", "august"), ("sep", "sept", "september"),
    ("oct", "october"), ("nov", "november"), ("dec", "december")), start=1) for name in names}
_MONTH_RE = "|".join(sorted(_MONTHS, key=len, reverse=True))
# `9:31pm (Europe/London)`, `Nov 28, 9:51pm (Zone)`, `Jan 14, 2027, 9:21pm (Zone)`,
# `Jul 11 at 12pm`, `21:31`.
_TIME = (
    r"(?:(?P<month>" + _MONTH_RE + r")\.?\s+(?P<day>\d{1,2})(?:st|nd|rd|th)?"
    r"(?:,?\s+(?P<year>\d{4}))?(?:,\s*|\s+at\s+|\s+))?"
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?\s?(?P<ampm>[ap]\.?m\.?)?"
    r"(?:\s+\((?P<tz>[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z0-9_+\-]+)*)\))?"
)
_NAME = r"(?P<name>(?:[\w'\u2019+.\-]+\s+){0,4}?(?:limit|quota|cap|allowance))"
_RESETS = r"(?:" + _SEP + r"resets?\s+(?:at\s+)?" + _TIME + r")?"
_TAIL = r"(?:" + _SEP + r"[^\n]*)?\.?"
_YOU_HIT = re.compile(r"You(?:'|\u2019)ve hit your " + _NAME + _RESETS + _TAIL + r"$",
                      re.IGNORECASE)
_REACHED = re.compile(_NAME + r" reached" + _RESETS + _TAIL + r"$", re.IGNORECASE)
_WILL_RESET = re.compile(r"Claude usage limit reached\. Your limit will reset at " + _TIME
                         + r"\.?$", re.IGNORECASE)
_EPOCH = re.compile(r"Claude AI usage limit reached\|(?P<epoch>\d{1,13})$")

_NOT_LOGGED_IN = re.compile(r"^(?:Not logged in|Invalid API key|Failed to authenticate|"
                            r"OAuth token (?:has expired|revoked))\b", re.IGNORECASE)
_MODEL = re.compile(r"^There(?:'|\u2019)s an issue with the selected model(?: \((?P<model>"
                    r"[^)]+)\))?", re.IGNORECASE)
_CREDIT = re.compile(r"^(?:Your )?Credit balance is too low\b", re.IGNORECASE)
_API_ERROR = re.compile(r"^API Error: (?:[^(]*\()?(?P<status>[1-5]\d\d)\b")

# The stream-json assistant message's `error` field (from the 2.1.197 binary).
_ERROR_FIELD_STATUS = {"authentication_failed": 401, "oauth_org_not_allowed": 403,
                       "billing_error": 402, "rate_limit": 429, "model_not_found": 404,
                       "overloaded": 529, "server_error": 500, "invalid_request": 400,
                       "max_output_tokens": 400}


@dataclass
class CliOutput:
    """What one CLI run printed, read once."""

    result: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # assistant messages' `error` fields
    retries: list[dict[str, Any]] = field(default_factory=list)  # `system`/`api_retry` lines
    structured: bool = False  # some JSON was printed: a stream (or object) without a result
                              # is an unfinished run, not plain text

    @property
    def text(self) -> str:
        value = self.result.get("result") if self.result is not None else None
        return value if isinstance(value, str) else ""


def classify_cli(returncode: int, stdout: str, stderr: str, now: float | None = None,
                 tz: str | None = None, plain: bool = False) -> Failure | None:
    """Classify one `claude -p` run from its exit code and output; None when it succeeded.

    Reset times without a zone are read in `tz` (an IANA name), else the machine's zone.
    `plain`: the run was asked for plain text (`cli_reply = "text"`), so a reply that
    happens to be JSON is the model's answer, not a stream to read.
    """
    now = time.time() if now is None else now
    out = CliOutput() if plain else parse_output(stdout)
    stopped = interrupted(returncode, out, stdout)
    if stopped is not None:
        return stopped
    texts = [out.text] if out.result is not None else stdout.splitlines()
    texts += stderr.splitlines()
    is_error = bool(out.result.get("is_error")) if out.result is not None else False
    if returncode == 0 and not is_error:
        whole = out.text if out.result is not None else stdout
        return limit_sentence(whole.strip(), now, tz)
    return (_rejected_event(out, texts, now, tz) or _first_limit(texts, now, tz)
            or _by_words(out, texts, returncode, stderr, stdout, now))


def parse_output(stdout: str) -> CliOutput:
    """The last `result` object, the `rate_limit_event`s and the assistant `error` fields
    from `--output-format json` / `stream-json` output; empty for plain text."""
    out = CliOutput()
    found = _json_objects(stdout)
    for obj in found:
        kind = obj.get("type")
        if kind == "result":
            out.result = obj
        elif kind == "rate_limit_event":
            out.events.append(obj)
        elif kind == "assistant" and isinstance(obj.get("error"), str):
            out.errors.append(obj["error"])
        elif kind == "system" and obj.get("subtype") == "api_retry":
            out.retries.append(obj)
    out.structured = bool(found)
    return out


def interrupted(returncode: int, out: CliOutput, stdout: str) -> Failure | None:
    """The run stopped before it answered (a signal, Ctrl-C): `interrupted`, else None.

    Ended by a signal (negative return code); or exit 0 with no `result` where one was
    due (a stream without its last line, or nothing printed at all); or a `result` that
    says the run was cut short (`error_during_execution`, `result: null`) without an API
    error to classify instead.
    """
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return Failure("interrupted", None, f"claude CLI ended by {name} before answering")
    if out.result is None:
        if returncode == 0 and (out.structured or not stdout.strip()):
            return Failure("interrupted", None, "claude CLI interrupted: it exited "
                           "without a result (Ctrl-C or a signal)")
        return None
    cut_short = (out.result.get("subtype") == "error_during_execution"
                 or out.result.get("result", "") is None)
    if cut_short and not isinstance(out.result.get("api_error_status"), int):
        return Failure("interrupted", None, "claude CLI interrupted: its result says "
                       f"{out.result.get('subtype') or 'nothing'} (Ctrl-C or a signal)")
    return None


def _json_objects(stdout: str) -> list[dict[str, Any]]:
    text = stdout.strip()
    if text.startswith("["):  # some versions print the whole stream as one array
        try:
            parsed = json.loads(text)
        except ValueError:
            parsed = []
        return [o for o in parsed if isinstance(o, dict)] if isinstance(parsed, list) else []
    found = []
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            continue
        if isinstance(obj, dict):
            found.append(obj)
    return found


def _rejected_event(out: CliOutput, texts: list[str], now: float,
                    tz: str | None) -> Failure | None:
    """A rejected `rate_limit_event` naming its window: exhausted until `resetsAt`, to the
    second. One naming neither `rateLimitType` nor `resetsAt` is a plain 429 (2.1.328,
    `r429plain`): left to the status, a per-minute rate limit."""
    for event in out.events:
        info = event.get("rate_limit_info")
        if not isinstance(info, dict) or info.get("status") != "rejected":
            continue
        if not (info.get("rateLimitType") or info.get("resetsAt")) \
                and _first_limit(texts, now, tz) is None:
            continue
        from_text = _first_limit(texts, now, tz)
        resets_at = info.get("resetsAt")
        if isinstance(resets_at, (int, float)) and not isinstance(resets_at, bool) and resets_at:
            resume: float | None = _epoch(resets_at, now)
        else:
            resume = from_text.resume_at if from_text is not None else None
        kind = info.get("rateLimitType") or "usage"
        said = from_text.message if from_text is not None else "claude CLI: usage limit reached"
        scope = claude_family(str(kind)) or (from_text.pause_scope if from_text else None)
        return Failure("exhausted", resume, f"{said} [rateLimitType {kind}]", pause_scope=scope)
    return None


def _first_limit(texts: list[str], now: float, tz: str | None) -> Failure | None:
    for raw in texts:
        for line in raw.splitlines():
            failure = limit_sentence(line.strip(), now, tz)
            if failure is not None:
                return failure
    return None


def limit_sentence(line: str, now: float, tz: str | None = None) -> Failure | None:
    """`line` as a whole is one of the CLI's usage-limit sentences: exhausted until its
    reset (None when it names no readable time). Anything else: None."""
    if not line or "\n" in line or len(line) > 300:
        return None
    match = _EPOCH.match(line)
    if match:
        epoch = int(match.group("epoch"))
        return Failure("exhausted", _epoch(epoch, now) if epoch else None, f"claude CLI: {line}")
    match = _YOU_HIT.match(line) or _REACHED.match(line) or _WILL_RESET.match(line)
    if match is None:
        return None
    resume = _reset_time(match, now, tz) if match.group("hour") else None
    # `Opus limit`, `Opus weekly limit`: one model family's own limit holds back only the
    # arms that call that family; a session or weekly limit holds back everything.
    name = match.groupdict().get("name") or ""
    return Failure("exhausted", resume, f"claude CLI: {line}", pause_scope=claude_family(name))


def _by_words(out: CliOutput, texts: list[str], returncode: int, stderr: str, stdout: str,
              now: float) -> Failure:
    """Login, model, credit, rate and server failures from the CLI's words and statuses."""
    lines = [line.strip() for raw in texts for line in raw.splitlines() if line.strip()]
    status = out.result.get("api_error_status") if out.result is not None else None
    status = status if isinstance(status, int) else _status_in(lines, out)
    # Never a JSON line as the detail: the stream's `init` line holds paths and settings.
    plain = "" if out.structured else _first_line(stdout)
    detail = out.text or _first_line(stderr) or plain or "no output"
    model = next((m for m in map(_MODEL.match, lines) if m), None)
    if any(_NOT_LOGGED_IN.match(line) for line in lines) or status in (401, 403):
        return Failure("fatal", None, f"claude CLI not authorised ({status or 'no login'}): "
                       f"{LOGIN_ADVICE} - {detail}", reach="run")
    if model is not None or status == 404:
        named = f"model {model.group('model')!r}" if model and model.group("model") else "model"
        return Failure("fatal", None, f"claude CLI: {named} not found or not allowed (404): "
                       f"{MODEL_ADVICE} - {detail}", reach="run")
    if any(_CREDIT.match(line) for line in lines) or status == 402:
        return Failure("exhausted", None, f"claude CLI: credit balance too low: "
                       f"{CREDIT_ADVICE} - {detail}")
    if status == 429:
        # No reset to read: the CLI passes no retry-after on. A per-minute limit.
        return Failure("rate_limited", now + DEFAULT_RATE_LIMIT_PAUSE,
                       f"claude CLI rate limited (429): {detail}")
    if status == 400 and out.errors:
        return Failure("fatal", None, f"claude CLI request rejected ({out.errors[-1]}): {detail}")
    label = f"api_error_status {status}" if status is not None else f"exit code {returncode}"
    return Failure("transient", None, f"claude CLI failed ({label}): {detail}")


def _status_in(lines: list[str], out: CliOutput) -> int | None:
    """The HTTP status the CLI reports in its own words, `error` fields or `api_retry`
    lines (a run stopped while the CLI retried), when it does."""
    for line in lines:
        match = _API_ERROR.match(line)
        if match:
            return int(match.group("status"))
    for name in reversed(out.errors):
        if name in _ERROR_FIELD_STATUS:
            return _ERROR_FIELD_STATUS[name]
    for retry in reversed(out.retries):
        status = retry.get("error_status")
        if isinstance(status, int) and not isinstance(status, bool):
            return status
    return None


def _epoch(value: float, now: float) -> float:
    if value > 1e11:  # milliseconds
        value = value / 1000.0
    return float(value) if value > now else now + CLI_MIN_PAUSE


def _reset_time(match: re.Match[str], now: float, tz: str | None) -> float | None:
    """The instant a `<time>` names, read in its zone, else `tz`, else the machine's."""
    clock = _clock(match)
    if clock is None:
        return None
    hour, minute = clock
    where = zone(match.group("tz")) or zone(tz) or local_zone()
    month = _MONTHS[match.group("month").lower()] if match.group("month") else None
    day = int(match.group("day")) if match.group("day") else None
    try:
        if match.group("year") and month is not None and day is not None:
            when = wall_instants(datetime(int(match.group("year")), month, day).date(),
                                 hour, minute, where)[0].timestamp()
        else:
            # A reset a few minutes past (skew, minute rounding) means "about now".
            since = datetime.fromtimestamp(now - CLI_RESET_GRACE, tz=UTC)
            when = next_occurrence(hour, minute, where, since, month=month,
                                   day=day).timestamp()
    except ValueError:
        return None
    return max(when, now + CLI_MIN_PAUSE) if when <= now else when


def _clock(match: re.Match[str]) -> tuple[int, int] | None:
    """(hour, minute) on a 24-hour clock; None for a bare number or an impossible time."""
    hour = int(match.group("hour"))
    minute = int(match.group("minute") or 0)
    ampm = (match.group("ampm") or "").replace(".", "").lower()
    if ampm:
        if not 1 <= hour <= 12:
            return None
        hour = hour % 12 + (12 if ampm == "pm" else 0)
    elif match.group("minute") is None:
        return None  # "resets 9" is not a time
    if hour > 23 or minute > 59:
        return None
    return hour, minute


def _first_line(text: str) -> str:
    return next((line.strip() for line in text.splitlines() if line.strip()), "")
