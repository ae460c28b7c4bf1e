"""Counting failures per key in bounded memory: sliding windows and back-off locks.

Times are plain seconds from a monotonic clock the caller passes in, so the rules can be
tested without waiting. Every table holds at most `max_keys` keys and forgets the one
used longest ago when full: a flood of new keys costs memory once, never without bound.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Generic, TypeVar

from appliance.domain.bounded import Bounded

K = TypeVar("K", bound=Hashable)


class SlidingWindow(Generic[K]):
    """At most `limit` events per key within `window` seconds."""

    def __init__(self, limit: int, window: float, max_keys: int = 10_000) -> None:
        self.limit = limit
        self.window = window
        self._keys: Bounded[K, deque[float]] = Bounded(max_keys)
        self._lock = threading.Lock()

    def wait(self, key: K, now: float) -> float:
        """Seconds until the key may act again (0: now)."""
        with self._lock:
            times = self._keys.get(key)
            if times is None:
                return 0.0
            while times and times[0] <= now - self.window:
                times.popleft()
            if len(times) < self.limit:
                return 0.0
            return times[len(times) - self.limit] + self.window - now

    def add(self, key: K, now: float) -> int:
        """Count one event; return how many the key has in the window."""
        with self._lock:
            times = self._keys.get(key)
            if times is None:
                # Room beyond the limit: an attempt counted then undone must not push out
                # an older failure.
                times = deque(maxlen=2 * self.limit)
                self._keys.put(key, times)
            times.append(now)
            while times and times[0] <= now - self.window:
                times.popleft()
            return len(times)

    def undo(self, key: K, at: float) -> None:
        """Take back one event added at `at` (an attempt counted before it was checked)."""
        with self._lock:
            times = self._keys.get(key)
            if times is not None and at in times:
                times.remove(at)

    def count(self, key: K, now: float) -> int:
        with self._lock:
            times = self._keys.get(key)
            return 0 if times is None else sum(1 for t in times if t > now - self.window)

    def clear(self, key: K) -> None:
        with self._lock:
            self._keys.pop(key)

    def __len__(self) -> int:
        return len(self._keys)


@dataclass
class _Backoff:
    failures: int = 0
    locked_until: float = 0.0


class BackoffLock(Generic[K]):
    """After `free` consecutive failures a key is locked for base seconds, doubling with
    each further failure up to `cap`; a success clears it."""

    def __init__(self, free: int, base: float, cap: float, max_keys: int = 10_000) -> None:
        self.free = free
        self.base = base
        self.cap = cap
        self._keys: Bounded[K, _Backoff] = Bounded(max_keys)
        self._lock = threading.Lock()

    def lock_seconds(self, failures: int) -> float:
        if failures < self.free:
            return 0.0
        return float(min(self.cap, self.base * 2 ** (failures - self.free)))

    def wait(self, key: K, now: float) -> float:
        with self._lock:
            state = self._keys.get(key)
            return max(0.0, state.locked_until - now) if state else 0.0

    def fail(self, key: K, now: float) -> float:
        """Count a failure; return how long the key is now locked (0: not locked)."""
        with self._lock:
            state = self._keys.get(key) or _Backoff()
            state.failures += 1
            seconds = self.lock_seconds(state.failures)
            if seconds:
                state.locked_until = now + seconds
            self._keys.put(key, state)
            return seconds

    def clear(self, key: K) -> None:
        with self._lock:
            self._keys.pop(key)

    def __len__(self) -> int:
        return len(self._keys)


class Pacer(Generic[K]):
    """One attempt per key every `interval` seconds: a slot is taken before the attempt."""

    def __init__(self, interval: float, max_keys: int = 10_000) -> None:
        self.interval = interval
        self._next: Bounded[K, float] = Bounded(max_keys)
        self._lock = threading.Lock()

    def take(self, key: K, now: float) -> float:
        """0 and the slot is taken, or the seconds until the next free slot."""
        with self._lock:
            due = self._next.get(key) or 0.0
            if due > now:
                return due - now
            self._next.put(key, now + self.interval)
            return 0.0


# Device credentials (HTTP Basic on uploads): per source, per (device, source), per device.
DEVICE_SOURCE_FAILURES = 30
DEVICE_PAIR_FAILURES = 10
DEVICE_WINDOW_SECONDS = 60
DEVICE_UNDER_ATTACK_FAILURES = 100
DEVICE_ATTACK_WINDOW_SECONDS = 600
DEVICE_PACE_SECONDS = 1.0
# A failure is written to the audit trail at once, then at most once a minute per
# (device, source) with the count since: a flood costs a bounded number of rows.
DEVICE_AUDIT_EVERY_SECONDS = 60


class DeviceAuthThrottle:
    """Failed device authentications, limited per source, per (device, source) and per
    device; a device under attack from many sources is paced (one try a second between
    them), never locked, and the address it last succeeded from is not paced at all: an
    outsider taking every slot cannot stop a real device's uploads."""

    def __init__(self) -> None:
        self.sources: SlidingWindow[str] = SlidingWindow(
            DEVICE_SOURCE_FAILURES, DEVICE_WINDOW_SECONDS
        )
        self.pairs: SlidingWindow[tuple[str, str]] = SlidingWindow(
            DEVICE_PAIR_FAILURES, DEVICE_WINDOW_SECONDS
        )
        self.devices: SlidingWindow[str] = SlidingWindow(
            DEVICE_UNDER_ATTACK_FAILURES, DEVICE_ATTACK_WINDOW_SECONDS
        )
        self.pace: Pacer[str] = Pacer(DEVICE_PACE_SECONDS)
        self.trusted: Bounded[str, str] = Bounded(10_000)  # alias -> last good source
        self._unaudited: Bounded[tuple[str, str], list[float]] = Bounded(10_000)
        self._lock = threading.Lock()

    def begin(self, alias: str, ip: str, now: float) -> float:
        """0 when this attempt may be checked, counted as a failure until it succeeds (so
        attempts in parallel cannot all slip under a limit); else seconds to wait."""
        with self._lock:
            wait = max(self.sources.wait(ip, now), self.pairs.wait((alias, ip), now))
            under_attack = not wait and self.devices.wait(alias, now) > 0
            if under_attack and self.trusted.get(alias) != ip:
                wait = self.pace.take(alias, now)
            if wait > 0:
                return wait
            self.sources.add(ip, now)
            self.devices.add(alias, now)
            self.pairs.add((alias, ip), now)
            return 0.0

    def succeeded(self, alias: str, ip: str, began: float) -> None:
        with self._lock:
            self.trusted.put(alias, ip)
            self.sources.undo(ip, began)
            self.devices.undo(alias, began)
            self.pairs.undo((alias, ip), began)

    def failed(self, alias: str, ip: str, now: float) -> int:
        """The attempt begun was wrong: how many failures of (alias, ip) to audit now (0:
        later, with the next entry)."""
        with self._lock:
            # [failures not yet audited, time of the last audit entry]
            state = self._unaudited.get((alias, ip))
            if state is None:
                state = [0.0, -DEVICE_AUDIT_EVERY_SECONDS - 1.0]
                self._unaudited.put((alias, ip), state)
            state[0] += 1
            if now - state[1] >= DEVICE_AUDIT_EVERY_SECONDS:
                count, state[0], state[1] = int(state[0]), 0.0, now
                return count
            return 0
