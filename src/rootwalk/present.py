"""Human-readable output: answers in dig's presentation format and walks step by step.

Used by ``rootwalk query`` and the lab demo. Pure formatting: takes results and trace events,
returns strings.
"""

from __future__ import annotations

import dns.edns
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from rootwalk.resolution import Result, TraceEvent
from rootwalk.wire.convert import to_dns_rrset
from rootwalk.wire.message import RRset
from rootwalk.wire.names import to_text

__all__ = ["format_event", "format_result"]

_ARROW = "->"


def _rr_lines(rrsets: list[RRset]) -> list[str]:
    lines = []
    for compact in rrsets:
        rrset = to_dns_rrset(compact)
        for rd in rrset:
            lines.append(
                f"{rrset.name}\t{rrset.ttl}\t{dns.rdataclass.to_text(rrset.rdclass)}\t"
                f"{dns.rdatatype.to_text(rrset.rdtype)}\t{rd}"
            )
    return lines


def format_result(
    qname: dns.name.Name, qtype: int, result: Result, *, elapsed: float, upstream: int
) -> str:
    """dig-like: a header comment, the question, the answer and authority sections."""
    source = (
        "cache"
        if result.from_cache
        else f"{upstream} upstream quer{'y' if upstream == 1 else 'ies'}"
    )
    if result.stale:
        source += ", stale"
    status = dns.rcode.to_text(dns.rcode.Rcode.make(result.rcode))
    out = [f";; status: {status}, answered from {source}, {elapsed * 1000:.1f} ms"]
    if result.rcode in (0, 3):
        out.append(f";; DNSSEC: {result.security.value}")
    for code, text in result.ede:
        try:
            name = dns.edns.EDECode(code).name
        except ValueError:
            name = str(code)
        out.append(f";; EXTENDED DNS ERROR {code} ({name}): {text}")
    out.append("")
    out.append(";; QUESTION SECTION:")
    out.append(f";{qname}\t\tIN\t{dns.rdatatype.to_text(dns.rdatatype.RdataType(qtype))}")
    if result.answer:
        out += ["", ";; ANSWER SECTION:", *_rr_lines(result.answer)]
    if result.authority:
        out += ["", ";; AUTHORITY SECTION:", *_rr_lines(result.authority)]
    return "\n".join(out)


_KIND_TEXT = {
    "referral": "referral",
    "answer": "ANSWER",
    "cname": "CNAME",
    "nodata": "NODATA",
    "nxdomain": "NXDOMAIN",
    "no-cut": "no zone cut",
    "lame": "LAME",
    "error": "error",
    "timeout": "TIMEOUT",
    "unreachable": "unreachable",
    "mismatch": "mismatched reply",
    "malformed": "malformed reply",
}


def format_event(ev: TraceEvent) -> str | None:
    """One line per step; None for events not worth a line."""
    pad = "    " * ev.depth
    qt = dns.rdatatype.to_text(dns.rdatatype.RdataType.make(ev.qtype))
    qname = to_text(ev.qname)
    zone = to_text(ev.zone) if ev.zone is not None else "-"
    if ev.kind == "start":
        return f"{pad}{qname} {qt}: start at zone cut {zone}"
    if ev.kind == "cache":
        return f"{pad}  cache    {qname} {qt} {_ARROW} {ev.detail}"
    if ev.kind == "subquery":
        return f"{pad}  glueless {zone}: need {ev.detail}, resolving it first"
    if ev.kind == "dnssec":
        # One link of the chain of trust as the validator checked it (dnssec/validator.py).
        return f"{pad}  dnssec   {ev.detail}"
    rtt = f"{ev.rtt * 1000:6.1f} ms" if ev.rtt is not None else "        "
    tcp = " (TCP)" if ev.tcp else ""
    server = f"{to_text(ev.server) if ev.server is not None else '-'} [{ev.address}]"
    if ev.kind == "skipped":
        return f"{pad}  {rtt}  {zone:<14} {server:<34} not asked  {_ARROW} {ev.detail}"
    what = _KIND_TEXT.get(ev.kind, ev.kind)
    return (
        f"{pad}  {rtt}  {zone:<14} {server:<34} asked {qname} {qt}{tcp}"
        f"  {_ARROW} {what}: {ev.detail}"
    )
