"""Classification of the Claude CLI's output (sweepq.failures.cli), on what the real
binaries print.

The table replays every capture in tests/data/claude-cli/ (2.1.197 and 2.0.30, see the
README there) with "now" fixed to the capture time and TZ=Europe/London. Generated
sentences cover the forms the binary's code can print but that were not captured.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from conftest import examples
from hypothesis import given, settings
from hypothesis import strategies as st

from sweepq.failures.cli import classify_cli

DATA = Path(__file__).parents[1] / "data" / "claude-cli"
STAND_IN = Path(__file__).parents[1] / "bin" / "claude"
CAPTURED = datetime(2026, 11, 25, 21, 21, 16, tzinfo=UTC).timestamp()
LON = "Europe/London"


def utc(iso: str) -> float:
    return datetime.fromisoformat(iso).replace(tzinfo=UTC).timestamp()


def replay(name: str, now: float = CAPTURED, tz: str | None = None, data: Path = DATA):
    stdout = (data / f"{name}.stdout").read_text(encoding="utf-8")
    code = int((data / f"{name}.exit").read_text())
    return code, classify_cli(code, stdout, "", now=now, tz=tz)


@pytest.fixture
def london(monkeypatch):
    monkeypatch.setenv("TZ", LON)


RATE = ("rate_limited", CAPTURED + 60, "job")
TRANSIENT = ("transient", None, "job")
FATAL_RUN = ("fatal", None, "run")
# capture -> (kind, resume_at, scope); None for a success. Text times are to the minute
# (the sentence shows no seconds), stream-json's `resetsAt` to the second.
TABLE = {
    "ok": None, "ok-sj": None, "warn": None, "warn-sj": None,
    "session-10m": ("exhausted", utc("2026-11-25T21:31:00"), "job"),
    "session-10m-sj": ("exhausted", utc("2026-11-25T21:31:16"), "job"),
    "weekly-3d": ("exhausted", utc("2026-11-28T21:51:00"), "job"),
    "weekly-3d-sj": ("exhausted", utc("2026-11-28T21:51:20"), "job"),
    "opus-3d": ("exhausted", utc("2026-11-28T21:51:00"), "job"),
    "v2-limit_five_hour": ("exhausted", utc("2026-11-25T21:23:00"), "job"),
    "v2-limit_seven_day": ("exhausted", utc("2026-11-28T21:52:00"), "job"),
    "notlogged": FATAL_RUN, "auth401-oauth": FATAL_RUN, "auth401-oauthexp": FATAL_RUN,
    "auth403": FATAL_RUN, "key401": FATAL_RUN, "model404": FATAL_RUN,
    "credit": ("exhausted", None, "job"),
    "key429": RATE, "r429plain": RATE,
    "s500": TRANSIENT, "s529": TRANSIENT,
}


def test_the_tables_cover_every_capture():
    assert {p.stem for p in DATA.glob("*.stdout")} == set(TABLE)
    assert {p.stem for p in DATA_328.glob("*.stdout")} == set(TABLE_328)


@pytest.mark.parametrize("name", sorted(TABLE))
def test_every_capture_classifies(london, name):
    code, failure = replay(name)
    expected = TABLE[name]
    if expected is None:
        assert code == 0 and failure is None
        return
    assert code == 1 and failure is not None
    assert (failure.kind, failure.resume_at, failure.reach) == expected, failure
    assert "\n" not in failure.message and len(failure.message) <= 300


def test_stream_json_names_the_limit_type(london):
    _, failure = replay("weekly-3d-sj")
    assert "weekly limit" in failure.message and "seven_day" in failure.message


@pytest.mark.parametrize("name, words", [
    ("notlogged", "/login"), ("key401", "/login"), ("auth403", "/login"),
    ("model404", "sweepq models --sweep"), ("credit", "sweepq resume"),
])
def test_the_message_says_what_to_do(london, name, words):
    _, failure = replay(name)
    assert words in failure.message


def test_model404_names_the_model(london):
    _, failure = replay("model404")
    assert "'claude-haiku-4-5'" in failure.message


def test_v2_time_without_zone_is_read_in_the_machine_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")  # 9:23pm EST = 02:23 UTC next day
    _, failure = replay("v2-limit_five_hour")
    assert failure.resume_at == utc("2026-11-26T02:23:00")


# -- the stream-json assistant message's `error` field ---------------------------------------

def stream(error: str, text: str, status=None, code: int = 1) -> tuple[int, str]:
    lines = [
        {"type": "system", "subtype": "init"},
        {"type": "assistant", "message": {"content": [{"type": "text", "text": text}]},
         "error": error},
        {"type": "result", "is_error": True, "result": text, "api_error_status": status},
    ]
    return code, "\n".join(json.dumps(line) for line in lines)


@pytest.mark.parametrize("error, kind, scope", [
    ("authentication_failed", "fatal", "run"),
    ("oauth_org_not_allowed", "fatal", "run"),
    ("model_not_found", "fatal", "run"),
    ("billing_error", "exhausted", "job"),
    ("rate_limit", "rate_limited", "job"),
    ("overloaded", "transient", "job"),
    ("server_error", "transient", "job"),
    ("unknown", "transient", "job"),
    ("invalid_request", "fatal", "job"),
])
def test_the_error_field_decides_when_nothing_else_does(error, kind, scope):
    code, stdout = stream(error, "Something went wrong")
    failure = classify_cli(code, stdout, "", now=CAPTURED)
    assert (failure.kind, failure.reach) == (kind, scope)


# -- answers are answers ---------------------------------------------------------------------

def answer(text: str) -> str:
    return json.dumps({"type": "result", "is_error": False, "result": text})


@pytest.mark.parametrize("text", [
    "The log said: You've hit your session limit · resets 9:31pm (Europe/London).\nAnswer: A",
    "You've hit your session limit · resets 9:31pm (Europe/London)\nAnswer: B",
    "Quoting the CLI, \"Weekly limit reached ∙ resets Nov 28, 9:52pm\", the answer is (A).",
    "Answer: Claude AI usage limit reached|1795642276 is what it printed",
])
def test_an_answer_quoting_a_limit_sentence_is_an_answer(text):
    assert classify_cli(0, answer(text), "", now=CAPTURED, tz=LON) is None
    assert classify_cli(0, text + "\n", "", now=CAPTURED, tz=LON) is None


def test_an_answer_that_is_only_a_limit_sentence_is_a_limit():
    """Old CLIs printed the limit as the answer with exit 0."""
    failure = classify_cli(0, "Claude AI usage limit reached|1795642276\n", "", now=CAPTURED)
    assert (failure.kind, failure.resume_at) == ("exhausted", 1795642276.0)


# -- forms not captured ------------------------------------------------------------------------

@pytest.mark.parametrize("line, now, resume_at", [
    ("Claude AI usage limit reached|1795642276", CAPTURED, 1795642276.0),
    ("Claude AI usage limit reached|0", CAPTURED, None),  # 1.0-series: time unknown
    ("You've hit your usage limit", CAPTURED, None),  # `· resets` left out: unknown
    ("You've hit your monthly spend limit · raise it at claude.ai/settings/usage",
     CAPTURED, None),
    ("You've hit your limit · resets Jul 11 at 12pm (Europe/London)", CAPTURED,
     utc("2027-07-11T11:00:00")),  # macOS date form; BST in July
    ("You've hit your Sonnet limit · resets Jan 14, 2027, 9:21pm (Europe/London)", CAPTURED,
     utc("2027-01-14T21:21:00")),
    ("You've hit your weekly limit · resets Jan 1, 12:10am (UTC)",
     utc("2026-12-31T23:50:00"), utc("2027-01-01T00:10:00")),  # crosses the year
    ("You've hit your session limit · resets 12am (UTC)", utc("2026-11-25T21:00:00"),
     utc("2026-11-26T00:00:00")),
    ("You've hit your session limit · resets 12pm (UTC)", utc("2026-11-25T09:00:00"),
     utc("2026-11-25T12:00:00")),
    ("5-hour limit reached ∙ resets 2am", utc("2026-11-25T21:00:00"),
     utc("2026-11-26T02:00:00")),
    ("Claude usage limit reached. Your limit will reset at 3pm (Europe/Stockholm).",
     utc("2026-11-25T10:00:00"), utc("2026-11-25T14:00:00")),
    # a reset a minute ago (skew, rounding) is "about now", not tomorrow
    ("You've hit your session limit · resets 9:20pm (Europe/London)", CAPTURED,
     CAPTURED + 60),
])
def test_uncaptured_forms(line, now, resume_at):
    failure = classify_cli(1, json.dumps({"type": "result", "is_error": True,
                                          "result": line}), "", now=now, tz="UTC")
    assert (failure.kind, failure.resume_at) == ("exhausted", resume_at), failure


@pytest.mark.parametrize("text", [
    "Claude AI usage limit reached|1762952400 and then some",
    "note: 5-hour limit reached ∙ resets 2am",
    "5-hour limit reached - resets 2am",  # not the CLI's separator
    "You have a limit of 3 questions",
])
def test_near_misses_are_not_limits(text):
    failure = classify_cli(1, text + "\n", "", now=CAPTURED, tz="UTC")
    assert failure is not None and failure.kind == "transient"


# What a limit holds back (the pause's scope): one Claude model family for that family's own
# limit (README of the captures: `Opus limit`, `Sonnet limit`; `rateLimitType`
# `seven_day_opus`, `seven_day_sonnet`), everything (None) for session and weekly limits.
@pytest.mark.parametrize("name, scope", [
    ("opus-3d", "claude-opus"), ("weekly-3d", None), ("weekly-3d-sj", None),
    ("session-10m", None), ("v2-limit_seven_day", None),
])
def test_a_model_family_limit_holds_back_only_that_family(london, name, scope):
    _, failure = replay(name)
    assert failure.pause_scope == scope


@pytest.mark.parametrize("line, scope", [
    ("Opus weekly limit reached \u2219 resets 3pm", "claude-opus"),       # 2.0 series
    ("Sonnet weekly limit reached \u2219 resets 3pm", "claude-sonnet"),
    ("You've hit your Sonnet limit \u00b7 resets 9:31pm (Europe/London)", "claude-sonnet"),
    ("You've hit your Opus 4.6 limit", "claude-opus"),
    ("You've hit your Haiku usage limit \u00b7 resets Jan 14, 2027, 9:21pm (UTC)",
     "claude-haiku"),
    ("You've hit your usage limit \u00b7 resets 9:31pm (Europe/London)", None),
    ("Weekly limit reached \u2219 resets Nov 28, 9:51pm", None),
])
def test_family_limits_in_forms_not_captured(line, scope):
    failure = classify_cli(1, line + "\n", "", now=CAPTURED, tz=LON)
    assert failure.kind == "exhausted" and failure.pause_scope == scope


@pytest.mark.parametrize("limit_type, scope", [
    ("seven_day_opus", "claude-opus"), ("seven_day_sonnet", "claude-sonnet"),
    ("seven_day", None), ("five_hour", None),
])
def test_the_stream_s_limit_type_names_the_family(limit_type, scope):
    stdout = (
        '{"type":"rate_limit_event","rate_limit_info":{"status":"rejected",'
        f'"resetsAt":{int(CAPTURED) + 600},"rateLimitType":"{limit_type}"}}}}\n'
        '{"type":"result","is_error":true,"api_error_status":429,"result":"limit"}\n')
    failure = classify_cli(1, stdout, "", now=CAPTURED)
    assert failure.kind == "exhausted" and failure.pause_scope == scope


def test_rejected_event_without_reset_uses_the_text():
    stdout = "\n".join([
        '{"type":"rate_limit_event","rate_limit_info":{"status":"rejected"}}',
        '{"type":"result","is_error":true,"api_error_status":429,'
        '"result":"You\'ve hit your weekly limit \u00b7 resets 3am (Europe/London)"}',
    ])
    failure = classify_cli(1, stdout, "", now=utc("2026-07-15T00:00:00"))
    assert (failure.kind, failure.resume_at) == ("exhausted", utc("2026-07-15T02:00:00"))


def test_rejected_event_on_a_successful_run_is_success():
    """The CLI may fall back to another model: the answer stands."""
    stdout = "\n".join([
        '{"type":"rate_limit_event","rate_limit_info":{"status":"rejected",'
        '"resetsAt":1795642276,"rateLimitType":"seven_day_opus"}}',
        '{"type":"result","is_error":false,"result":"Answer: B"}',
    ])
    assert classify_cli(0, stdout, "", now=CAPTURED) is None


# -- generated sentences ---------------------------------------------------------------------

MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
STEADY_ZONES = ["UTC", "Asia/Tokyo", "Asia/Kolkata", "America/Recife", "Africa/Nairobi"]
NAMES = st.lists(st.sampled_from(["session", "weekly", "Opus", "Sonnet", "Haiku", "usage",
                                  "monthly", "daily", "extra", "team", "Fable"]),
                 max_size=3).map(lambda words: " ".join([*words, "limit"]))


def clock(at: datetime, drop_zero_minutes: bool) -> str:
    hour = f"{at.hour % 12 or 12}"
    minutes = "" if drop_zero_minutes and at.minute == 0 else f":{at.minute:02d}"
    return f"{hour}{minutes}{'pm' if at.hour >= 12 else 'am'}"


@settings(max_examples=examples(300), deadline=None)
@given(
    name=NAMES,
    zone=st.sampled_from(STEADY_ZONES),
    ahead=st.integers(min_value=2 * 60, max_value=360 * 86400),
    form=st.sampled_from(["time", "date", "year", "at"]),
    modern=st.booleans(), with_zone=st.booleans(),
    dot=st.sampled_from(["\u00b7", "\u2219"]), apostrophe=st.sampled_from(["'", "\u2019"]),
    now=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2030, 12, 1),
                     timezones=st.just(UTC)),
)
def test_generated_limit_sentences(name, zone, ahead, form, modern, with_zone, dot,
                                   apostrophe, now):
    tz = ZoneInfo(zone)
    reset = (now + timedelta(seconds=ahead)).astimezone(tz).replace(second=0, microsecond=0)
    if form == "at":
        reset = reset.replace(minute=0)
    local_now = now.astimezone(tz)
    if form == "time" and reset.date() != local_now.date():
        form = "date"
    if form == "date" and reset.year != local_now.year:
        form = "year"
    if reset.timestamp() <= now.timestamp():
        return
    day = f"{MONTHS[reset.month - 1]} {reset.day}"
    when = {"time": clock(reset, False), "date": f"{day}, {clock(reset, False)}",
            "year": f"{day}, {reset.year}, {clock(reset, False)}",
            "at": f"{day} at {clock(reset, True)}"}[form]
    if form == "at" and reset.year != local_now.year and reset - local_now > timedelta(
            days=300):
        return  # `at` carries no year: only the next occurrence is meant
    if with_zone:
        when += f" ({zone})"
    sentence = (f"You{apostrophe}ve hit your {name} {dot} resets {when}" if modern
                else f"{name[0].upper()}{name[1:]} reached {dot} resets {when}")
    failure = classify_cli(1, json.dumps({"type": "result", "is_error": True,
                                          "result": sentence}), "", now=now.timestamp(),
                           tz=None if with_zone else zone)
    assert failure is not None and failure.kind == "exhausted", sentence
    assert failure.resume_at == reset.timestamp(), sentence


# -- the stand-in ------------------------------------------------------------------------------

def stand_in(scenario: str, fmt: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(STAND_IN), "-p", "--output-format", fmt, "--verbose"],
        input="Which option? (A) one (B) two", capture_output=True, text=True,
        encoding="utf-8", timeout=30, check=False,
        env={**os.environ, "TZ": LON, "FAKE_CLAUDE_SCENARIO": scenario, **env})


def test_stand_in_is_an_executable_script():
    assert STAND_IN.read_text().startswith("#!/usr/bin/env python3\n")
    assert os.access(STAND_IN, os.X_OK)


@pytest.mark.parametrize("name", sorted(n for n in TABLE if not n.endswith("-sj")))
@pytest.mark.parametrize("fmt", ["json", "stream-json"])
def test_stand_in_replays_the_captures_at_their_time(london, name, fmt):
    done = stand_in(name, fmt, FAKE_CLAUDE_NOW=str(CAPTURED))
    failure = classify_cli(done.returncode, done.stdout, done.stderr, now=CAPTURED)
    sj = fmt == "stream-json" and (DATA / f"{name}-sj.stdout").exists()
    expected = TABLE[f"{name}-sj" if sj else name]
    assert (None if failure is None else (failure.kind, failure.resume_at, failure.reach)) \
        == expected


@pytest.mark.parametrize("fmt, resume_in", [("stream-json", 5), ("json", 0)])
def test_stand_in_moves_the_reset(london, fmt, resume_in):
    """A reset 5 s away: exact with stream-json; the sentence alone says the minute."""
    now = time.time()
    done = stand_in("session-10m", fmt, FAKE_CLAUDE_NOW=str(now), FAKE_CLAUDE_RESET_IN="5")
    failure = classify_cli(done.returncode, done.stdout, "", now=now)
    assert failure.kind == "exhausted"
    if resume_in:
        assert failure.resume_at == int(now + 5)
    else:
        minute = datetime.fromtimestamp(int(now + 5), UTC).replace(second=0).timestamp()
        assert failure.resume_at in (minute, now + 60)


def test_stand_in_answers_score():
    done = stand_in("ok", "stream-json")
    assert done.returncode == 0 and classify_cli(0, done.stdout, "") is None
    assert '"result":"The first option fits.\\nAnswer: A"' in done.stdout
    assert stand_in("ok", "text").stdout.strip().endswith("Answer: A")


# -- 2.1.328 (tests/data/claude-cli/2.1.328, its README) -------------------------------------

DATA_328 = DATA / "2.1.328"
CAPTURED_328 = datetime(2026, 12, 3, 8, 8, 32, tzinfo=UTC).timestamp()
INTERRUPTED = ("interrupted", None, "job")
RATE_328 = ("rate_limited", CAPTURED_328 + 60, "job")
DEC6 = utc("2026-12-06T08:38:00")
# capture -> (kind, resume_at, scope, pause_scope); None for a success.
TABLE_328 = {
    **{name: None for name in ("ok", "ok-sj", "warn", "warn-sj")},
    "session-10m": ("exhausted", utc("2026-12-03T08:18:00"), "job", None),
    "session-10m-sj": ("exhausted", 1796285912.0, "job", None),
    "weekly-3d": ("exhausted", DEC6, "job", None),
    "weekly-3d-sj": ("exhausted", 1796546314.0, "job", None),
    "weekly-50d": ("exhausted", utc("2027-01-22T08:08:00"), "job", None),
    "weekly-50d-sj": ("exhausted", 1800605316.0, "job", None),
    "opus-3d": ("exhausted", DEC6, "job", "claude-opus"),
    "opus-3d-sj": ("exhausted", 1796546319.0, "job", "claude-opus"),
    "sonnet-3d": ("exhausted", DEC6, "job", "claude-sonnet"),
    "sonnet-3d-sj": ("exhausted", 1796546322.0, "job", "claude-sonnet"),
    "overage-rej-3d": ("exhausted", DEC6, "job", None),
    "overage-rej-3d-sj": ("exhausted", 1796546324.0, "job", None),
    **{f"{name}{sj}": (*FATAL_RUN, None) for sj in ("", "-sj") for name in (
        "notlogged", "auth401-oauth", "auth401-oauthexp", "auth403", "key401", "model404")},
    "credit": ("exhausted", None, "job", None), "credit-sj": ("exhausted", None, "job", None),
    **{f"{name}{sj}": (*RATE_328, None) for sj in ("", "-sj") for name in ("key429",
                                                                          "r429plain")},
    **{f"{name}{sj}": (*TRANSIENT, None) for sj in ("", "-sj") for name in ("s500", "s529")},
    "sigint": (*INTERRUPTED, None), "sigint-sj": (*INTERRUPTED, None),
}


def replay_328(name: str):
    return replay(name, CAPTURED_328, data=DATA_328)


@pytest.mark.parametrize("name", sorted(TABLE_328))
def test_every_2_1_328_capture_classifies(london, name):
    code, failure = replay_328(name)
    if TABLE_328[name] is None:
        assert code == 0 and failure is None
        return
    assert (failure.kind, failure.resume_at, failure.reach, failure.pause_scope) == \
        TABLE_328[name], name
    assert "\n" not in failure.message and len(failure.message) <= 300
    assert "/home/researcher" not in failure.message and '{"' not in failure.message


def test_a_ctrl_c_with_exit_0_is_never_an_answer():
    """2.1.328 interrupted by SIGINT: exit 0, the `init` line and a user message
    `[Request interrupted by user]`, no result (4 of 4 became `unparseable` answers)."""
    code, failure = replay_328("sigint-sj")
    assert code == 0 and failure.kind == "interrupted"
    assert classify_cli(0, "", "").kind == "interrupted"        # json: nothing printed


@pytest.mark.parametrize("result", [
    {"type": "result", "subtype": "error_during_execution", "is_error": True, "result": None},
    {"type": "result", "subtype": "error_during_execution", "is_error": False},
    {"type": "result", "subtype": "success", "is_error": True, "result": None},
])
def test_a_result_cut_short_is_interrupted(result):
    stdout = (DATA_328 / "sigint-sj.stdout").read_text() + json.dumps(result) + "\n"
    assert classify_cli(0, stdout, "", now=CAPTURED_328).kind == "interrupted"


@pytest.mark.parametrize("returncode, words", [(-2, "SIGINT"), (-15, "SIGTERM"),
                                               (-9, "SIGKILL")])
def test_a_run_ended_by_a_signal_is_interrupted(returncode, words):
    ok = (DATA_328 / "ok-sj.stdout").read_text()
    failure = classify_cli(returncode, ok, "")
    assert failure.kind == "interrupted" and words in failure.message


def test_a_plain_429_with_a_rejected_event_is_a_per_minute_limit():
    """r429plain-sj: `rate_limit_event` `rejected` with no `rateLimitType`/`resetsAt`,
    a 429 and `(not your usage limit)`: a pause of the advised time, not exhaustion."""
    _, failure = replay_328("r429plain-sj")
    assert failure.kind == "rate_limited" and failure.resume_at == CAPTURED_328 + 60
    assert "not your usage limit" in failure.message


def test_an_api_retry_line_names_the_status_of_a_stopped_run():
    """A run stopped at its first `api_retry` line (no result yet): its status decides."""
    stdout = "".join(line for line in (DATA_328 / "key401-sj.stdout").open()
                     if '"type":"result"' not in line and '"type":"assistant"' not in line)
    assert '"api_retry"' in stdout
    failure = classify_cli(1, stdout, "", now=CAPTURED_328)
    assert (failure.kind, failure.reach) == ("fatal", "run")


def test_stand_in_plays_2_1_328(london):
    done = stand_in("r429plain", "stream-json", FAKE_CLAUDE_VERSION="2.1.328",
                    FAKE_CLAUDE_NOW=str(CAPTURED_328))
    failure = classify_cli(done.returncode, done.stdout, "", now=CAPTURED_328)
    assert failure.kind == "rate_limited"
    text = stand_in("ok", "text", FAKE_CLAUDE_VERSION="2.1.328")
    assert text.returncode == 0 and text.stdout.strip().endswith("Answer: B")
