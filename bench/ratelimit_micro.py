"""Cost of server.client_rate_limit on the UDP cache-hit path (UdpProtocol.datagram_received
with Handler.fast inside), in process: no sockets are written (the send is a no-op).

    .venv/bin/python -m bench.ratelimit_micro [--n 200000] [--rounds 5]

Rows: off (the default), on and within the rate (per address, and per /24: the prefix is
computed once per address and cached), and over the rate (drop: no answer rendered).
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import time
from typing import Any

import dns.message

from rootwalk.clock import ShiftedClock
from rootwalk.config import Config, DnssecConfig, Limits, ResolverConfig, ServerConfig
from rootwalk.lab import Lab
from rootwalk.resolver import Resolver
from rootwalk.server.app import Server, bind_one
from rootwalk.server.udp import UdpProtocol


class _Transport:
    def sendto(self, data: bytes, addr: Any) -> None:
        pass


async def main(n: int, rounds: int) -> None:
    with Lab() as lab:
        base = Config(
            resolver=ResolverConfig(
                root_hints=lab.root_hints_path,
                upstream_port=lab.port,
                upstream_allow=("127.0.0.0/8",),
                do_not_query_localhost=False,
            ),
            dnssec=DnssecConfig(trust_anchor_file=str(lab.trust_anchor_path)),
            limits=Limits(),
            server=ServerConfig(listen=("127.0.0.1:0",)),
        )
        listener = bind_one("127.0.0.1", 0)
        srv = Server(
            base, [listener], resolver=Resolver(base, clock=ShiftedClock()), announce=False
        )
        await srv.start()
        handler = srv.handler
        q = dns.message.make_query("www.example.com", "A")
        wire = q.to_wire()
        for _ in range(3):  # resolve, then render for the fast path
            await handler.handle(wire, ("127.0.0.9", 5353), tcp=False)
        proto = UdpProtocol(handler, srv.inflight)
        proto.connection_made(_Transport())  # type: ignore[arg-type]
        addr = ("10.1.2.3", 5353)  # private: allowed by the default access_control
        assert handler.fast(wire, addr, False) is not None

        def server(**kw: object) -> Config:
            return dataclasses.replace(base, server=dataclasses.replace(base.server, **kw))  # type: ignore[arg-type]

        rows = {
            "off": server(),
            "on, per address": server(client_rate_limit=1e7, client_rate_burst=10**7),
            "on, per /24": server(
                client_rate_limit=1e7, client_rate_burst=10**7, client_rate_prefix_v4=24
            ),
            "over the rate, drop": server(
                client_rate_limit=1e-6, client_rate_burst=1, client_rate_action="drop"
            ),
            "over the rate, truncate": server(client_rate_limit=1e-6, client_rate_burst=1),
        }
        best: dict[str, float] = {}
        for _ in range(rounds):  # interleaved rounds: machine noise hits every row alike
            for label, config in rows.items():
                handler.configure(config)
                for _ in range(3):
                    await handler.handle(wire, ("127.0.0.9", 5353), tcp=False)
                recv = proto.datagram_received
                started = time.perf_counter()
                for _ in range(n):
                    recv(wire, addr)
                ns = (time.perf_counter() - started) / n * 1e9
                best[label] = min(best.get(label, ns), ns)
        for label, ns in best.items():
            print(f"{label:26s} {ns:7.0f} ns per datagram (best of {rounds} x {n})")
        await srv.shutdown()


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--rounds", type=int, default=5)
    a = p.parse_args()
    asyncio.run(main(a.n, a.rounds))
