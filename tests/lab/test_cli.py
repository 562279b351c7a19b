"""``rootwalk lab up`` as a subprocess."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
from pathlib import Path

import dns.message
import dns.query

from rootwalk.lab import Lab

READY = "root hints: "


def _start(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(
        [sys.executable, "-m", "rootwalk", "lab", "up", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def _read_until_ready(proc: subprocess.Popen[str], timeout: float = 20.0) -> list[str]:
    """Lines printed up to the root hints line (a reader thread, bounded by ``timeout``)."""
    lines: list[str] = []
    ready = threading.Event()

    def reader() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith(READY):
                ready.set()
                return
        ready.set()

    threading.Thread(target=reader, daemon=True).start()
    ready.wait(timeout)
    return lines


def test_lab_up_serves_and_exits_0_on_sigterm() -> None:
    rnd = random.SystemRandom()
    net, port = f"127.{rnd.randint(10, 250)}", rnd.randint(20000, 60999)
    proc = _start("--port", str(port), "--net", net)
    try:
        lines = _read_until_ready(proc)
        assert lines and lines[-1].startswith(READY), (lines, proc.poll())
        hints = Path(lines[-1][len(READY) :])
        assert hints.exists()
        assert f"{net}.0.2" in hints.read_text()
        assert any(f"{net}.0.20" in line and "ns1.example.com." in line for line in lines)
        assert f"port {port}" in lines[0]
        q = dns.message.make_query("www.example.com", "A")
        r = dns.query.udp(q, f"{net}.0.20", port=port, timeout=2)
        assert r.answer[0][0].address == "192.0.2.1"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
        assert proc.returncode == 0
        assert not hints.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)


def test_lab_up_bind_failure_exits_2_with_one_line(lab: Lab) -> None:
    proc = _start("--port", str(lab.port), "--net", lab.net)
    try:
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=10)
    assert proc.returncode == 2
    assert len(err.strip().splitlines()) == 1
    assert f"address {lab.addr(2)}:{lab.port} is already in use (udp)" in err
    assert "Errno" not in err
