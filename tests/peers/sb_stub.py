"""An AMQP 1.0 peer that the real azure-servicebus SDK can send to (python-qpid-proton).

What it answers (test-peers.md §3): SASL ANONYMOUS; CBS ``put-token`` on ``$cbs`` (status 200,
correlated to the request's message id, on the client's ``$cbs`` receiver link of the same
connection); sender links to any entity, recording every message; topic messages fanned out to
the configured subscriptions (``<topic>/subscriptions/<name>``). Entities whose name starts
with ``missing-`` are refused with ``amqp:not-found`` (link and delivery), so tests can exercise failures. Not a
broker: no receive path, no sessions, no ``$management``, no batches (the target sends single
messages), no TLS. Run in-process (``with ServiceBusStub(topics=...) as stub``) or as a CLI:
``python -m tests.peers.sb_stub --port 5673 --topic events:audit,billing``.
"""

from __future__ import annotations

import argparse
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from proton import Message
from proton.handlers import MessagingHandler
from proton.reactor import Container

from tests.peers.ports import free_port, wait_for_port


@dataclass
class Received:
    entity: str
    body: Any
    message_id: Any
    properties: dict[str, Any]
    annotations: dict[str, Any]
    correlation_id: Any = None
    subject: Any = None
    content_type: Any = None
    to: Any = None
    reply_to: Any = None
    ttl: float = 0.0
    group_id: Any = None


@dataclass
class _State:
    received: list[Received] = field(default_factory=list)
    tokens: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _plain(value: Any) -> Any:
    """proton symbols/memoryviews → plain Python (memoryviews point into a reused buffer)."""
    if isinstance(value, memoryview):
        return bytes(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if value is not None and type(value).__name__ == "symbol":
        text = str(value)
        return None if text == "None" else text
    return value


class _Handler(MessagingHandler):
    def __init__(self, port: int, topics: dict[str, list[str]], state: _State):
        super().__init__(auto_accept=True)
        self.port, self.topics, self.state = port, topics, state

    def on_start(self, event: Any) -> None:
        self.acceptor = event.container.listen(f"127.0.0.1:{self.port}")

    def on_connection_bound(self, event: Any) -> None:
        sasl = event.transport.sasl()
        sasl.allowed_mechs("ANONYMOUS")
        sasl.allow_insecure_mechs = True

    def on_link_opening(self, event: Any) -> None:
        link = event.link
        if link.is_receiver:  # the client sends on it
            link.target.address = link.remote_target.address or ""
        else:  # the client receives on it: replies ($cbs)
            link.source.address = link.remote_source.address
            link.target.address = link.remote_target.address

    def on_message(self, event: Any) -> None:
        address = event.link.target.address or event.link.remote_target.address or ""
        msg = event.message
        if address.endswith("$cbs"):
            self._answer_cbs(event, msg)
            return
        entity = address.split("://", 1)[-1].split("/", 1)[-1]
        record = Received(
            entity,
            _plain(msg.body),
            _plain(msg.id),
            _plain(msg.properties or {}),
            _plain(msg.annotations or {}),
            _plain(msg.correlation_id),
            _plain(msg.subject),
            _plain(msg.content_type),
            _plain(msg.address),
            _plain(msg.reply_to),
            msg.ttl,
            _plain(msg.group_id),
        )
        with self.state.lock:
            self.state.received.append(record)
            for sub in self.topics.get(entity, []):
                self.state.received.append(Received(**{**record.__dict__, "entity": f"{entity}/subscriptions/{sub}"}))

    def _answer_cbs(self, event: Any, request: Message) -> None:
        with self.state.lock:
            self.state.tokens.append(str((request.properties or {}).get("name", "")))
        reply = Message(correlation_id=request.id, properties={"status-code": 200, "status-description": "OK"})
        link = event.connection.link_head(0)
        while link is not None:
            if link.is_sender and (link.source.address or "").endswith("$cbs"):
                reply.address = link.target.address
                link.send(reply)
                return
            link = link.next(0)


class ServiceBusStub:
    def __init__(self, port: int = 0, topics: dict[str, list[str]] | None = None):
        self.port = port or free_port()
        self.state = _State()
        self.container = Container(_Handler(self.port, topics or {}, self.state))
        self.thread = threading.Thread(target=self.container.run, daemon=True)

    @property
    def connection_string(self) -> str:
        return (
            f"Endpoint=sb://127.0.0.1:{self.port};SharedAccessKeyName=RootManageSharedAccessKey;"
            "SharedAccessKey=SAS_KEY_VALUE;UseDevelopmentEmulator=true;"
        )

    def messages(self, entity: str) -> list[Received]:
        with self.state.lock:
            return [m for m in self.state.received if m.entity == entity]

    @property
    def tokens(self) -> list[str]:
        with self.state.lock:
            return list(self.state.tokens)

    def __enter__(self) -> ServiceBusStub:
        self.thread.start()
        wait_for_port(self.port, timeout=10)
        return self

    def __exit__(self, *exc: object) -> None:
        self.container.stop()
        self.thread.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=5673)
    parser.add_argument("--topic", action="append", default=[], help="topic:sub1,sub2")
    args = parser.parse_args()
    topics = {t.split(":")[0]: t.split(":")[1].split(",") for t in args.topic}
    with ServiceBusStub(args.port, topics) as stub:
        print(f"listening on 127.0.0.1:{stub.port}", flush=True)
        while True:
            time.sleep(3600)


if __name__ == "__main__":
    main()
