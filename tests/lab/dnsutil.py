"""Small DNS client helpers for the lab tests (loopback only, short timeouts)."""

from __future__ import annotations

import socket
import time

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rdatatype
import dns.rrset

from rootwalk.lab import Lab

TIMEOUT = 2.0
#: Timeout when an answer is expected NOT to come.
SHORT = 0.3


def query(
    name: str,
    rdtype: str = "A",
    *,
    edns: int | None = 0,
    payload: int = 1232,
    rd: bool = False,
    do: bool = False,
) -> dns.message.Message:
    if edns is None:
        q = dns.message.make_query(name, rdtype, use_edns=False)
    else:
        q = dns.message.make_query(name, rdtype, use_edns=edns, payload=payload, want_dnssec=do)
    if not rd:
        q.flags &= ~dns.flags.RD
    return q


def ask(
    lab: Lab,
    server: str,
    name: str,
    rdtype: str = "A",
    *,
    tcp: bool = False,
    timeout: float = TIMEOUT,
    **kw: object,
) -> dns.message.Message:
    """Ask one lab server (by host name or address) one question, over UDP or TCP."""
    q = query(name, rdtype, **kw)  # type: ignore[arg-type]
    address = lab.server(server).address
    if tcp:
        return dns.query.tcp(q, address, port=lab.port, timeout=timeout)
    return dns.query.udp(q, address, port=lab.port, timeout=timeout)


def section(msg: dns.message.Message, which: str) -> list[str]:
    """The records of a section as sorted text lines (absolute names)."""
    rrsets: list[dns.rrset.RRset] = getattr(msg, which)
    return sorted(line for rrset in rrsets for line in rrset.to_text().splitlines())


def rrset(msg: dns.message.Message, which: str, name: str, rdtype: str) -> dns.rrset.RRset | None:
    for rr in getattr(msg, which):
        if rr.name == dns.name.from_text(name) and rr.rdtype == dns.rdatatype.from_text(rdtype):
            return rr  # type: ignore[no-any-return]
    return None


def raw_exchange(
    lab: Lab,
    server: str,
    wires: list[bytes],
    quiet: float = SHORT,
    limit: float = 5.0,
    expect: int | None = None,
) -> list[bytes]:
    """Send datagrams from one raw socket; collect every datagram back until ``quiet``
    seconds pass without one, ``expect`` arrived, or ``limit`` seconds passed."""
    address = lab.server(server).address
    got: list[bytes] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        for w in wires:
            sock.sendto(w, (address, lab.port))
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            sock.settimeout(quiet)
            try:
                data, _ = sock.recvfrom(65535)
            except TimeoutError:
                break
            got.append(data)
            if expect is not None and len(got) >= expect:
                break
    return got
