"""The outage helper every controller loop uses: bounded backoff, one line when an outage starts
and one when it ends (fake clock, a real logger captured by caplog)."""

from __future__ import annotations

import logging
import threading

import pytest
import redis

from controller.reconnect import OUTAGE, Outage, client_options, describe

log = logging.getLogger("test.reconnect")


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_backoff_doubles_to_the_cap_and_restarts_after_recovery(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    outage = Outage("dispatch", log, clock=clock)
    caplog.set_level(logging.INFO, logger="test.reconnect")
    error = redis.ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")
    waits = [outage.failed(error) for _ in range(7)]
    assert waits == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]
    assert outage.down
    clock.t += 12.34
    outage.ok()
    outage.ok()  # nothing more: the outage is over
    assert not outage.down
    assert outage.failed(error) == 0.1, "a new outage starts from the first delay again"
    lines = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert lines[:2] == [
        (
            "WARNING",
            "dispatch: Redis connection lost (ConnectionError: Error 111 connecting to 127.0.0.1:6390. "
            "Connection refused.); retrying with backoff up to 1 s",
        ),
        ("INFO", "dispatch: Redis connection back after 12.3 s"),
    ]
    assert len(lines) == 3 and lines[2][0] == "WARNING"


def test_ok_without_an_outage_logs_nothing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="test.reconnect")
    Outage("sync", log).ok()
    assert caplog.records == []


@pytest.mark.parametrize(
    "error",
    [
        redis.ConnectionError("refused"),
        redis.TimeoutError("Timeout reading from socket"),
        redis.BusyLoadingError("Redis is loading the dataset in memory"),
        redis.ReadOnlyError("You can't write against a read only replica."),
    ],
)
def test_what_counts_as_an_outage(error: Exception) -> None:
    assert isinstance(error, OUTAGE)


def test_a_command_error_is_not_an_outage() -> None:
    assert not isinstance(redis.ResponseError("WRONGTYPE"), OUTAGE)


def test_describe_is_one_line() -> None:
    assert describe(redis.TimeoutError("Timeout reading\nfrom socket")) == "TimeoutError: Timeout reading"
    assert describe(redis.ConnectionError()) == "ConnectionError"


def test_watch_pings_until_redis_answers_then_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="test.reconnect")
    outage = Outage("api", log, first=0.001, cap=0.002)
    answers = iter([False, False, True])
    done = threading.Event()

    def ping() -> bool:
        answer = next(answers)
        if answer:
            done.set()
        return answer

    outage.failed(redis.ConnectionError("refused"))
    outage.watch(ping)
    outage.watch(ping)  # a second request during the same outage starts no second watcher
    assert done.wait(5)
    for _ in range(500):
        if not outage.down:
            break
        threading.Event().wait(0.01)
    assert not outage.down
    assert [r.levelname for r in caplog.records] == ["WARNING", "INFO"]


def test_client_options_retry_once_on_connection_errors_only() -> None:
    options = client_options(3.0)
    assert options["socket_timeout"] == 3.0 and options["socket_connect_timeout"] == 2.0
    retry = options["retry"]
    assert retry.get_retries() == 1
    client = redis.Redis(port=1, **options)  # nothing listens on port 1: refused at once
    with pytest.raises(redis.ConnectionError):
        client.ping()
