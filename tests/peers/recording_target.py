"""An HTTP target that records every request's ``Idempotency-Key`` and arrival time: the judge of
exactly-once in the chaos suite and the fault tests. Runs in a thread of the test process
(which no fault touches), keep-alive HTTP/1.1, answers ``200`` after an optional delay (a delay
makes a worker kill land in the middle of a call)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Delivery:
    key: str
    at: float  # epoch seconds when the request arrived
    answered: bool = False  # the 200 was written (the caller may still have died before reading it)


@dataclass
class RecordingTarget:
    delay: float = 0.0
    deliveries: list[Delivery] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def start(self) -> RecordingTarget:
        target = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                delivery = Delivery(self.headers.get("Idempotency-Key", ""), time.time())
                with target.lock:
                    target.deliveries.append(delivery)
                if target.delay:
                    time.sleep(target.delay)
                try:
                    self.send_response(200)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"ok")
                    delivery.answered = True
                except OSError:
                    pass  # the caller died mid-call

            do_GET = do_POST

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True, name="recording-target").start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()

    def by_key(self) -> dict[str, list[Delivery]]:
        with self.lock:
            found: dict[str, list[Delivery]] = defaultdict(list)
            for d in self.deliveries:
                found[d.key].append(d)
            return dict(found)
