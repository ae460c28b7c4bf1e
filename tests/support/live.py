"""A GraphQL subscriber over a real websocket (graphql-transport-ws), as an integrator or
the console would be: every message it gets is kept with the time it came."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.support.server import Client

PROTOCOL = "graphql-transport-ws"


class Subscriber:
    """One socket: connection_init with the given payload, then whatever it subscribes to."""

    def __init__(
        self,
        base_url: str,
        client: Client | None = None,
        payload: dict[str, Any] | None = None,
        origin: str | None = None,
    ) -> None:
        headers = {}
        if client is not None and client.http.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in client.http.cookies.items())
        self.ws: ClientConnection = connect(
            base_url.replace("http", "ws", 1) + "/graphql",
            subprotocols=[PROTOCOL],  # type: ignore[list-item]
            additional_headers=headers,
            origin=origin,  # type: ignore[arg-type]
            open_timeout=10,
        ).__enter__()  # its close is ours (close(), or the server's)
        self.messages: list[tuple[float, dict[str, Any]]] = []
        self.close_code: int | None = None
        self.closed = threading.Event()
        self.ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            for raw in self.ws:
                self.messages.append((time.monotonic(), json.loads(raw)))
        except ConnectionClosed:
            pass
        self.close_code = self.ws.close_code
        self.closed.set()

    def wait_for(self, accept: Any, timeout: float = 10, after: float = 0) -> tuple[float, dict[str, Any]]:
        """The first message `accept` takes (a function of the message) that came after
        `after` (a time.monotonic()), with the time it came."""
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            for at, message in self.messages[seen:]:
                seen += 1
                if at > after and accept(message):
                    return at, message
            if self.closed.is_set() and seen == len(self.messages):
                break
            time.sleep(0.01)
        raise AssertionError(f"not within {timeout} s; got {self.messages}, closed {self.close_code}")

    def acknowledged(self) -> Subscriber:
        self.wait_for(lambda m: m["type"] == "connection_ack")
        return self

    def subscribe(self, query: str, ident: str = "1", variables: dict[str, Any] | None = None) -> None:
        payload = {"query": query, "variables": variables or {}}
        self.ws.send(json.dumps({"id": ident, "type": "subscribe", "payload": payload}))

    def results(self, ident: str = "1") -> list[tuple[float, dict[str, Any]]]:
        """The `next` payloads of one operation so far."""
        return [(at, m["payload"]) for at, m in list(self.messages) if m.get("id") == ident and m["type"] == "next"]

    def wait_closed(self, timeout: float = 10) -> int | None:
        assert self.closed.wait(timeout), f"still open after {timeout} s"
        return self.close_code

    def close(self) -> None:
        self.ws.close()


def refused_upgrade(base_url: str, **kwargs: Any) -> int | None:
    """The HTTP status the upgrade got when refused; None if the socket opened."""
    try:
        Subscriber(base_url, **kwargs).close()
    except InvalidStatus as exc:
        return exc.response.status_code
    return None
