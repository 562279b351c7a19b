"""What the overload run watches besides dnsperf: the server's socket queue and its recovery.

* ``QueueSampler``: every 100 ms, the kernel receive queue (``rx_queue``, bytes) and the drop
  counter of the server's UDP socket(s), from ``/proc/net/udp``.
* ``recovery``: once the load stops, one question for a fresh name every 50 ms, each from its
  own socket, until one is answered (NOERROR or NXDOMAIN) within 100 ms.
"""

from __future__ import annotations

import contextlib
import selectors
import socket
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.rcode
import dns.rdatatype

PROC_NET_UDP = Path("/proc/net/udp")


def _local(field_: str) -> tuple[str, int]:
    """``0100A87F:4E21`` -> ("127.168.0.1", 20001): the address is the raw __be32 in hex."""
    ip_hex, port_hex = field_.split(":")
    return socket.inet_ntoa(struct.pack("<I", int(ip_hex, 16))), int(port_hex, 16)


def udp_queue(address: str, port: int) -> tuple[int, int, int]:
    """(sockets, rx_queue bytes summed, drops summed) of the UDP sockets bound to address:port.

    With SO_REUSEPORT a server may hold several sockets on the same address and port.
    """
    sockets = rx = drops = 0
    for line in PROC_NET_UDP.read_text().splitlines()[1:]:
        parts = line.split()
        if len(parts) < 13 or _local(parts[1]) not in ((address, port), ("0.0.0.0", port)):
            continue
        sockets += 1
        rx += int(parts[4].split(":")[1], 16)
        drops += int(parts[-1])
    return sockets, rx, drops


@dataclass
class QueueSampler:
    """Samples ``udp_queue`` every ``interval`` seconds in a thread, between start and stop."""

    address: str
    port: int
    interval: float = 0.1
    samples: list[tuple[float, int]] = field(default_factory=list)
    drops0: int = 0
    drops1: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __enter__(self) -> QueueSampler:
        self.drops0 = udp_queue(self.address, self.port)[2]
        self._thread = threading.Thread(target=self._run, name="udp-queue", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)
        self.drops1 = udp_queue(self.address, self.port)[2]

    def _run(self) -> None:
        t0 = time.monotonic()
        while not self._stop.wait(self.interval):
            with contextlib.suppress(OSError, ValueError):
                self.samples.append((time.monotonic() - t0, udp_queue(self.address, self.port)[1]))

    def summary(self) -> dict[str, Any]:
        peak = max((rx for _, rx in self.samples), default=None)
        return {
            "samples": len(self.samples),
            "peak_rx_queue_bytes": peak,
            "socket_drops": self.drops1 - self.drops0,
        }


def _query(line: str) -> dns.message.Message:
    """A question from a line of a dnsperf query file, ``NAME TYPE``."""
    name, qtype = line.split()
    return dns.message.make_query(name, dns.rdatatype.from_text(qtype))


@dataclass
class Probe:
    sent: float  # seconds after the load stopped
    latency: float | None = None
    rcode: str | None = None


def recovery(
    address: str,
    port: int,
    names: Iterator[str],
    start_at: float,
    *,
    interval: float = 0.05,
    good: float = 0.1,
    timeout: float = 5.0,
    limit: float = 30.0,
) -> dict[str, Any]:
    """Probe from ``start_at`` (monotonic) until a fresh name is answered within ``good``.

    Each probe is the next question of ``names`` (lines ``NAME TYPE``), sent from a new
    socket (a new source port, as a new client would); probes go out every ``interval``
    seconds whatever the answers, for ``limit`` seconds at most; a probe left unanswered
    for ``timeout`` is given up. ``recovery_s`` is the time from ``start_at`` to the
    arrival of the first answer that is NOERROR or NXDOMAIN and came within ``good`` of
    its probe; None if none did.
    """
    sel = selectors.DefaultSelector()
    probes: list[Probe] = []
    pending: dict[socket.socket, tuple[int, Probe, float]] = {}
    recovered: float | None = None
    while time.monotonic() < start_at:
        time.sleep(min(0.01, max(0.0, start_at - time.monotonic())))  # pacing, not readiness
    next_send = start_at
    try:
        while recovered is None:
            now = time.monotonic()
            if now - start_at > limit:
                break
            if now >= next_send:
                q = _query(next(names))
                sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                sock.setblocking(False)
                sent = time.monotonic()
                with contextlib.suppress(OSError):  # a full send buffer loses the probe
                    sock.sendto(q.to_wire(), (address, port))
                probe = Probe(sent=sent - start_at)
                probes.append(probe)
                pending[sock] = (q.id, probe, sent)
                sel.register(sock, selectors.EVENT_READ)
                next_send += interval
            for key, _ in sel.select(max(0.0, next_send - time.monotonic())):
                ready = key.fileobj
                assert isinstance(ready, socket.socket)
                got = time.monotonic()
                try:
                    wire = ready.recv(65535)
                    r = dns.message.from_wire(wire)
                except (OSError, dns.exception.DNSException):
                    continue
                qid, probe, sent = pending[ready]
                if r.id != qid:
                    continue
                probe.latency, probe.rcode = got - sent, dns.rcode.to_text(r.rcode())
                sel.unregister(ready)
                ready.close()
                del pending[ready]
                if r.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) and got - sent <= good:
                    recovered = got - start_at
                    break
            now = time.monotonic()
            for sock, (_, _, sent) in list(pending.items()):
                if now - sent > timeout:
                    sel.unregister(sock)
                    sock.close()
                    del pending[sock]
    finally:
        for sock in pending:
            sock.close()
        sel.close()
    answered = [p for p in probes if p.latency is not None]
    return {
        "recovery_s": recovered,
        "recovery_limit_s": limit,
        "probes_sent": len(probes),
        "probes_answered": len(answered),
        "probes": [(round(p.sent, 3), p.latency and round(p.latency, 4), p.rcode) for p in probes],
    }


def baseline(address: str, port: int, names: Iterator[str], count: int = 5) -> list[float | None]:
    """Latency of ``count`` fresh questions asked one after the other on an idle server."""
    out: list[float | None] = []
    for _ in range(count):
        q = _query(next(names))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.settimeout(2.0)
            t0 = time.monotonic()
            sock.sendto(q.to_wire(), (address, port))
            try:
                while dns.message.from_wire(sock.recv(65535)).id != q.id:
                    pass
                out.append(time.monotonic() - t0)
            except (OSError, dns.exception.DNSException):
                out.append(None)
    return out
