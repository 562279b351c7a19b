"""The floor: a Python UDP server that does nothing but answer with pre-built bytes.

It answers every question with one fixed rendered answer, patching only the ID and copying
the question, on the same event loop rootwalk uses (uvloop when installed), and sends it the
way rootwalk's fast path does (``socket.sendto`` on a duplicate of the listening socket).
What it costs per query is what the event loop and the system calls cost in Python;
rootwalk's cache hit cannot be cheaper, so the bench reports rootwalk against this floor as
well as against Unbound.

``python -m bench.floor ADDR PORT`` prints ``listening on ADDR:PORT`` when ready and runs until
SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from typing import Any

import dns.message
import dns.rrset

from rootwalk.server.app import run


def _answer() -> tuple[bytes, int]:
    q = dns.message.make_query("www.example.com.", "A")
    r = dns.message.make_response(q)
    r.answer = [dns.rrset.from_text("www.example.com.", 300, "IN", "A", "192.0.2.1")]
    wire = r.to_wire()
    return wire, len(q.to_wire())


class Floor(asyncio.DatagramProtocol):
    def __init__(self, sock: socket.socket) -> None:
        self.answer, self.qlen = _answer()
        self.out = socket.socket(sock.family, sock.type, fileno=os.dup(sock.fileno()))
        self.out.setblocking(False)

    def connection_lost(self, exc: Exception | None) -> None:
        self.out.close()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        # Same shape of work as rootwalk's fast path: slice, concatenate, send. (A plain try
        # costs nothing in 3.11; contextlib.suppress is a context manager call per packet.)
        try:  # noqa: SIM105
            self.out.sendto(data[:2] + self.answer[2 : self.qlen] + self.answer[self.qlen :], addr)
        except OSError:
            pass


async def serve(host: str, port: int) -> int:
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((host, port))
    floor = Floor(sock)
    transport, _ = await loop.create_datagram_endpoint(lambda: floor, sock=sock)
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    print(f"listening on {host}:{port} ({type(loop).__module__.split('.')[0]})", flush=True)
    await stop.wait()
    transport.close()
    return 0


def main(argv: list[str]) -> int:
    host, port = argv[0], int(argv[1])
    return run(serve(host, port))


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
