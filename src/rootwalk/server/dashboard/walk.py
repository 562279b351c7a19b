"""A walk as JSON: the trace events of one resolution turned into the hops the page draws.

The seed documents draw a lookup as client -> resolver -> root -> TLD -> the zone's servers and
back. ``walk_json`` gives the page (and anything else that shows a walk, such as the
explanation of an answer) the same story as data: one object per step, in order.

A hop (``kind`` one of the ``TraceKind`` values of rootwalk/resolution.py):

* ``start``: a walk (or a sub-walk, ``depth`` > 0) begins at ``zone``, the deepest known cut;
* ``cache``: a step the cache answered (``detail`` says what it held), nothing sent;
* ``subquery``: a glueless delegation: the name server's address is resolved first;
* ``skipped``: a server not asked (``detail`` says why: this machine, not allowed, ...);
* every other kind is one exchange with a server: ``server`` (its name) and ``address``,
  ``zone`` it was asked for, ``rtt_ms`` (None for a timeout), ``tcp``, what came back
  (``kind``: referral, answer, cname, nodata, nxdomain, lame, timeout, error, ...) and
  ``detail``.

Each hop has a ``dnssec`` field: None until validation reports a status per link (the lead's
DNSSEC work fills it; the page shows it when it is a string).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dns.rdatatype

from rootwalk.resolution import TraceEvent, TraceKind
from rootwalk.wire.names import to_text

__all__ = ["ASKED", "hop_json", "rdtype_text", "walk_json"]

#: Kinds that record one exchange with a server (a question sent, something or nothing back).
ASKED = frozenset(TraceKind) - {
    TraceKind.START,
    TraceKind.CACHE,
    TraceKind.SUBQUERY,
    TraceKind.SKIPPED,
}


def rdtype_text(rdtype: int) -> str:
    return dns.rdatatype.to_text(dns.rdatatype.RdataType.make(rdtype))


def hop_json(ev: TraceEvent) -> dict[str, Any]:
    """One trace event as a JSON object (see the module docstring)."""
    return {
        "kind": str(ev.kind),
        "depth": ev.depth,
        "qname": to_text(ev.qname),
        "qtype": rdtype_text(ev.qtype),
        "zone": to_text(ev.zone) if ev.zone is not None else None,
        "server": to_text(ev.server) if ev.server is not None else None,
        "address": ev.address,
        "rtt_ms": round(ev.rtt * 1000, 2) if ev.rtt is not None else None,
        "tcp": ev.tcp,
        "detail": ev.detail,
        "asked": ev.kind in ASKED,
        "dnssec": None,
    }


def walk_json(events: Iterable[TraceEvent]) -> list[dict[str, Any]]:
    return [hop_json(ev) for ev in events]
