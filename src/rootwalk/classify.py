"""Scrub and classify an upstream response before anything acts on it (guide §4, §5).

``classify(response, qname, qtype, zone)`` is pure: it reads a dnspython Message and returns a
``Classified`` whose kind is one of a closed set. Everything it keeps has passed the bailiwick
filter for ``zone``, the zone cut the query was sent to: a server for ``zone`` may speak only
for names at or below ``zone`` (RFC 2181 §5.4.1; Unbound ``iter_scrub.c``).

The AA bit is evidence, not a gate. RFC 1034 §5.3.3 step 4 asks only whether a response
"answers the question or contains a name error", and real authorities (hidden secondaries,
load balancers, appliances) often forget AA. Like Unbound (``iter_resptype.c``
``response_type_from_server``) and Knot Resolver (``lib/layer/iterate.c``
``process_answer``/``is_authoritative``), a server we were referred to is believed without AA
when what it says is an answer; AA only decides the data's trust rank (RFC 2181 §5.4.1:
``aa`` below). The rules, in order (the first that matches decides):

1. opcode other than QUERY, or rcode other than NOERROR/NXDOMAIN: BROKEN (the rcode is
   reported to server selection).
2. RA=1 and AA=0 on a response that is not a referral: a recursive server answering from its
   cache, "recursion lame" (Unbound RESPONSE_TYPE_REC_LAME): LAME.
3. The answer section holds the question's data, directly or after an in-zone CNAME/DNAME
   chain: ANSWER. For QTYPE NS, an NS set strictly below the zone without AA is the
   delegation itself (some servers put it in the answer section): REFERRAL.
4. A DNAME whose synthesised target lies at or below its own owner (``example.com. DNAME
   example.com.``) can only loop: the chain ends there and the DNAME and its CNAME are the
   answer, NOERROR, without chasing (Unbound iterator.c "DNAME to a subdomain loop").
5. NXDOMAIN, with or without AA or SOA: NXDOMAIN (RFC 2308 §2.1). Without an SOA it carries
   no negative TTL and is not cached (RFC 2308 §5).
6. A chain that leaves the zone: CNAME (restart at the target, RFC 1034 §5.3.3 step 4c).
7. An SOA at or above the name in the authority section: NODATA (RFC 2308 §2.2).
8. A CNAME chain whose target stays in the zone but has no verdict: CNAME (ask again there).
9. An NS set in the authority section strictly below the zone and at or above the name:
   REFERRAL. An NS set for the zone itself or above it, without AA, is an upward or
   same-level referral: LAME (Unbound's "lame referral"); with AA it falls to rule 10.
10. Nothing else: with AA, NODATA without SOA (not cached); without AA, LAME (an empty
    NOERROR from a server that is not authoritative says nothing; Knot ``is_authoritative``).

``recursive``: the server is a forwarder answering with RD=1, so its answers are final
although they carry no AA bit (they come from its cache), and RA is expected.
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
    LAME = "lame"  # neither an answer nor a usable referral: this server cannot help
    BROKEN = "broken"  # an error rcode or an unusable message


@dataclass(frozen=True)
class Classified:
    kind: ResponseKind
    qname: dns.name.Name
    qtype: RdataType
    rcode: int
    # The data is authoritative (AA=1, or a forwarder's final answer): it gets the higher
    # trust rank of RFC 2181 §5.4.1 and may replace what a non-authoritative answer taught.
    aa: bool
    # CNAME/DNAME links followed inside this response, in order. A DNAME is followed by the
    # CNAME synthesised from it (RFC 6672 §3.1), which the cache does not store.
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
    """Classify ``response`` to the question (qname, qtype) sent to a server for ``zone``
    (the rules are in the module docstring)."""
    rcode = response.rcode()
    aa = bool(response.flags & dns.flags.AA) or recursive
    # Rule 2: a recursive server answering from its cache is no authority for the zone.
    rec_lame = bool(response.flags & dns.flags.RA) and not aa

    def bad(kind: ResponseKind, reason: str) -> Classified:
        return Classified(kind, qname, qtype, rcode, aa, target=qname, reason=reason)

    if response.opcode() != dns.opcode.QUERY:
        return bad(ResponseKind.BROKEN, "unexpected opcode")
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN):
        return bad(ResponseKind.BROKEN, dns.rcode.to_text(rcode))

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
    dname_loop = False
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
                return bad(ResponseKind.BROKEN, "DNAME substitution too long (YXDOMAIN)")
            synth = dns.rrset.from_text(name, dname.ttl, "IN", "CNAME", new.to_text())
            chain.extend([dname, synth])
            name = new
            if new.is_subdomain(dname.name):
                dname_loop = True  # rule 4: every further step would rewrite it again
                break
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

    def glue_for(names: set[dns.name.Name]) -> list[dns.rrset.RRset]:
        # RFC 2181 §5.4.1 + Unbound: addresses are believed only within the zone asked.
        return [
            r
            for r in response.additional
            if r.rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA)
            and r.rdclass == dns.rdataclass.IN
            and r.name in names
            and in_bailiwick(r.name, zone)
        ]

    if final:
        # Rule 3, QTYPE NS: a non-authoritative NS set below the zone is a referral that a
        # server put in the answer section (Unbound iter_resptype.c).
        ns_set = final[0] if qtype == dns.rdatatype.NS and not chain else None
        if ns_set is not None and not aa and strictly_below(ns_set.name, zone):
            return Classified(
                ResponseKind.REFERRAL,
                qname,
                qtype,
                rcode,
                aa,
                target=name,
                ns=ns_set,
                glue=glue_for({rd.target for rd in ns_set}),
                sigs=kept_sigs([ns_set]),
            )
    if final or dname_loop:
        if rec_lame:
            return bad(ResponseKind.LAME, "recursive answer without AA (RA=1, AA=0)")
        glue: list[dns.rrset.RRset] = []
        if qtype == dns.rdatatype.NS:
            # Addresses of the servers named in an NS answer (a priming response, RFC 8109
            # §3.3), believed only within the zone asked.
            glue = glue_for({rd.target for r in final for rd in r})
        # Rule 4: a DNAME loop ends the chain; the DNAME and its CNAME are the answer.
        reason = f"DNAME {chain[-2].name} rewrites {qname} below itself" if dname_loop else ""
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
            reason=reason,
        )

    soa, ns, upward = None, None, None
    for rrset in response.authority:
        if rrset.rdclass != dns.rdataclass.IN:
            continue
        if rrset.rdtype == dns.rdatatype.NS and in_bailiwick(zone, rrset.name):
            upward = rrset  # an NS set for the zone itself or above it (rule 9)
            continue
        if not in_bailiwick(rrset.name, zone):
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

    def result(
        kind: ResponseKind,
        soa: dns.rrset.RRset | None = None,
        ns: dns.rrset.RRset | None = None,
        glue: list[dns.rrset.RRset] | None = None,
    ) -> Classified:
        return Classified(
            kind, qname, qtype, rcode, aa, chain, [], name, soa, ns, glue or [], signed
        )

    if rcode == dns.rcode.NXDOMAIN:
        if rec_lame:
            return bad(ResponseKind.LAME, "recursive NXDOMAIN without AA (RA=1, AA=0)")
        return result(ResponseKind.NXDOMAIN, soa=soa)
    if chain and not in_bailiwick(name, zone):
        return result(ResponseKind.CNAME)
    if soa is not None:
        if rec_lame:
            return bad(ResponseKind.LAME, "recursive NODATA without AA (RA=1, AA=0)")
        return result(ResponseKind.NODATA, soa=soa)
    if chain:
        # The server gave a CNAME but no verdict on its target (perhaps a referral for it):
        # restart there, from the closest cut the cache knows.
        return result(ResponseKind.CNAME)
    if ns is not None:
        return result(ResponseKind.REFERRAL, ns=ns, glue=glue_for({rd.target for rd in ns}))
    if upward is not None and not aa:
        where = "the same zone" if upward.name == zone else f"{upward.name}, above {zone}"
        return bad(ResponseKind.LAME, f"referral to {where} without AA")
    if aa:
        return result(ResponseKind.NODATA)
    if rec_lame:
        return bad(ResponseKind.LAME, "recursive empty answer (RA=1, AA=0)")
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
