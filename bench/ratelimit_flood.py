"""How much of a UDP flood server.client_rate_limit lets through while another client is served.

    .venv/bin/python -m bench.ratelimit_flood [--seconds 3] [--rate 100] [--burst 200]

Starts ``rootwalk serve`` in front of the in-process lab (loopback only), warms
www.example.com, then for ``--seconds`` one flooding client (127.0.0.2, a thread sending as
fast as Python can, capped at ``--max-packets``) and one ordinary client (127.0.0.3, one
question every 50 ms, 2 s timeout) ask for it. Run once with the limit off, once with
action "drop", once with "truncate". Prints what the flood got and how the other client fared.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import dns.flags
import dns.message
import dns.query

from rootwalk.lab import Lab


def start(lab: Lab, tmp: Path, extra: str) -> tuple[subprocess.Popen[str], tuple[str, int]]:
    path = tmp / f"rl-{time.monotonic_ns()}.toml"
    path.write_text(f"""
{lab.resolver_config_text}[server]
listen = ["127.0.0.1:0"]
control_socket = "off"
{extra}
""")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rootwalk", "serve", "--config", str(path)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "ROOTWALK_RUNTIME_DIR": str(tmp)},
    )
    assert proc.stderr is not None
    for line in proc.stderr:
        m = re.search(r"listening on (\S+):(\d+) \(udp, tcp\)", line)
        if m:
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, (m.group(1), int(m.group(2)))
    raise SystemExit("rootwalk serve did not start")


def run(where: tuple[str, int], seconds: float, max_packets: int, pps: float) -> dict[str, float]:
    wire = dns.message.make_query("www.example.com", "A").to_wire()
    stop = threading.Event()
    counts: dict[str, float] = {"sent": 0, "answers": 0, "tc": 0, "flood_seconds": 1.0}
    flood = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    flood.bind(("127.0.0.2", 0))
    flood.settimeout(0.2)

    def send() -> None:
        n = 0
        t0 = time.monotonic()
        while not stop.is_set() and n < max_packets:
            if pps and n % 100 == 0:  # paced in batches of 100
                ahead = t0 + n / pps - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            try:
                flood.sendto(wire, where)
                n += 1
            except OSError:
                pass
        counts["sent"] = n
        counts["flood_seconds"] = time.monotonic() - t0

    def receive() -> None:
        while True:
            try:
                data = flood.recv(4096)
            except TimeoutError:
                if stop.is_set():
                    return
                continue
            counts["tc" if data[2] & 0x02 else "answers"] += 1

    threads = [threading.Thread(target=send), threading.Thread(target=receive)]
    for t in threads:
        t.start()
    ok = asked = 0
    latencies: list[float] = []
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        asked += 1
        t0 = time.monotonic()
        try:
            r = dns.query.udp(
                dns.message.make_query("www.example.com", "A"),
                where[0],
                port=where[1],
                timeout=2,
                source="127.0.0.3",
            )
            if r.answer and not r.flags & dns.flags.TC:
                ok += 1
                latencies.append(time.monotonic() - t0)
        except Exception:
            pass
        time.sleep(0.05)
    stop.set()
    for t in threads:
        t.join()
    flood.close()
    latencies.sort()
    return {
        **counts,
        "other_asked": asked,
        "other_ok": ok,
        "other_p50_ms": 1000 * latencies[len(latencies) // 2] if latencies else float("nan"),
        "other_max_ms": 1000 * latencies[-1] if latencies else float("nan"),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--rate", type=float, default=100.0)
    p.add_argument("--burst", type=int, default=200)
    p.add_argument("--max-packets", type=int, default=1_000_000)
    p.add_argument("--pps", type=float, default=0, help="flood pace (0: as fast as it goes)")
    a = p.parse_args()
    limit = f"client_rate_limit = {a.rate}\nclient_rate_burst = {a.burst}\n"
    rows = {
        "off": "",
        "drop": limit + 'client_rate_action = "drop"',
        "truncate": limit + 'client_rate_action = "truncate"',
    }
    with Lab() as lab, tempfile.TemporaryDirectory() as tmp:
        for label, extra in rows.items():
            proc, where = start(lab, Path(tmp), extra)
            try:
                dns.query.udp(
                    dns.message.make_query("www.example.com", "A"),
                    *where[:1],
                    port=where[1],
                    timeout=5,
                )
                r = run(where, a.seconds, a.max_packets, a.pps)
            finally:
                proc.terminate()
                proc.wait(10)
            secs = r["flood_seconds"]
            print(
                f"{label:9s} {secs:.1f} s: flood sent {r['sent']:7.0f} "
                f"({r['sent'] / secs:7.0f}/s), answered {r['answers']:6.0f} "
                f"({r['answers'] / secs:6.0f}/s), "
                f"TC {r['tc']:6.0f}; other client {r['other_ok']:.0f}/{r['other_asked']:.0f} "
                f"answered, p50 {r['other_p50_ms']:.2f} ms, max {r['other_max_ms']:.2f} ms"
            )


if __name__ == "__main__":
    main()
