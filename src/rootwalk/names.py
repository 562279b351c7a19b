"""Pure helpers on wire names (rootwalk.wire.names) and addresses for the engine."""

from __future__ import annotations

import ipaddress

from rootwalk.wire.names import is_subdomain, label_count, strictly_below

__all__ = ["in_bailiwick", "is_localhost", "minimise", "strictly_below"]

# RFC 9156 §2.3: after MAX_MINIMISE_COUNT steps send the full name; the first
# MINIMISE_ONE_LAB steps add one label each, later ones spread the remaining labels out.
MAX_MINIMISE_COUNT = 10
MINIMISE_ONE_LAB = 4


def in_bailiwick(name: bytes, zone: bytes) -> bool:
    """True if ``name`` is ``zone`` or below it: data a server for ``zone`` may speak for."""
    return is_subdomain(name, zone)


def minimise(qname: bytes, zone: bytes, known: bytes) -> bytes:
    """The next name to ask a server of ``zone`` under QNAME minimisation (RFC 9156 §3).

    ``known`` is the deepest name already asked of this zone's servers without finding a cut
    (``zone`` itself at first). The result has one label more than ``known``, except that names
    with many labels are spread out so that at most MAX_MINIMISE_COUNT queries are needed.
    """
    total = label_count(qname)
    have = label_count(known)
    if have >= total:
        return qname
    step = 1
    done = have - label_count(zone)
    remaining = total - have
    if done >= MINIMISE_ONE_LAB:
        # Spread the rest over the steps left (RFC 9156 §2.3, the "multiple labels" rule).
        left = max(1, MAX_MINIMISE_COUNT - done)
        step = max(1, remaining // left)
    if done >= MAX_MINIMISE_COUNT:
        return qname
    # Skip the labels that stay hidden: the result keeps the last have + step labels.
    i = 0
    for _ in range(total - have - step):
        i += qname[i] + 1
    return qname[i:]


_LOCAL_NETS = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("0.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
    ipaddress.ip_network("::/128"),
)


def is_localhost(address: str) -> bool:
    """True for addresses that mean "this machine" (Unbound do-not-query-localhost: 127.0.0.0/8
    and ::1; Knot Resolver also filters 0.0.0.0 and ::, which reach the local host too)."""
    ip = ipaddress.ip_address(address)
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in net for net in _LOCAL_NETS)
