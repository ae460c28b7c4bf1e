"""Each long-running process follows the event log and acts on what concerns it: today a
change of the log level setting, applied to this process's loggers at once."""

from __future__ import annotations

import asyncio
import logging
import threading

from appliance.domain.events import Event, EventKind
from appliance.domain.log_level import python_levels
from appliance.services import events, settings
from appliance.services.context import AppContext

log = logging.getLogger(__name__)

OWN_LOGGERS = ("appliance", "recorder")
# uvicorn sets levels on these itself, so the root's level alone would not reach them.
LIBRARY_LOGGERS = ("", "uvicorn", "uvicorn.error", "uvicorn.access")
# Never below INFO: at DEBUG websockets logs each frame's ends, and a connection_init's
# end is the last characters of an API token (uvicorn hands it uvicorn.error's level).
QUIET_LOGGERS = ("websockets",)
BACKOFF_SECONDS = (1.0, 30.0)  # first and longest wait after a failure (database away)


def apply_log_level(setting: int) -> None:
    """Set this process's loggers for a log level setting (1 errors only … 5 everything)."""
    own, library = python_levels(setting)
    for name in LIBRARY_LOGGERS:
        logging.getLogger(name).setLevel(library)
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(own)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(library, logging.INFO))


class EventFollower:
    """A runtime service: follows the log in a thread of its own, so neither the event loop
    nor the capture ever waits on the database; a database outage is waited out with a
    growing back-off, never raised."""

    name = "events"

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self._stop = threading.Event()
        self.handled = 0

    async def start(self) -> asyncio.Task[None]:
        loop = asyncio.get_running_loop()
        ended: asyncio.Future[None] = loop.create_future()

        def end() -> None:
            if not ended.done():
                ended.set_result(None)

        def main() -> None:
            try:
                self._run()
            finally:
                try:
                    loop.call_soon_threadsafe(end)
                except RuntimeError:  # the loop is already closed: nobody waits
                    pass

        threading.Thread(target=main, name="event-follower", daemon=True).start()

        async def until_ended() -> None:
            await ended

        return asyncio.create_task(until_ended())

    async def stop(self) -> None:
        self._stop.set()

    def status(self) -> str:
        return "following the event log"

    def _run(self) -> None:
        delay, longest = BACKOFF_SECONDS
        failing = False
        while not self._stop.is_set():
            try:
                if not self.ctx.try_connect():
                    raise ConnectionError("the database does not answer")
                # The tail first, then the setting: a change committed in between is seen
                # twice (applying it again is harmless) rather than not at all.
                start = events.latest_id()
                apply_log_level(settings.current().log_level)
                log.info("following the event log after event %d", start)
                failing, delay = False, BACKOFF_SECONDS[0]
                for event in events.follow(after_id=start, stop=self._stop):
                    self.handle(event)
                return
            except Exception as exc:
                if not failing:
                    log.warning("cannot follow the event log (%s); trying again", exc)
                failing = True
                self._stop.wait(delay)
                delay = min(delay * 2, longest)

    def handle(self, event: Event) -> None:
        if event.kind == EventKind.SETTINGS_CHANGED and "log_level" in event.params:
            try:
                level = int(event.params["log_level"])
            except (TypeError, ValueError):  # not what the settings service writes: skip it
                log.warning("event %d carries no usable log level", event.id)
            else:
                apply_log_level(level)
                log.info("log level %d applied (event %d by %s)", level, event.id, event.actor)
        self.handled += 1
        log.debug("event %d %s by %s in %s", event.id, event.kind, event.actor, event.process)
