"""The lab without sockets: its servers answer the engine in process, under a fake clock.

``InLab`` builds the lab's world and its ``AuthServer``s but binds nothing; ``LabTransport``
implements the engine's ``rootwalk.transport.Transport`` by handing each query's bytes to the
server's ``AuthServer.process`` (the same code that answers on a real socket, faults included)
and moving a ``FakeClock`` by what the exchange would have taken: the server's delay plus a
simulated round trip, or the whole per-try timeout when no answer would come. Engine scenario
tests then run without sockets and without waiting, and every time they measure is exact::

    inlab = InLab()
    clock = FakeClock()
    resolver = Resolver(config, clock=clock, transport=inlab.transport(clock))

What the transport does with the server's datagrams mirrors ``rootwalk.transport.DnsTransport``:
a datagram with another ID is skipped, the first with our ID is *the* reply (judged by the same
``check_reply``), TC=1 asks again over TCP (RFC 7766 §5), and an address where no lab server
listens answers as an unused loopback address does: ICMP port unreachable, at once.

Time is simulated serially: an exchange advances the shared clock when it runs, so exchanges
of concurrent resolutions add up instead of overlapping. Scenario tests ask one question at a
time; concurrency and load (``tests/engine/test_shedding.py``) stay on real sockets.

Unlike the rest of ``rootwalk.lab`` this module imports the resolver's transport types, so
``rootwalk.lab`` does not import it: the lab proper stays independent of the resolver.
"""

from __future__ import annotations

import asyncio
import collections
import enum
from collections.abc import Mapping
from pathlib import Path
from typing import Protocol

from rootwalk.clock import Clock
from rootwalk.errors import UpstreamError, UpstreamTimeout, UpstreamUnreachable
from rootwalk.lab.authserver import AuthServer
from rootwalk.lab.world import ServerDirectory, World, build_world
from rootwalk.transport import Exchange, OutQuery, check_reply

__all__ = ["DEFAULT_RTT", "INPROCESS_NET", "InLab", "LabTransport", "Outcome", "SteppableClock"]

#: Simulated round trip to every lab server unless set per address (loopback is ~0.1 ms; one
#: millisecond keeps RTT-based selection meaningful and elapsed times easy to read).
DEFAULT_RTT = 0.001
#: Net prefix of an in-process lab: nothing is bound, so any 127.A works; a fixed one keeps
#: addresses the same in every run.
INPROCESS_NET = "127.77"
#: Port of an in-process lab (nothing is bound; it only has to match the resolver's config).
INPROCESS_PORT = 53
#: The resolver's side of every exchange, as the servers see it in their query logs.
CLIENT_ADDRESS = "127.0.0.1"
_FIRST_CLIENT_PORT = 40000
_TC = 0x02  # in the third header byte


class SteppableClock(Clock, Protocol):
    """A clock the transport may move (``rootwalk.clock.FakeClock``)."""

    def advance(self, seconds: float) -> None: ...


class Outcome(enum.Enum):
    """How one exchange ended, as ``LabTransport.outcomes`` counts it."""

    UDP = "udp"  # answered over UDP
    TCP = "tcp"  # answered over TCP after TC=1
    TIMEOUT = "timeout"
    UNREACHABLE = "unreachable"
    REJECTED = "rejected"  # a reply with our ID that check_reply refused (mismatch, malformed)


class LabTransport:
    """``rootwalk.transport.Transport`` over lab servers in process, moving a fake clock."""

    def __init__(
        self,
        servers: Mapping[str, AuthServer],
        port: int,
        clock: SteppableClock,
        *,
        case_sensitive: bool = False,
        rtt: float = DEFAULT_RTT,
    ) -> None:
        self.servers = servers
        self.port = port
        self.clock = clock
        # As DnsTransport: with DNS 0x20 the echoed question must keep our letter case.
        self.case_sensitive = case_sensitive
        self.default_rtt = rtt
        #: Simulated round trip per server address (selection tests make one server slower).
        self.rtts: dict[str, float] = {}
        #: Exchanges by (address, outcome), since the last ``reset``.
        self.outcomes: collections.Counter[tuple[str, Outcome]] = collections.Counter()
        self._next_port = _FIRST_CLIENT_PORT

    def rtt(self, address: str) -> float:
        return self.rtts.get(address, self.default_rtt)

    def count(self, outcome: Outcome | None = None, address: str | None = None) -> int:
        return sum(
            c
            for (a, o), c in self.outcomes.items()
            if (outcome is None or o is outcome) and (address is None or a == address)
        )

    def reset(self) -> None:
        self.outcomes.clear()

    def _source(self) -> tuple[str, int]:
        # A new source port per exchange, as a fresh connected socket gets (RFC 5452 §9.2);
        # counted, not random, so that query logs are the same in every run.
        port = self._next_port
        self._next_port = _FIRST_CLIENT_PORT + (port + 1 - _FIRST_CLIENT_PORT) % 20000
        return (CLIENT_ADDRESS, port)

    async def exchange(self, query: OutQuery, address: str, port: int, timeout: float) -> Exchange:
        # Let other tasks run, as a real send would: coalesced waiters and cancellations still
        # interleave with the walk.
        await asyncio.sleep(0)
        try:
            exchange = self._exchange(query, address, port, timeout)
        except UpstreamError as exc:
            outcome = {
                UpstreamTimeout: Outcome.TIMEOUT,
                UpstreamUnreachable: Outcome.UNREACHABLE,
            }.get(type(exc), Outcome.REJECTED)
            self.outcomes[(address, outcome)] += 1
            raise
        self.outcomes[(address, Outcome.TCP if exchange.tcp else Outcome.UDP)] += 1
        return exchange

    def _exchange(self, query: OutQuery, address: str, port: int, timeout: float) -> Exchange:
        clock = self.clock
        server = self.servers.get(address)
        rtt = self.rtt(address)
        if server is None or port != self.port:
            # Every 127/8 address is this machine's: a datagram to a port where nothing listens
            # comes back as ICMP port unreachable, which the connected socket reports at once.
            clock.advance(rtt)
            raise UpstreamUnreachable(f"connection refused: no lab server at {address}@{port}")
        wire, spent = self._first_reply(server, query, "udp", timeout, rtt)
        tcp = False
        if len(wire) >= 12 and wire[2] & _TC:
            # RFC 7766 §5: TC=1 asks again over TCP, within what is left of this try (as
            # DnsTransport, at least 50 ms); the connection costs one more round trip.
            tcp = True
            left = max(0.05, timeout - spent)
            wire, cost = self._first_reply(server, query, "tcp", left, 2 * rtt)
            spent += cost
        response = check_reply(query, wire, case_sensitive=self.case_sensitive)
        return Exchange(response, spent, tcp)

    def _first_reply(
        self, server: AuthServer, query: OutQuery, transport: str, timeout: float, rtt: float
    ) -> tuple[bytes, float]:
        """The first message with our ID and when it arrived; the clock has moved by that."""
        out, delay = server.process(query.wire, transport, self._source())
        qid = query.wire[:2]
        # Another ID: a forgery or a stale answer, skipped while we wait (as DnsTransport).
        mine = next((m for m in out if m[:2] == qid), None)
        arrives = delay + rtt
        if mine is None or arrives >= timeout:
            self.clock.advance(timeout)
            raise UpstreamTimeout(f"timed out ({transport})")
        self.clock.advance(arrives)
        return mine, arrives


class InLab(ServerDirectory):
    """The lab's world and servers, with nothing bound: for ``LabTransport``.

    Offers what tests use of ``rootwalk.lab.Lab`` (``server``, ``servers``, ``servers_for``,
    ``addr``, ``port``, ``reset_counters``, ``clear_faults``, root hints), so a scenario reads
    the same over sockets and in process.
    """

    def __init__(
        self, net: str = INPROCESS_NET, port: int = INPROCESS_PORT, domains: int = 0
    ) -> None:
        self.net = net
        self.port = port
        self.world: World = build_world(net, domains)
        self._index(
            [
                AuthServer(s.address, port, s.name, self.world.server_zones[s.address], s.aliases)
                for s in self.world.servers
            ]
        )
        #: Set by ``write_root_hints``; a resolver config names a file.
        self.root_hints_path: Path | None = None
        #: Set by ``write_trust_anchor``: the lab's DNSSEC trust anchor file.
        self.trust_anchor_path: Path | None = None

    def __repr__(self) -> str:
        return f"<InLab net={self.net} port={self.port} servers={len(self.servers)}>"

    def transport(
        self, clock: SteppableClock, *, case_sensitive: bool = False, rtt: float = DEFAULT_RTT
    ) -> LabTransport:
        return LabTransport(self.servers, self.port, clock, case_sensitive=case_sensitive, rtt=rtt)

    @property
    def root_hints_text(self) -> str:
        return self.world.root_hints_text

    def write_root_hints(self, path: Path) -> Path:
        path.write_text(self.root_hints_text, encoding="utf-8")
        self.root_hints_path = path
        return path

    @property
    def trust_anchor_text(self) -> str:
        return self.world.trust_anchor_text

    def write_trust_anchor(self, path: Path) -> Path:
        path.write_text(self.trust_anchor_text, encoding="utf-8")
        self.trust_anchor_path = path
        return path

    def addr(self, n: int, block: int = 0) -> str:
        return f"{self.net}.{block}.{n}"
