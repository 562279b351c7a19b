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
import dns.rrset

from rootwalk.resolution import Result, TraceEvent

__all__ = ["format_event", "format_result"]

_ARROW = "->"


def _rr_lines(rrsets: list[dns.rrset.RRset]) -> list[str]:
    lines = []
    for rrset in rrsets:
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
    out = [
        f";; status: {dns.rcode.to_text(result.rcode)}, answered from {source}, "
        f"{elapsed * 1000:.1f} ms"
    ]
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
    qt = dns.rdatatype.to_text(dns.rdatatype.RdataType(ev.qtype))
    if ev.kind == "start":
        return f"{pad}{ev.qname} {qt}: start at zone cut {ev.zone}"
    if ev.kind == "cache":
        return f"{pad}  cache    {ev.qname} {qt} {_ARROW} {ev.detail}"
    if ev.kind == "subquery":
        return f"{pad}  glueless {ev.zone}: need {ev.detail}, resolving it first"
    rtt = f"{ev.rtt * 1000:6.1f} ms" if ev.rtt is not None else "        "
    tcp = " (TCP)" if ev.tcp else ""
    server = f"{ev.server} [{ev.address}]"
    if ev.kind == "skipped":
        return f"{pad}  {rtt}  {str(ev.zone):<14} {server:<34} not asked  {_ARROW} {ev.detail}"
    what = _KIND_TEXT.get(ev.kind, ev.kind)
    return (
        f"{pad}  {rtt}  {str(ev.zone):<14} {server:<34} asked {ev.qname} {qt}{tcp}"
        f"  {_ARROW} {what}: {ev.detail}"
    )
