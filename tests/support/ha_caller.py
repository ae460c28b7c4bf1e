"""A session recording client for the primary/standby tests, run inside the SRC's network
namespace (`ip netns exec`): SIPREC calls with a tone on each stream to the recorder at
--host (the virtual IP, or each address of an SRS list in turn).

  batch: --calls N at once, held --seconds, then BYE (a BYE the recorder never answers,
         because it died, is noted, not waited for); --answered FILE is written once every
         INVITE has its answer, so the test can act during the calls.
  until: one call at a time until one is answered 200, trying each --host in turn (an SRS
         list: 503 or silence moves on); that call is completed.
The report (JSON) says what each call got and when."""

from __future__ import annotations

import argparse
import json
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support import sipp
from tests.support.siprec_client import SiprecCall, invite_all, send_tones


def _call(host: str, port: int, bind: str, callee: str) -> SiprecCall:
    body = sipp.offer_body(["1"], [sipp.Party("a", "7000", "1"), sipp.Party("b", callee, "1")])
    return SiprecCall(port, body, host=host, bind=bind)


def _bye(call: SiprecCall) -> int | None:
    try:
        return call.bye(timeout=3)
    except (TimeoutError, OSError):
        return None


def batch(args: argparse.Namespace) -> dict[str, object]:
    calls = [_call(args.host[0], args.port, args.bind, str(args.first + n)) for n in range(args.calls)]
    invite_all(calls, timeout=10)
    for call in calls:
        if call.answer is not None and call.answer.status == 200:
            call.ack()
    if args.answered:
        Path(args.answered).write_text(json.dumps([c.answer.status if c.answer else None for c in calls]))
    send_tones([c for c in calls if c.rtp_ports], args.seconds)
    # All at once: a recorder that died answers none, and each waits its own timeout.
    with ThreadPoolExecutor(len(calls)) as pool:
        byes = list(pool.map(lambda c: _bye(c) if c.rtp_ports else None, calls))
    return {
        "calls": [
            {"callee": str(args.first + n), "invite": c.answer.status if c.answer else None, "bye": b}
            for n, (c, b) in enumerate(zip(calls, byes, strict=True))
        ]
    }


def until(args: argparse.Namespace) -> dict[str, object]:
    started, attempts = time.time(), []
    deadline = started + args.within
    n = 0
    while time.time() < deadline:
        host = args.host[n % len(args.host)]
        n += 1
        call = _call(host, args.port, args.bind, str(args.first))
        try:
            status = call.invite(timeout=args.invite_timeout).status
        except (TimeoutError, OSError):
            status = None
        attempts.append({"host": host, "status": status, "at": time.time()})
        if status == 200:
            call.ack()
            send_tones([call], 1.0)
            bye = _bye(call)
            return {"answered_at": attempts[-1]["at"], "host": host, "bye": bye, "attempts": attempts}
        time.sleep(0.3)
    return {"answered_at": None, "attempts": attempts}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=["batch", "until"])
    ap.add_argument("--host", action="append", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--bind", required=True)
    ap.add_argument("--calls", type=int, default=1)
    ap.add_argument("--first", type=int, default=7000, help="the first callee number")
    ap.add_argument("--seconds", type=float, default=3.0)
    ap.add_argument("--within", type=float, default=60.0)
    ap.add_argument("--invite-timeout", type=float, default=2.0)
    ap.add_argument("--answered", default="")
    ap.add_argument("--report", required=True)
    args = ap.parse_args()
    report = batch(args) if args.mode == "batch" else until(args)
    Path(args.report).write_text(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
