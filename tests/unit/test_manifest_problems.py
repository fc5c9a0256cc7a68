"""Manifest problems: each bad input gives `path:line:column: field: message`, never an exception."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.core.manifest import parse_manifest
from controller.core.quota import load_documents

NOW = datetime(2026, 1, 1, tzinfo=UTC)
HEAD = "apiVersion: cronplane/v1\nkind: Job\nmetadata: {name: j}\nspec:\n"
ACTION = "  action: {type: http, request: {method: GET, uri: 'http://example.test/'}}\n"


def problems(text: str, path: str = "m.yaml") -> list[str]:
    return [str(p) for p in load_documents({path: text.encode()}, NOW).problems]


def at(text: str, line: int, token: str, rest: str) -> str:
    """The expected problem text, with the column of ``token`` on ``line`` (1-based)."""
    column = text.splitlines()[line - 1].index(token) + 1 if token else 1
    return f"m.yaml:{line}:{column}: {rest}"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "  recurrence: {frequency: month, interval: 19}\n" + ACTION,
            ("5", "19", "recurrence.interval: 19 is above the maximum of 18 for frequency month"),
        ),
        (
            "  recurrence: {frequency: minute, interval: 0}\n" + ACTION,
            ("5", "0}", "recurrence.interval: 0 is below the minimum of 1"),
        ),
        (
            "  recurrence: {frequency: day, schedule: {weekDays: [monday]}}\n" + ACTION,
            (
                "5",
                "[monday]",
                "recurrence.schedule.weekDays: weekDays is allowed only with frequency week (not day)",
            ),
        ),
        (
            "  recurrence: {frequency: week, schedule: {monthDays: [1]}}\n" + ACTION,
            (
                "5",
                "[1]",
                "recurrence.schedule.monthDays: monthDays is allowed only with frequency month (not week)",
            ),
        ),
        (
            "  recurrence: {frequency: weekly}\n" + ACTION,
            ("5", "weekly", "recurrence.frequency: 'weekly' is not one of: minute, hour, day, week, month"),
        ),
        (
            "  recurrence: {frequency: day, schedule: {hours: [24]}}\n" + ACTION,
            ("5", "24", "recurrence.schedule.hours[0]: 24 is above the maximum of 23"),
        ),
        (
            "  recurrence: {frequency: month, schedule: {monthDays: [0]}}\n" + ACTION,
            ("5", "0]", "recurrence.schedule.monthDays[0]: 0 is not allowed"),
        ),
        ("  cron: '61 * * * *'\n" + ACTION, ("5", "'61", "cron: cron minute: '61' is outside 0-59")),
        (
            "  cron: '* * * * *'\n  rrule: FREQ=DAILY\n" + ACTION,
            ("6", "FREQ", "rrule: give only one of recurrence, cron and rrule (found cron, rrule)"),
        ),
        (
            "  timeZone: Mars/Olympus\n" + ACTION,
            ("5", "Mars", "timeZone: 'Mars/Olympus' is not an IANA time zone"),
        ),
        (
            "  startTime: 2016-13-01\n" + ACTION,
            ("5", "2016-13", "startTime: '2016-13-01' is not a valid ISO 8601 date"),
        ),
        ("  action: {type: http}\n", ("5", "{type: http}", "action.request: required field is missing")),
        (
            "  action: {type: https, request: {method: GET, uri: 'http://x.test/'}}\n",
            ("5", "'http://x.test/'", "action.request.uri: an https action needs an https:// uri"),
        ),
        (ACTION + "  colour: blue\n", ("6", "colour", "colour: unknown field")),
        (
            "  action: {type: http, request: {method: GET, uri: 'http://x/'}, retryPolicy: {retryType: fixed, retryCount: 21}}\n",
            ("5", "21", "action.retryPolicy.retryCount: 21 is above the maximum of 20"),
        ),
        (
            "  action: {type: http, request: {method: GET, uri: 'http://x/'}, retryPolicy: {retryType: fixed, retryInterval: PT10S}}\n",
            ("5", "PT10S", "action.retryPolicy.retryInterval: PT10S is below the minimum of 15 s"),
        ),
        (
            "  action: {type: https, request: {method: GET, uri: 'https://x/', authentication: {type: basic, username: u, password: p}}}\n",
            (
                "5",
                "p}",
                "action.request.authentication.password: inline secrets are not allowed; "
                "use {valueFrom: {env: NAME}} or {valueFrom: {file: PATH}}",
            ),
        ),
    ],
)
def test_job_problem(body: str, expected: tuple[str, str, str]) -> None:
    line, token, rest = expected
    wanted = at(HEAD + body, int(line), token, rest)
    found = problems(HEAD + body)
    assert any(p.startswith(wanted) for p in found), (wanted, found)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"\xff\xfe\x00garbage", "m.yaml:1:1: file is not valid UTF-8 text"),
        (b"a: [1, 2\n", "m.yaml:2:1: YAML syntax error"),
        (b"- 1\n- 2\n", "m.yaml:1:1: a manifest document must be a mapping, not a list"),
        (b"just a scalar\n", "m.yaml:1:1: a manifest document must be a mapping, not a scalar"),
        (
            b"apiVersion: cronplane/v1\nkind: Gadget\nmetadata: {name: g}\n",
            "m.yaml:2:7: kind: unknown kind 'Gadget'",
        ),
        (b"apiVersion: v2\nkind: Job\n", "m.yaml:1:13: apiVersion: must be cronplane/v1"),
        (
            b"apiVersion: cronplane/v1\nkind: Job\nkind: Job\n",
            "m.yaml:3:1: kind: duplicate key 'kind' (first defined on line 2)",
        ),
        (
            b"apiVersion: cronplane/v1\nkind: Job\nmetadata: {name: Bad_Name}\nspec: {action: {type: http, request: {method: GET, uri: 'http://x/'}}}\n",
            "m.yaml:3:18: metadata.name: 'Bad_Name' is not valid",
        ),
        (
            b"a: &a [x, x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n"
            b"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\ne: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n",
            "m.yaml:1:1: document expands to more than 50000 nodes",
        ),
        (b"\x00\x01\x02binary", "m.yaml:1:1: file contains NUL bytes"),
        (b"[" * 200 + b"]" * 200, "m.yaml:1:1: document is nested more than 64 levels deep"),
    ],
)
def test_hostile_input(text: bytes, expected: str) -> None:
    found = [str(p) for p in parse_manifest("m.yaml", text).problems]
    assert any(p.startswith(expected) for p in found), found


def test_empty_documents_are_ignored() -> None:
    result = parse_manifest("m.yaml", b"---\n---\n# only a comment\n")
    assert result.problems == [] and result.jobs == []


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.text(max_size=400).map(str.encode))
def test_no_bytes_raise(data: bytes) -> None:
    result = parse_manifest("x.yaml", data)
    assert all(p.path == "x.yaml" and p.line >= 1 for p in result.problems)


def test_duplicate_job_names_both_files() -> None:
    doc = (HEAD + ACTION).encode()
    found = [str(p) for p in load_documents({"a.yaml": doc, "b.yaml": doc}, NOW).problems]
    assert any(
        p.startswith("b.yaml:3:18: metadata.name: duplicate job default/j (also defined at a.yaml:1)") for p in found
    )
    assert any(
        p.startswith("a.yaml:3:18: metadata.name: duplicate job default/j (also defined at b.yaml:1)") for p in found
    )


def test_problems_name_their_job() -> None:
    result = load_documents(
        {"m.yaml": (HEAD + "  recurrence: {frequency: month, interval: 19}\n" + ACTION).encode()}, NOW
    )
    assert {str(k) for k in result.invalid_jobs()} == {"default/j"}
    assert result.jobs == []


def test_job_too_large() -> None:
    big = "x" * 8000
    body = (
        f"  action: {{type: http, request: {{method: POST, uri: 'http://x/', headers: {{a: '{big}', b: '{big}'}}}}}}\n"
    )
    found = problems(HEAD + body)
    assert any("above the limit of 16000" in p for p in found), found


JOB = HEAD + "  action: {type: http, request: {method: GET, uri: 'http://example.test/'}}\n"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # instants and durations: parsed, bounded, never an exception
        (
            "  startTime: '9999-12-31T23:59:59Z'\n",
            ("6", "'9999", "startTime: '9999-12-31T23:59:59Z' is outside the supported range 1970-01-01 to 9998-12-31"),
        ),
        (
            "  startTime: '1970-01-01T00:00:00+14:00'\n",
            ("6", "'1970", "startTime: '1970-01-01T00:00:00+14:00' is outside the supported range"),
        ),
        (
            "  startingDeadline: '00:99:00'\n",
            ("6", "'00:99", "startingDeadline: '00:99:00' is not valid: must be an ISO 8601 duration like PT30S"),
        ),
        (
            "  startingDeadline: P999999999Y\n",
            ("6", "P999", "startingDeadline: 'P999999999Y' is not a duration of at most 100 years"),
        ),
        ("  timeZone: " + "a" * 300 + "\n", ("6", "aaa", "timeZone: 'aaaa")),
        ("  timeZone: Europe\n", ("6", "Europe", "timeZone: 'Europe' is not an IANA time zone")),
        ("  rrule: FREQ=MINUTELY;BYSECOND=99\n", ("6", "FREQ", "rrule: cannot be evaluated: second must be in 0..59")),
        (
            "  rrule: FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=31\n",
            ("6", "FREQ", "rrule: the rule never produces an occurrence"),
        ),
        # retry policy
        ("  startingDeadline: PT0S\n", ("6", "PT0S", "startingDeadline: must be longer than zero")),
    ],
)
def test_more_job_problems(body: str, expected: tuple[str, str, str]) -> None:
    text = JOB + body
    line, token, rest = expected
    wanted = at(text, int(line), token, rest)
    found = problems(text)
    assert any(p.startswith(wanted) for p in found), (wanted, found)


@pytest.mark.parametrize(
    ("action", "token", "expected"),
    [
        (
            "{type: http, request: {method: GET, uri: 'http://'}}",
            "'http://'",
            "action.request.uri: must be an absolute http:// or https:// URI with a host",
        ),
        (
            "{type: http, request: {method: GET, uri: 'ftp://x.test/'}}",
            "'ftp",
            "action.request.uri: 'ftp://x.test/' is not valid: must be an absolute http:// or https:// URI",
        ),
        (
            "{type: http, request: {method: GET, uri: 'http://a b.test/'}}",
            "'http",
            "action.request.uri: may not contain spaces or control characters",
        ),
        (
            "{type: http, request: {method: GET, uri: 'http://x.test:99999/'}}",
            "'http",
            "action.request.uri: is not a valid URI: Port out of range",
        ),
        (
            "{type: http, request: {method: GET, uri: 'http://x.test/', headers: {'bad name': v}}}",
            "'bad name'",
            "action.request.headers.bad name: 'bad name' is not valid: a header name is",
        ),
        (
            "{type: http, request: {method: GET, uri: 'http://x.test/', headers: {a: \"x\\ny\"}}}",
            '"x',
            "action.request.headers.a: 'x\\ny' is not valid: a header value may not contain line breaks",
        ),
        (
            "{type: http, request: {method: FETCH, uri: 'http://x.test/'}}",
            "FETCH",
            "action.request.method: 'FETCH' is not one of: GET, PUT, POST, DELETE, PATCH, HEAD, OPTIONS",
        ),
        (
            "{type: storageQueue, queueMessage: {queueName: q, message: m}}",
            "{queueName",
            "action.queueMessage: give storageAccount + sasToken, or connectionString",
        ),
        (
            "{type: serviceBusQueue, serviceBusQueueMessage: {queueName: q, message: m}}",
            "{queueName",
            "action.serviceBusQueueMessage: give namespace + authentication, or connectionString",
        ),
        (
            "{type: https, request: {method: GET, uri: 'https://x.test/', authentication: {type: clientCertificate, pfx: {valueFrom: {env: P}}, certificate: {valueFrom: {env: C}}, privateKey: {valueFrom: {env: K}}}}}",
            "{type: clientCertificate",
            "action.request.authentication: give pfx (with password if it has one) or certificate + privateKey (PEM), not both",
        ),
        (
            "{type: https, request: {method: GET, uri: 'https://x.test/', authentication: {type: basic, username: u}}}",
            "{type: basic",
            "action.request.authentication.password: required field is missing",
        ),
        (
            "{type: https, request: {method: GET, uri: 'https://x.test/', authentication: {type: basic, username: u, password: {valueFrom: {env: A, file: B}}}}}",
            "{env",
            "action.request.authentication.password.valueFrom: has 2 entries; at most 1 allowed",
        ),
        (
            "{type: http, request: {method: GET, uri: 'http://x.test/'}, retryPolicy: {retryType: exponential, retryInterval: PT1M, maxRetryInterval: PT10S}}",
            "PT10S",
            "action.retryPolicy.maxRetryInterval: must not be shorter than retryInterval",
        ),
        (
            "{type: http, request: {method: GET, uri: 'http://x.test/'}, retryPolicy: {retryType: fixed, maxRetryInterval: PT10M}}",
            "PT10M",
            "action.retryPolicy.maxRetryInterval: is used only with retryType exponential",
        ),
        (
            "{type: http, request: {method: GET, uri: 'http://x.test/'}, retryPolicy: {retryType: fixed, retryInterval: P2Y}}",
            "P2Y",
            "action.retryPolicy.retryInterval: is above the maximum of 18 months",
        ),
        (
            "{type: http, request: {method: GET, uri: 'http://x.test/'}, errorAction: {type: http, request: {method: GET, uri: 'http://x.test/'}, errorAction: {type: http}}}",
            "errorAction: {type: http}",
            "action.errorAction.errorAction: unknown field",
        ),
    ],
)
def test_action_problems(action: str, token: str, expected: str) -> None:
    text = HEAD + f"  action: {action}\n"
    wanted = at(text, 5, token, expected)
    found = problems(text)
    assert any(p.startswith(wanted) for p in found), (wanted, found)


def test_merge_keys_override_without_duplicate_errors() -> None:
    text = (
        "apiVersion: cronplane/v1\nkind: Job\nmetadata: {name: j}\nspec:\n"
        "  action:\n    <<: {type: http, request: {method: GET, uri: 'http://x.test/'}}\n    type: https\n"
        "    request: {method: GET, uri: 'https://x.test/'}\n"
    )
    result = load_documents({"m.yaml": text.encode()}, NOW)
    assert result.problems == []
    assert result.jobs[0].spec.action["type"] == "https"


def test_merge_bomb_is_bounded() -> None:
    lines = ["a0: &a0 {x: 1, y: 2}"]
    lines += [
        f"a{i}: &a{i} {{<<: [*a{i - 1}], k{i}: [*a{i - 1}, *a{i - 1}, *a{i - 1}, *a{i - 1}]}}" for i in range(1, 30)
    ]
    found = [str(p) for p in parse_manifest("m.yaml", "\n".join(lines).encode()).problems]
    assert any("document expands to more than 50000 nodes" in p for p in found), found


def test_problems_are_sorted_and_capped_per_document() -> None:
    extras = "".join(f"  unknown{i}: 1\n" for i in range(30))
    found = problems(JOB + extras)
    assert len(found) == 21 and found[-1] == "m.yaml:1:1: ... and 10 more problems"
    lines = [int(p.split(":")[1]) for p in found[:-1]]
    assert lines == sorted(lines)


def test_secret_values_never_appear_in_problems() -> None:
    text = HEAD + (
        "  action: {type: https, request: {method: GET, uri: 'https://x.test/', authentication: "
        "{type: basic, username: u, Password: s3cr3t-VALUE}}}\n"
    )
    found = problems(text)
    assert found and not any("s3cr3t" in p for p in found), found
    assert any("authentication.password: inline secrets are not allowed" in p for p in found)


def test_a_header_named_like_a_secret_is_not_a_secret() -> None:
    text = (
        HEAD
        + "  action: {type: http, request: {method: GET, uri: 'http://x.test/', headers: {secret: x, password: y}}}\n"
    )
    assert problems(text) == []
