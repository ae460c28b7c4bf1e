"""Failure counting in bounded memory (issue 11, defects 5 and 12), without waiting."""

from __future__ import annotations

from appliance.api.http import captcha
from appliance.domain.accounts import LoginThrottle
from appliance.domain.throttle import BackoffLock, SlidingWindow


def test_sliding_window_limits_then_forgets():
    w: SlidingWindow[str] = SlidingWindow(limit=3, window=60, max_keys=2)
    for t in (0, 1, 2):
        assert w.wait("a", t) == 0
        w.add("a", t)
    assert w.wait("a", 3) == 57
    assert w.wait("a", 60.5) == 0  # the first failure left the window
    w.add("b", 4)
    w.add("c", 5)
    assert len(w) == 2 and w.count("a", 6) == 0  # the oldest key went first


def test_backoff_doubles_and_is_capped():
    lock: BackoffLock[str] = BackoffLock(free=5, base=30, cap=3600)
    assert [lock.lock_seconds(n) for n in (4, 5, 6, 7, 20)] == [0, 30, 60, 120, 3600]
    for _ in range(5):
        lock.fail("k", 100)
    assert lock.wait("k", 110) == 20
    lock.clear("k")
    assert lock.wait("k", 110) == 0


def test_login_throttle_keeps_the_owner_in_and_treats_unknown_logins_alike():
    t = LoginThrottle()
    for i in range(5):  # each attempt counts as a failure from the moment it begins
        assert t.begin("admin", "s1", "10.0.0.66", "10.0.0.1", i) == 0
        assert t.begin("ghost", "", "10.0.0.67", None, i) == 0
    assert t.begin("admin", "s1", "10.0.0.66", "10.0.0.1", 6) == t.begin("ghost", "", "10.0.0.67", None, 6) == 28
    # The owner, where they last signed in or anywhere else, goes ahead; a success no
    # longer counts.
    assert t.begin("admin", "s1", "10.0.0.1", "10.0.0.1", 6) == 0
    t.succeeded("admin", "s1", "10.0.0.1", 6)
    assert t.begin("admin", "s1", "192.0.2.9", "10.0.0.1", 6) == 0
    t.succeeded("admin", "s1", "192.0.2.9", 6)
    assert t.sources.count("10.0.0.1", 6) == 0 and t.accounts.count(("admin", "s1"), 6) == 5
    # A new password (stamp) starts afresh, even for the attacker's address.
    assert t.begin("admin", "s2", "10.0.0.66", "10.0.0.1", 7) == 0
    # Twenty failures from many addresses: others are paced, the last good address is not.
    for n in range(15):
        assert t.begin("admin", "s1", f"10.1.0.{n}", "10.0.0.1", 10) == 0
    assert t.begin("admin", "s1", "10.2.0.1", "10.0.0.1", 11) == 0
    assert t.begin("admin", "s1", "10.2.0.2", "10.0.0.1", 12) == 9
    assert t.begin("admin", "s1", "10.0.0.1", "10.0.0.1", 12) == 0


def test_one_source_gets_twenty_failures_whatever_the_logins():
    t = LoginThrottle()
    assert all(t.begin(f"user{i}", "", "10.0.0.66", None, i) == 0 for i in range(20))
    assert t.begin("admin", "s1", "10.0.0.66", "10.0.0.1", 20) == 900 - 20


def test_memory_stays_bounded_under_a_flood_of_keys():
    t = LoginThrottle()
    for n in range(30_000):
        t.begin(f"user{n}", "", f"10.{n // 65536}.{n // 256 % 256}.{n % 256}", None, 1)
    assert len(t.pairs) <= 10_000 and len(t.sources) <= 10_000 and len(t.accounts) <= 10_000


def test_captcha_store_full_of_many_sources_evicts_from_the_biggest(monkeypatch):
    monkeypatch.setattr(captcha, "MAX_PENDING", 30)
    monkeypatch.setattr(captcha.ImageCaptcha, "generate", lambda self, text, format: __import__("io").BytesIO(b"png"))
    store = captcha.CaptchaStore(enabled=True)
    lone, _ = store.new("198.51.100.1")
    flood = [store.new(f"203.0.113.{i % 5}")[0] for i in range(100)]
    assert lone in store._pending
    assert len(store._pending) <= 30
    assert all(len(ids) <= captcha.MAX_PENDING_PER_SOURCE for ids in store._by_source.values())
    assert flood[-1] in store._pending


def test_device_failures_are_limited_paced_and_audited_in_bounded_rows():
    from appliance.domain.throttle import DeviceAuthThrottle

    t = DeviceAuthThrottle()

    def fail(alias: str, ip: str, now: float) -> int:
        assert t.begin(alias, ip, now) == 0
        return t.failed(alias, ip, now)

    audited = [fail("gw-1", "10.0.0.66", 0.1 * i) for i in range(10)]
    assert audited == [1] + [0] * 9  # one row now, the rest counted
    assert t.begin("gw-1", "10.0.0.66", 1.0) > 0  # ten a minute for one device and address
    assert t.begin("gw-1", "10.0.0.7", 1.0) == 0  # the device from elsewhere is unaffected
    t.succeeded("gw-1", "10.0.0.7", 1.0)
    assert t.sources.count("10.0.0.7", 1.0) == 0
    assert fail("gw-1", "10.0.0.66", 61.0) == 10  # a minute on: all failures since the last row
    for n in range(100):
        fail("gw-2", f"10.9.0.{n}", 100.0)
    assert t.begin("gw-2", "10.0.0.8", 101.0) == 0  # under attack: one try a second...
    assert 0 < t.begin("gw-2", "10.0.0.9", 101.5) <= 1.0  # ...between all addresses
    t.succeeded("gw-2", "10.0.0.8", 101.0)
    # The address the device last succeeded from is not paced: the attackers' slots are theirs.
    attackers_waited = []
    for step in range(5):
        attacker = t.begin("gw-2", "10.9.0.1" if step % 2 else "10.9.0.2", 102.0 + step * 0.1)
        attackers_waited.append(attacker > 0)
        assert t.begin("gw-2", "10.0.0.8", 102.05 + step * 0.1) == 0
        t.succeeded("gw-2", "10.0.0.8", 102.05 + step * 0.1)
    assert attackers_waited == [False, True, True, True, True], "one slot a second for them"
    assert t.begin("gw-2", "10.9.0.3", 102.6) > 0
