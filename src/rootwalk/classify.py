"""Scrub and classify an upstream response before anything acts on it (guide §4, §5).

``classify(response, qname, qtype, zone)`` is pure: it reads a dnspython Message and returns a
``Classified`` whose kind is one of a closed set. Everything it keeps has passed the bailiwick
filter for ``zone``, the zone cut the query was sent to: a server for ``zone`` may speak only
for names at or below ``zone`` (RFC 2181 §5.4.1; Unbound ``iter_scrub.c``).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
from dns.rdatatype import RdataType

from rootwalk.names import in_bailiwick, strictly_below

__all__ = ["Classified", "ResponseKind", "classify"]

# A server's own answer section should never need more links than this; the resolver has its
# own, configurable, chain limit across servers.
_MAX_LINKS_PER_RESPONSE = 16


class ResponseKind(enum.Enum):
    ANSWER = "answer"  # data for the question (possibly after an in-zone CNAME chain)
    CNAME = "cname"  # the chain leaves this zone: restart at ``target``
    REFERRAL = "referral"  # a delegation to a zone closer to the name
    NODATA = "nodata"  # the name exists, the type does not (RFC 2308 §2.2)
    NXDOMAIN = "nxdomain"  # the name does not exist (RFC 2308 §2.1)
    LAME = "lame"  # not authoritative and no useful referral
    THROWAWAY = "throwaway"  # an error rcode or unusable message


@dataclass(frozen=True)
class Classified:
    kind: ResponseKind
    qname: dns.name.Name
    qtype: RdataType
    rcode: int
    aa: bool
    # CNAME/DNAME links followed inside this response, in order (synthesised CNAMEs included).
    chain: list[dns.rrset.RRset] = field(default_factory=list)
    # Final RRsets for the question at the end of the chain.
    answer: list[dns.rrset.RRset] = field(default_factory=list)
    # Where the chain ends: the name the answer or negative result is about.
    target: dns.name.Name = dns.name.root
    soa: dns.rrset.RRset | None = None
    ns: dns.rrset.RRset | None = None
    glue: list[dns.rrset.RRset] = field(default_factory=list)
    # RRSIGs kept alongside what they cover, keyed by (owner, covered type); for DNSSEC.
    sigs: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = field(default_factory=dict)
    reason: str = ""


def classify(
    response: dns.message.Message,
    qname: dns.name.Name,
    qtype: RdataType,
    zone: dns.name.Name,
    *,
    recursive: bool = False,
) -> Classified:
    """Classify ``response`` to the question (qname, qtype) sent to a server for ``zone``.

    ``recursive``: the server is a forwarder answering with RD=1, so its answers are taken as
    final although they carry no AA bit (they come from its cache).
    """
    rcode = response.rcode()
    aa = bool(response.flags & dns.flags.AA) or recursive

    def bad(kind: ResponseKind, reason: str) -> Classified:
        return Classified(kind, qname, qtype, rcode, aa, target=qname, reason=reason)

    if response.opcode() != dns.opcode.QUERY:
        return bad(ResponseKind.THROWAWAY, "unexpected opcode")
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return bad(ResponseKind.THROWAWAY, dns.rcode.to_text(rcode))

    sigs: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = {}
    answers: dict[tuple[dns.name.Name, int], dns.rrset.RRset] = {}
    dnames: dict[dns.name.Name, dns.rrset.RRset] = {}
    for rrset in response.answer:
        # Scrub: out-of-bailiwick answer data is never believed (Unbound scrub_message).
        if rrset.rdclass != dns.rdataclass.IN or not in_bailiwick(rrset.name, zone):
            continue
        if rrset.rdtype == dns.rdatatype.RRSIG:
            sigs[(rrset.name, rrset.covers)] = rrset
            continue
        answers[(rrset.name, rrset.rdtype)] = rrset
        if rrset.rdtype == dns.rdatatype.DNAME:
            dnames[rrset.name] = rrset

    # Follow the chain from qname through this response (RFC 1034 §4.3.2 step 3a, RFC 6672).
    chain: list[dns.rrset.RRset] = []
    final: list[dns.rrset.RRset] = []
    name = qname
    seen = {qname}
    for _ in range(_MAX_LINKS_PER_RESPONSE):
        if qtype == dns.rdatatype.ANY:
            final = [r for (n, _t), r in answers.items() if n == name]
            if final:
                break
        elif (name, qtype) in answers:
            final = [answers[(name, qtype)]]
            break
        # RFC 6672 §2.2: a DNAME above the name governs it; a CNAME the server put beside it is
        # only its own synthesis, so we build that link ourselves and ignore the server's.
        dname = None if qtype == dns.rdatatype.DNAME else _covering_dname(name, dnames)
        cname = answers.get((name, dns.rdatatype.CNAME))
        if dname is not None:
            try:
                new = name.relativize(dname.name).derelativize(dname[0].target)
            except dns.exception.DNSException:
                return bad(ResponseKind.THROWAWAY, "DNAME substitution too long (YXDOMAIN)")
            synth = dns.rrset.from_text(name, dname.ttl, "IN", "CNAME", new.to_text())
            chain.extend([dname, synth])
            name = new
        elif cname is not None and qtype != dns.rdatatype.CNAME:
            chain.append(cname)
            name = cname[0].target
        else:
            break
        if name in seen:
            break  # a loop inside one response; the resolver's own loop check reports it
        seen.add(name)

    def kept_sigs(
        rrsets: list[dns.rrset.RRset],
    ) -> dict[tuple[dns.name.Name, int], dns.rrset.RRset]:
        return {
            (r.name, r.rdtype): sigs[(r.name, r.rdtype)]
            for r in rrsets
            if (r.name, r.rdtype) in sigs
        }

    if final:
        glue: list[dns.rrset.RRset] = []
        if qtype == dns.rdatatype.NS:
            # Addresses of the servers named in an NS answer (a priming response, RFC 8109
            # §3.3), believed only within the zone asked.
            ns_names = {rd.target for r in final for rd in r}
            glue = [
                r
                for r in response.additional
                if r.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
                and r.name in ns_names
                and in_bailiwick(r.name, zone)
            ]
        if not aa:
            # A non-authoritative answer from a server we treat as authoritative: a
            # recursive server or a stale secondary is answering (lame, RFC 1034 §4.3.2 note).
            return bad(ResponseKind.LAME, "answer without AA")
        return Classified(
            ResponseKind.ANSWER,
            qname,
            qtype,
            rcode,
            aa,
            chain,
            final,
            name,
            glue=glue,
            sigs=kept_sigs(chain + final),
        )

    soa, ns = None, None
    for rrset in response.authority:
        if rrset.rdclass != dns.rdataclass.IN or not in_bailiwick(rrset.name, zone):
            continue
        if rrset.rdtype == dns.rdatatype.SOA and in_bailiwick(name, rrset.name):
            soa = rrset
        elif rrset.rdtype == dns.rdatatype.NS and strictly_below(rrset.name, zone):
            # Only a referral that brings us closer to the name is progress (Unbound's
            # "bad referral, throwaway"; hickory is_subzone).
            if in_bailiwick(name, rrset.name):
                ns = rrset
        elif rrset.rdtype == dns.rdatatype.RRSIG:
            sigs[(rrset.name, rrset.covers)] = rrset
    signed = kept_sigs(chain + ([soa] if soa else []))

    if rcode == dns.rcode.NXDOMAIN:
        if not aa and soa is None:
            return bad(ResponseKind.LAME, "NXDOMAIN without AA or SOA")
        return Classified(
            ResponseKind.NXDOMAIN, qname, qtype, rcode, aa, chain, [], name, soa=soa, sigs=signed
        )
    if chain and not in_bailiwick(name, zone):
        return Classified(ResponseKind.CNAME, qname, qtype, rcode, aa, chain, [], name, sigs=signed)
    if ns is not None and not aa:
        glue_names = {rd.target for rd in ns}
        glue = [
            r
            for r in response.additional
            if r.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
            and r.rdclass == dns.rdataclass.IN
            and r.name in glue_names
            # RFC 2181 §5.4.1 + Unbound: glue is believed only within the referring zone.
            and in_bailiwick(r.name, zone)
        ]
        return Classified(
            ResponseKind.REFERRAL,
            qname,
            qtype,
            rcode,
            aa,
            chain,
            [],
            name,
            ns=ns,
            glue=glue,
            sigs=signed,
        )
    if aa:
        if chain and soa is None:
            # The server gave a CNAME but no verdict on its target: restart there.
            return Classified(
                ResponseKind.CNAME, qname, qtype, rcode, aa, chain, [], name, sigs=signed
            )
        return Classified(
            ResponseKind.NODATA, qname, qtype, rcode, aa, chain, [], name, soa=soa, sigs=signed
        )
    if chain:
        return Classified(ResponseKind.CNAME, qname, qtype, rcode, aa, chain, [], name, sigs=signed)
    return bad(ResponseKind.LAME, "no answer, no referral, not authoritative")


def _covering_dname(
    name: dns.name.Name, dnames: dict[dns.name.Name, dns.rrset.RRset]
) -> dns.rrset.RRset | None:
    """The DNAME whose owner is a proper ancestor of ``name`` (RFC 6672 §2.3), if any."""
    if not dnames:
        return None
    parent = name
    while len(parent.labels) > 1:
        parent = parent.parent()
        if parent in dnames:
            return dnames[parent]
    return None
