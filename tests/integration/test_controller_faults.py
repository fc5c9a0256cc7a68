"""Redis going away under real ``cronplane controller`` and ``cronplane serve`` processes (issue 13,
the controller's side): a restart with AOF on the same port and data, and a hung server
(SIGSTOP). Each time the processes keep running, log one line when their connection is lost and
one when it is back (per loop: lease, dispatch, sync, api), never a traceback; dispatch resumes
within a couple of seconds of Redis answering, one controller holds the lease again, every
occurrence of the per-second job is either enqueued once or recorded as missed, and nothing
enqueued before the outage is lost.

Timing: the recovery is printed and asserted with a tolerance for a loaded 2-core machine
(``RECOVERY_LIMIT``); it is about 1 s on an idle one (backoff capped at 1 s).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import redis

from tests.peers.controller_proc import (
    JOB,
    ControllerProcess,
    count_lines,
    queued_epochs,
    start_controller,
    tick_manifests,
)
from tests.peers.redis_server import RedisServer
from tests.peers.serve import ARM, serving
from worker.contract import HistoryEntry

RECOVERY_LIMIT = 5.0  # seconds from Redis answering to the next enqueue (2 s + a loaded machine)
ROLES = ("lease", "dispatch", "sync")


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return time.time()
        time.sleep(0.02)
    raise AssertionError(f"{what}: not within {timeout} s")


def recovery(client: redis.Redis, since: float) -> float:
    """Seconds from ``since`` (Redis answering again) until the queue grows."""
    before = client.llen("rq:queue:cronplane")
    seen = wait_until(lambda: client.llen("rq:queue:cronplane") > before, 30, "an enqueue after the outage")
    return seen - since


def missed_epochs(client: redis.Redis) -> list[int]:
    entries = [HistoryEntry.from_json(bytes(raw)) for raw in client.zrange(f"cp:history:{JOB}", 0, -1)]
    return [int(e.invocation_id.rsplit("-", 1)[1]) for e in entries if e.status == "missed"]


def check_accounting(client: redis.Redis, outage: tuple[float, float], before: list[int]) -> None:
    """Every occurrence from the first to the last enqueued is enqueued once or missed (not both),
    the outage's occurrences older than the deadline are missed, and what was queued before the
    outage is still queued."""
    queued, missed = queued_epochs(client), missed_epochs(client)
    assert len(queued) == len(set(queued)), "an occurrence was enqueued twice"
    assert set(before) <= set(queued), "an invocation enqueued before the outage was lost"
    assert not set(queued) & set(missed), "an occurrence both ran and was missed"
    every = set(range(min(queued), max(queued) + 1))
    assert every <= set(queued) | set(missed), f"silently dropped: {sorted(every - set(queued) - set(missed))}"
    in_outage = [m for m in missed if outage[0] - 1 <= m <= outage[1] + 1]
    # the outage's seconds, less the 2 s deadline, less a second at each end for a loaded machine
    assert len(in_outage) >= int(outage[1] - outage[0]) - 4, (missed, outage)
    assert int(client.hget(f"cp:status:{JOB}", "missedCount") or 0) == len(missed)


def check_lines(proc: ControllerProcess, must: tuple[str, ...]) -> None:
    text = proc.text()
    assert "Traceback" not in text, text[-4000:]
    for role in ROLES:
        lost, back = count_lines(text, role, "lost"), count_lines(text, role, "back")
        assert lost <= 1 and back == lost, f"{proc.name} {role}: {lost} lost, {back} back\n{text[-4000:]}"
    for role in must:
        assert count_lines(text, role, "lost") == 1, f"{proc.name} {role} logged no outage\n{text[-4000:]}"


def test_redis_restart_with_aof_two_controllers(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    client = redis.Redis.from_url(server.url)
    manifests = tick_manifests(tmp_path / "m")
    args = ["--manifests", str(manifests), "--lease-ttl", "3", "--poll", "1"]
    a = start_controller(server.url, tmp_path, args, "a")
    b = start_controller(server.url, tmp_path, args, "b")
    try:
        wait_until(lambda: len(queued_epochs(client)) >= 3, 60, "dispatch before the outage")
        before = queued_epochs(client)
        server.outage_stop()
        down = time.time()
        time.sleep(10)
        server.outage_start()
        up = time.time()
        took = recovery(client, up)
        print(f"Redis restart after 10 s: the next enqueue {took:.2f} s after Redis answered")
        assert took < RECOVERY_LIMIT
        time.sleep(3)  # steady again: an occurrence a second
        assert a.proc.poll() is None and b.proc.poll() is None, "a controller died in the outage"
        holder = client.get("cp:lease")
        assert holder in (b"a", b"b"), "one controller holds the lease again"
        check_accounting(client, (down, up), before)
        assert max(queued_epochs(client)) >= math.floor(time.time()) - 4
    finally:
        a.stop()
        b.stop()
        server.stop()
    for proc in (a, b):
        check_lines(proc, must=("lease", "sync"))
    # The holder took (or kept) the lease after the outage. Which controller that is, and whether
    # the lease moved once more on a loaded machine (a renewal missed with a 3 s TTL), is not fixed.
    leader = a if holder == b"a" else b
    assert "holds the dispatch lease" in leader.text().split("lease: Redis connection back")[-1]


def test_hung_redis_sigstop(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    client = redis.Redis.from_url(server.url)
    manifests = tick_manifests(tmp_path / "m")
    c = start_controller(server.url, tmp_path, ["--manifests", str(manifests), "--lease-ttl", "3"])
    try:
        wait_until(lambda: len(queued_epochs(client)) >= 3, 60, "dispatch before the outage")
        before = queued_epochs(client)
        server.pause()
        down = time.time()
        time.sleep(8)
        server.resume()
        up = time.time()
        took = recovery(client, up)
        print(f"Redis hung for 8 s: the next enqueue {took:.2f} s after it answered")
        assert took < RECOVERY_LIMIT
        time.sleep(2)
        assert c.proc.poll() is None
        check_accounting(client, (down, up), before)
        assert client.get("cp:lease") == b"c"
    finally:
        c.stop()
        server.resume()
        server.stop()
    check_lines(c, must=("lease",))


def test_api_answers_503_while_redis_is_down_and_recovers(tmp_path: Path) -> None:
    server = RedisServer(tmp_path / "redis", appendonly=True).start()
    url = f"{ARM}/jobCollections/ops/jobs"
    try:
        with serving(server.url, tmp_path) as api, api.client() as http:
            assert http.get(url).status_code == 404  # no such collection: Redis answered
            server.outage_stop()
            for _ in range(5):
                r = http.get(url)
                assert r.status_code == 503 and r.headers["retry-after"] == "1"
                assert r.text.count("\n") == 0 and r.json()["error"]["code"] == "ServerBusy"
            assert http.get("/readyz").status_code == 503
            server.outage_start()
            wait_until(lambda: http.get(url).status_code == 404, 10, "the API after Redis came back")
            wait_until(lambda: count_lines(api.log.read_text(), "api", "back") == 1, 10, "the 'back' line")
            server.pause()  # hung: the API gives up after its Redis timeout, it does not hang
            started = time.monotonic()
            r = http.get(url, timeout=httpx.Timeout(30))
            assert r.status_code == 503 and time.monotonic() - started < 15
            server.resume()
            wait_until(lambda: http.get(url).status_code == 404, 10, "the API after Redis answered again")
            wait_until(lambda: count_lines(api.log.read_text(), "api", "back") == 2, 10, "the 'back' lines")
            text = api.log.read_text()
    finally:
        server.resume()
        server.stop()
    assert "Traceback" not in text, text
    assert count_lines(text, "api", "lost") == 2 and count_lines(text, "api", "back") == 2, text
