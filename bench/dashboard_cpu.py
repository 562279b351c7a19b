"""``python -m bench.dashboard_cpu``: cache-hit CPU per query with the dashboard closed and
open (a real headless Chromium on the page, streaming), in one run (issue #14).

A lab, one ``rootwalk serve`` with ``server.dashboard_listen``, one name made a cache hit, then
dnsperf at a fixed rate (``--rate``, below saturation, so CPU per query is the cost of a
query and not of a busy loop) in alternating phases: no page open / the page open. CPU is
utime + stime of the serve process from /proc/PID/stat over each phase, divided by the
questions dnsperf got answers to. A second server with the dashboard off gives the baseline
of the tap itself. Every packet stays on loopback; every phase is bounded by dnsperf's -l.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.procs import cpu_seconds
from rootwalk.lab import Lab


def serve(lab: Lab, tmp: Path, dashboard: bool) -> tuple[subprocess.Popen[str], int, str]:
    conf = tmp / f"rootwalk-{dashboard}.toml"
    conf.write_text(
        f"""
{lab.resolver_config_text}[server]
listen = ["127.0.0.1:0"]
control_socket = "off"
{'dashboard_listen = "127.0.0.1:0"' if dashboard else ""}
"""
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "rootwalk", "serve", "--config", str(conf)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    assert proc.stderr is not None
    url = ""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if not line:
            break
        m = re.search(r"dashboard on (http://\S+/)", line)
        if m:
            url = m.group(1)
        m = re.search(r"listening on 127\.0\.0\.1:(\d+)", line)
        if m:
            return proc, int(m.group(1)), url
    proc.kill()
    raise SystemExit("rootwalk serve did not start")


def dnsperf(port: int, qfile: Path, rate: int, seconds: int) -> int:
    out = subprocess.run(
        [
            "dnsperf",
            "-s",
            "127.0.0.1",
            "-p",
            str(port),
            "-d",
            str(qfile),
            "-Q",
            str(rate),
            "-l",
            str(seconds),
            "-c",
            "4",
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 30,
    ).stdout
    m = re.search(r"Queries completed:\s+(\d+)", out)
    assert m, out
    return int(m.group(1))


def phase(pid: int, port: int, qfile: Path, rate: int, seconds: int) -> float:
    before = cpu_seconds(pid)
    answered = dnsperf(port, qfile, rate, seconds)
    return (cpu_seconds(pid) - before) / answered * 1e6


def browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={tempfile.mkdtemp()}",
    ):
        opts.add_argument(arg)
    return webdriver.Chrome(
        options=opts, service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver")
    )


def micro(n: int = 200_000, rounds: int = 7) -> None:
    """The dashboard's own cost per cache hit, in process: ``Handler.fast`` with the tap off
    and on (process CPU time, best of ``rounds``), and ``Feed.tick`` over a second's worth of
    tap entries. Not disturbed by other processes the way a whole-server run is."""
    import asyncio
    import dataclasses

    import dns.message

    from rootwalk.config import load_config
    from rootwalk.resolver import Resolver
    from rootwalk.server.dashboard.feed import Feed
    from rootwalk.server.handler import Handler

    with Lab() as lab:
        base = load_config(lab.config_path)  # the lab's resolver settings and trust anchor
        config = dataclasses.replace(
            base, server=dataclasses.replace(base.server, hosts_file="off")
        )
        resolver = Resolver(config)
        handler = Handler(resolver, config)
        wire = dns.message.make_query("www.example.com", "A").to_wire()
        peer = ("127.0.0.1", 5353)

        async def warm() -> None:
            for _ in range(3):
                await handler.handle(wire, peer, tcp=False)

        asyncio.run(warm())
        assert handler.fast(wire, peer, False) is not None
        feed = Feed(handler, lambda: dict(handler.counters()))
        fast = handler.fast

        def per_query() -> float:
            best = float("inf")
            for _ in range(rounds):
                t = time.process_time()
                for _ in range(n):
                    fast(wire, peer, False)
                best = min(best, (time.process_time() - t) / n * 1e6)
                if handler.tap is not None:
                    feed.tick()  # keep the deque a second's size, as the service does
            return best

        off = per_query()
        feed.attach()
        on = per_query()
        for _ in range(10_000):
            fast(wire, peer, False)
        t = time.process_time()
        feed.tick()
        tick = (time.process_time() - t) / 10_000 * 1e6
        feed.subscribers = 1
        for _ in range(10_000):
            fast(wire, peer, False)
        t = time.process_time()
        feed.tick()
        tick_streaming = (time.process_time() - t) / 10_000 * 1e6
        feed.detach()
    print(f"in process, Handler.fast per cache hit (best of {rounds} x {n}):")
    print(f"  tap off {off:.3f} µs, tap on {on:.3f} µs (+{on - off:.3f} µs)")
    print(
        f"  Feed.tick over 10,000 hits: {tick:.3f} µs per hit; with a page streaming "
        f"{tick_streaming:.3f} µs per hit"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rate", type=int, default=10_000)
    ap.add_argument("--seconds", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--micro", action="store_true", help="only the in-process measurement")
    args = ap.parse_args()
    if args.micro:
        micro()
        return 0
    tmp = Path(tempfile.mkdtemp(prefix="rootwalk-dashcpu-"))
    qfile = tmp / "q.txt"
    qfile.write_text("www.example.com A\n")
    results: dict[str, list[float]] = {"off": [], "closed": [], "open": []}
    with Lab() as lab:
        for dashboard in (False, True):
            proc, port, url = serve(lab, tmp, dashboard)
            driver = browser() if dashboard else None
            try:
                dnsperf(port, qfile, 1000, 1)  # the name is now a fast-path hit
                for _ in range(args.rounds):
                    if driver is None:
                        results["off"].append(phase(proc.pid, port, qfile, args.rate, args.seconds))
                        continue
                    driver.get("about:blank")  # no page: nothing streams
                    time.sleep(1.5)  # the stream's end reaches the server (no readiness signal)
                    results["closed"].append(phase(proc.pid, port, qfile, args.rate, args.seconds))
                    driver.get(url)
                    time.sleep(1.5)  # the page loaded and streaming
                    results["open"].append(phase(proc.pid, port, qfile, args.rate, args.seconds))
            finally:
                if driver is not None:
                    driver.quit()
                proc.terminate()
                proc.wait(10)
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"cache-hit CPU µs/query at {args.rate} q/s, {args.rounds} x {args.seconds} s phases")
    for key, values in results.items():
        print(
            f"  dashboard {key:<6}: median {statistics.median(values):6.2f}  "
            f"({', '.join(f'{v:.2f}' for v in values)})"
        )
    closed, opened = statistics.median(results["closed"]), statistics.median(results["open"])
    print(
        f"  open vs closed: {100 * (opened / closed - 1):+.1f} %; closed vs off: "
        f"{100 * (closed / statistics.median(results['off']) - 1):+.1f} %"
    )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
