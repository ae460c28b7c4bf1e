"""The console, GraphQL and HTTP API as a runnable service: HTTP, and HTTPS when configured."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

import uvicorn

from appliance.api.http.app import create_app
from appliance.services.context import AppContext


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        # The runner owns the signals for every service in the process.
        yield


class HttpService:
    name = "api"

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.servers: list[_Server] = []
        self.urls: list[str] = []

    def _server(self, app: Any, port: int, **tls: Any) -> _Server:
        config = uvicorn.Config(
            app,
            host=self.ctx.config.http_host,
            port=port,
            log_level="info",
            proxy_headers=False,
            server_header=False,
            **tls,
        )
        return _Server(config)

    async def start(self) -> asyncio.Task[None]:
        config = self.ctx.config
        app = create_app(self.ctx)
        host = config.http_host if ":" not in config.http_host else f"[{config.http_host}]"
        self.servers.append(self._server(app, config.http_port))
        self.urls.append(f"http://{host}:{config.http_port}/")
        if config.https_port is not None:
            self.servers.append(
                self._server(
                    app,
                    config.https_port,
                    ssl_certfile=str(config.tls_cert),
                    ssl_keyfile=str(config.tls_key),
                )
            )
            self.urls.append(f"https://{host}:{config.https_port}/")
        serving = [asyncio.create_task(s.serve()) for s in self.servers]
        while not all(s.started for s in self.servers):
            for task in serving:
                if task.done():
                    await task  # start-up failed (port taken...): raise its error
                    raise RuntimeError("the HTTP server stopped while starting")
            await asyncio.sleep(0.05)

        async def run() -> None:
            done, _ = await asyncio.wait(serving, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                task.result()
            if not all(s.should_exit for s in self.servers):
                raise RuntimeError("an HTTP listener stopped on its own")
            await asyncio.gather(*serving)

        return asyncio.create_task(run())

    async def stop(self) -> None:
        for server in self.servers:
            server.should_exit = True

    def status(self) -> str:
        return f"console and GraphQL at {', '.join(self.urls)} (data in {self.ctx.config.data_dir})"
