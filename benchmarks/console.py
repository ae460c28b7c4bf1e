#!/usr/bin/env python3
"""The web console's weight and speed on localhost, in Debian's headless Chromium.

Prints what the login page loads (each file as sent, gzip over the wire, and the
total), and the time from navigation to an interactive recordings page (the first
row of the table shown) over repeated cold loads with a signed-in session.

    python benchmarks/console.py [--runs 15]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import uuid
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from machine_info import machine  # noqa: E402

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    from tests.support.audio import tone_pcm, wav_bytes
    from tests.support.server import ADMIN_PASSWORD, ApplianceServer, create_device, prepare_admin

    server = ApplianceServer().start()
    try:
        admin, _ = prepare_admin(server)
        device = create_device(admin)
        audio = wav_bytes(tone_pcm(3), 8000)
        for n in range(40):
            r = httpx.post(
                server.url + "/api/v1/recordings",
                data={"call_id": uuid.uuid4().hex, "caller": f"80{n:02d}", "callee": "9001",
                      "started_at": "2026-03-01T10:00:00+00:00"},
                files={"audio": ("call.wav", audio, "audio/wav")},
                auth=(device["alias"], device["secret"]),
            )
            r.raise_for_status()
        with sync_playwright() as p:
            p.selectors.set_test_id_attribute("data-test")
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=FLAGS)
            context = browser.new_context()
            page = context.new_page()
            loaded: list[str] = []
            page.on("request", lambda req: loaded.append(req.url) if req.resource_type in ("document", "script", "stylesheet") else None)
            page.goto(server.url + "/#/login")
            page.get_by_test_id("login-submit").wait_for()
            files = []
            with httpx.Client(headers={"Accept-Encoding": "gzip"}) as client:
                for url in dict.fromkeys(loaded):
                    with client.stream("GET", url) as response:
                        raw = sum(len(chunk) for chunk in response.iter_raw())
                        files.append((url.removeprefix(server.url), raw, response.headers.get("content-encoding", "-")))
            page.get_by_test_id("login-user").fill("admin")
            page.get_by_test_id("login-password").fill(ADMIN_PASSWORD)
            page.get_by_test_id("login-submit").click()
            page.locator("[data-test=recordings] tbody tr").first.wait_for()
            state = context.storage_state()
            context.close()
            times = []
            for _ in range(args.runs):
                ctx = browser.new_context(storage_state=state)  # cold cache, signed in
                tab = ctx.new_page()
                began = time.perf_counter()
                tab.goto(server.url + "/#/recordings")
                tab.locator("[data-test=recordings] tbody tr").first.wait_for()
                times.append((time.perf_counter() - began) * 1000)
                ctx.close()
            browser.close()
    finally:
        server.stop()
    print(f"# web console on localhost, {time.strftime('%Y-%m-%d %H:%M')} on {machine()}")
    print("| what the login page loads | bytes over the wire | encoding |")
    print("|---|---|---|")
    for url, size, encoding in files:
        print(f"| {url} | {size:,} | {encoding} |")
    print(f"| **total** | **{sum(s for _, s, _ in files):,}** | |")
    times.sort()
    print()
    print(f"time to an interactive recordings page (first row shown), cold cache, {args.runs} runs: "
          f"median {statistics.median(times):.0f} ms, p95 {times[int(0.95 * (len(times) - 1))]:.0f} ms, "
          f"min {times[0]:.0f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
