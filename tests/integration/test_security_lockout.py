"""Issue 11, defect 5: an outsider cannot lock the owner out, guessing is limited per source
and per account, unknown and known logins answer alike, captcha floods evict only their own."""

from __future__ import annotations

import statistics
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.support.server import ADMIN_PASSWORD, ApplianceServer, Client, first_login

LOGIN = """mutation($l: String!, $p: String!, $id: String, $a: String) {
  login(login: $l, password: $p, captchaId: $id, captchaAnswer: $a) {
    __typename ... on LoginSuccess { user { login } } ... on LoginError { code message retryAfterSeconds } } }"""


def from_address(url: str, source: str) -> Client:
    """A client whose connections come from `source` (any 127.x address reaches the server)."""
    c = Client(url)
    c.http = httpx.Client(base_url=url, timeout=60, transport=httpx.HTTPTransport(local_address=source))
    return c


def attempt(c: Client, login: str, password: str) -> dict:
    return c.data(LOGIN, {"l": login, "p": password})["login"]


@pytest.fixture()
def server() -> Iterator[ApplianceServer]:
    s = ApplianceServer().start()
    first_login(s.url)  # from 127.0.0.1: the address admin last signed in from
    yield s
    s.stop()


def test_an_attackers_failures_do_not_lock_the_owner_out(server):
    attacker = from_address(server.url, "127.0.0.2")
    answers = [attempt(attacker, "admin", f"guess-{i}") for i in range(8)]
    assert [a["code"] for a in answers[:5]] == ["UNAUTHENTICATED"] * 5
    assert {a["code"] for a in answers[5:]} == {"ACCOUNT_LOCKED"}
    # The attacker is held back even with the right password...
    assert attempt(attacker, "admin", ADMIN_PASSWORD)["code"] == "ACCOUNT_LOCKED"
    # ...while the owner signs in at once, from where they last did and from elsewhere.
    assert attempt(from_address(server.url, "127.0.0.1"), "admin", ADMIN_PASSWORD)["__typename"] == "LoginSuccess"
    assert attempt(from_address(server.url, "127.0.0.5"), "admin", ADMIN_PASSWORD)["__typename"] == "LoginSuccess"
    # Waiting out the lock and failing once more does not keep anyone else out either.
    assert attempt(from_address(server.url, "127.0.0.6"), "admin", ADMIN_PASSWORD)["__typename"] == "LoginSuccess"


def test_one_source_spraying_many_logins_is_stopped(server):
    """A different shape: one address, a few guesses at each of many logins."""
    attacker = from_address(server.url, "127.0.0.3")
    logins = ["admin", "root", "operator", "SHXZ1643", "guest"]
    codes = [attempt(attacker, logins[i % len(logins)], f"guess-{i}")["code"] for i in range(24)]
    assert codes[:20] == ["UNAUTHENTICATED"] * 20
    assert set(codes[20:]) == {"ACCOUNT_LOCKED"}
    blocked = attempt(attacker, "admin", ADMIN_PASSWORD)
    assert blocked["code"] == "ACCOUNT_LOCKED" and 800 <= blocked["retryAfterSeconds"] <= 901
    assert attempt(from_address(server.url, "127.0.0.4"), "admin", ADMIN_PASSWORD)["__typename"] == "LoginSuccess"
    entries = first_login_free(server).data('{ auditLog(filter: {type: "LOGIN_FAILED", ip: "127.0.0.3"}) { total } }')
    assert entries["auditLog"]["total"] == 20  # refused attempts cost no hashing and no row


def first_login_free(server: ApplianceServer) -> Client:
    c = Client(server.url)
    assert c.login("admin", ADMIN_PASSWORD)["__typename"] == "LoginSuccess"
    return c


def test_many_sources_guessing_one_account_are_paced_but_the_owner_is_not(server):
    """A different shape: each address stays under its own limits, together they are many."""
    for n in range(10, 30):
        assert attempt(from_address(server.url, f"127.0.1.{n}"), "admin", "guess")["code"] == "UNAUTHENTICATED"
    # The account is now under attack: other addresses get one try per 10 s between them.
    first = attempt(from_address(server.url, "127.0.1.40"), "admin", "guess")
    second = attempt(from_address(server.url, "127.0.1.41"), "admin", "guess")
    assert first["code"] == "UNAUTHENTICATED"
    assert second["code"] == "ACCOUNT_LOCKED" and 1 <= second["retryAfterSeconds"] <= 10
    # The owner, where they last signed in, is not paced at all.
    assert attempt(from_address(server.url, "127.0.0.1"), "admin", ADMIN_PASSWORD)["__typename"] == "LoginSuccess"
    # From a new address the owner waits at most the pace, never a lock.
    owner_elsewhere = from_address(server.url, "127.0.1.50")
    answer = attempt(owner_elsewhere, "admin", ADMIN_PASSWORD)
    if answer["__typename"] == "LoginError":
        assert answer["code"] == "ACCOUNT_LOCKED" and answer["retryAfterSeconds"] <= 10
        time.sleep(answer["retryAfterSeconds"])
        answer = attempt(owner_elsewhere, "admin", ADMIN_PASSWORD)
    assert answer["__typename"] == "LoginSuccess"


def test_unknown_and_known_logins_answer_alike(server):
    """Same answers, same lock-out and about the same time for an account that exists and one
    that does not, so neither the answers nor a lock tell which accounts exist."""
    logins = (("admin", "127.0.0.7"), ("no-such-user", "127.0.0.8"))
    clients = {login: from_address(server.url, source) for login, source in logins}
    timings: dict[str, list[float]] = {login: [] for login, _ in logins}
    answers: dict[str, list[dict]] = {login: [] for login, _ in logins}
    # Alternated, so whatever else loads the machine weighs on both alike.
    for i in range(7):
        for login, _ in logins:
            started = time.perf_counter()
            answers[login].append(attempt(clients[login], login, f"wrong-{i}"))
            timings[login].append(time.perf_counter() - started)
    assert answers["admin"] == answers["no-such-user"]
    assert answers["admin"][0] == {
        "__typename": "LoginError", "code": "UNAUTHENTICATED", "message": "wrong user name or password",
        "retryAfterSeconds": None,
    }
    assert answers["admin"][5]["code"] == "ACCOUNT_LOCKED"
    checked_known = statistics.median(timings["admin"][:5])
    checked_unknown = statistics.median(timings["no-such-user"][:5])
    # Without the stand-in hash an unknown account answers about ten times sooner; the
    # measured ratio is near 1 (benchmarks/refusals.py). Wide bounds: a ratio, not a speed.
    assert 1 / 3 < checked_known / checked_unknown < 3, (checked_known, checked_unknown)


def test_a_captcha_flood_from_one_address_does_not_evict_anothers_captcha():
    server = ApplianceServer(captcha=True).start()
    try:
        user = from_address(server.url, "127.0.0.9")
        mine = user.data("{ captcha { id } }")["captcha"]["id"]
        flooder = from_address(server.url, "127.0.0.10")
        flood = [flooder.data("{ captcha { id } }")["captcha"]["id"] for _ in range(40)]

        def verdict(c: Client, captcha_id: str) -> str:
            return c.data(LOGIN, {"l": "admin", "p": "x", "id": captcha_id, "a": "????"})["login"]["message"]

        # The other user's captcha is still there (only the answer is wrong)...
        assert verdict(user, mine) == "the captcha answer is wrong"
        # ...the flood evicted its own oldest ones and keeps only its newest few.
        assert verdict(flooder, flood[0]) == "the captcha expired; load a new one"
        assert verdict(flooder, flood[-1]) == "the captcha answer is wrong"
    finally:
        server.stop()


def test_guesses_sent_in_parallel_do_not_slip_past_the_limit(server):
    """A different shape: many guesses at once, each checked before any failure is known."""
    from concurrent.futures import ThreadPoolExecutor

    def guess(i: int) -> str:
        return attempt(from_address(server.url, "127.0.0.11"), "admin", f"parallel-{i}")["code"]

    with ThreadPoolExecutor(max_workers=16) as pool:
        codes = list(pool.map(guess, range(16)))
    assert codes.count("UNAUTHENTICATED") == 5, codes
    assert codes.count("ACCOUNT_LOCKED") == 11, codes
    assert attempt(from_address(server.url, "127.0.0.12"), "admin", ADMIN_PASSWORD)["__typename"] == "LoginSuccess"


def test_the_current_password_cannot_be_guessed_through_change_password(server):
    """A different shape: someone holding a session guesses the password it was opened with."""
    holder = from_address(server.url, "127.0.0.13")
    assert attempt(holder, "admin", ADMIN_PASSWORD)["__typename"] == "LoginSuccess"
    change = 'mutation($o: String!) { changePassword(oldPassword: $o, newPassword: "Whatever-Pass-1") { ... on UserError { code field } } }'
    codes = [holder.data(change, {"o": f"guess-{i}"})["changePassword"]["code"] for i in range(7)]
    assert codes[:5] == ["INVALID_INPUT"] * 5 and set(codes[5:]) == {"ACCOUNT_LOCKED"}, codes
    # The owner elsewhere is not affected.
    assert attempt(from_address(server.url, "127.0.0.1"), "admin", ADMIN_PASSWORD)["__typename"] == "LoginSuccess"
