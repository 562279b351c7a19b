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

from rootwalk.names import in_bailiwick, strictly_below
from rootwalk.wire.message import (
    AAAA,
    CLASS_IN,
    CNAME,
    DNAME,
    DS,
    NS,
    NSEC,
    NSEC3,
    RRSIG,
    SOA,
    A,
    Response,
    RRset,
    rrsets,
)
from rootwalk.wire.names import ROOT, parent, replace_suffix

__all__ = ["Classified", "ResponseKind", "classify"]

# A server's own answer section should never need more links than this; the resolver has its
# own, configurable, chain limit across servers.
_MAX_LINKS_PER_RESPONSE = 16
_ANY = 255
NOERROR, NXDOMAIN = 0, 3
_AA, _RA, _OPCODE = 0x0400, 0x0080, 0x7800
_ADDRESS_TYPES = (A, AAAA)
_PROOF_TYPES = (NSEC, NSEC3)

Sigs = dict[tuple[bytes, int], RRset]


class ResponseKind(enum.Enum):
    ANSWER = "answer"  # data for the question (possibly after an in-zone CNAME chain)
    CNAME = "cname"  # the chain leaves this zone: restart at ``target``
    REFERRAL = "referral"  # a delegation to a zone closer to the name
    NODATA = "nodata"  # the name exists, the type does not (RFC 2308 §2.2)
    NXDOMAIN = "nxdomain"  # the name does not exist (RFC 2308 §2.1)
    LAME = "lame"  # neither an answer nor a usable referral: this server cannot help
    BROKEN = "broken"  # an error rcode or an unusable message


@dataclass(frozen=True, slots=True)
class Classified:
    kind: ResponseKind
    qname: bytes
    qtype: int
    rcode: int
    # The data is authoritative (AA=1, or a forwarder's final answer): it gets the higher
    # trust rank of RFC 2181 §5.4.1 and may replace what a non-authoritative answer taught.
    aa: bool
    # CNAME/DNAME links followed inside this response, in order. A DNAME is followed by the
    # CNAME synthesised from it (RFC 6672 §3.1), which the cache does not store.
    chain: list[RRset] = field(default_factory=list)
    # Final RRsets for the question at the end of the chain.
    answer: list[RRset] = field(default_factory=list)
    # Where the chain ends: the name the answer or negative result is about.
    target: bytes = ROOT
    soa: RRset | None = None
    ns: RRset | None = None
    glue: list[RRset] = field(default_factory=list)
    # RRSIGs kept alongside what they cover, keyed by (owner, covered type); for DNSSEC.
    sigs: Sigs = field(default_factory=dict)
    reason: str = ""
    # DNSSEC records of the authority section (RFC 4035 §3.1.3): the NSEC/NSEC3 RRsets that
    # prove a negative answer, a wildcard expansion or an unsigned delegation, and a
    # referral's DS RRset. Empty for an unsigned response.
    proof: list[RRset] = field(default_factory=list)
    ds: RRset | None = None

    def with_sigs(self, rrsets: list[RRset]) -> list[RRset]:
        """``rrsets`` each followed by the RRSIGs over it that came with it: the order a
        DO=1 client gets them in (RFC 4035 §3.1.1), and the cache keeps proofs in."""
        if not self.sigs:
            return rrsets
        out: list[RRset] = []
        for rrset in rrsets:
            out.append(rrset)
            sig = self.sigs.get((rrset.owner, rrset.rtype))
            if sig is not None:
                out.append(sig)
        return out


def synthesise_cname(name: bytes, dname: RRset) -> RRset | None:
    """The CNAME a DNAME implies for ``name`` (RFC 6672 §3.1), None if too long (YXDOMAIN)."""
    new = replace_suffix(name, dname.owner, dname.rdatas[0])
    if new is None:
        return None
    return RRset(name, CNAME, CLASS_IN, dname.ttl, (new,))


def classify(
    response: Response,
    qname: bytes,
    qtype: int,
    zone: bytes,
    *,
    recursive: bool = False,
) -> Classified:
    """Classify ``response`` to the question (qname, qtype) sent to a server for ``zone``
    (the rules are in the module docstring). Names are lower-cased wire names."""
    rcode = response.rcode
    flags = response.flags
    aa = bool(flags & _AA) or recursive
    # Rule 2: a recursive server answering from its cache is no authority for the zone.
    rec_lame = bool(flags & _RA) and not aa

    def bad(kind: ResponseKind, reason: str) -> Classified:
        return Classified(kind, qname, qtype, rcode, aa, target=qname, reason=reason)

    if flags & _OPCODE:
        return bad(ResponseKind.BROKEN, "unexpected opcode")
    if rcode != NOERROR and rcode != NXDOMAIN:
        return bad(ResponseKind.BROKEN, _RCODE_TEXT.get(rcode, f"RCODE{rcode}"))

    sigs: Sigs = {}
    answers: dict[tuple[bytes, int], RRset] = {}
    dnames: dict[bytes, RRset] = {}
    for rrset in rrsets(response.answer):
        # Scrub: out-of-bailiwick answer data is never believed (Unbound scrub_message).
        if rrset.rclass != CLASS_IN or not in_bailiwick(rrset.owner, zone):
            continue
        if rrset.rtype == RRSIG:
            sigs[(rrset.owner, rrset.covers)] = rrset
            continue
        answers[(rrset.owner, rrset.rtype)] = rrset
        if rrset.rtype == DNAME:
            dnames[rrset.owner] = rrset

    # Follow the chain from qname through this response (RFC 1034 §4.3.2 step 3a, RFC 6672).
    chain: list[RRset] = []
    final: list[RRset] = []
    name = qname
    seen = {qname}
    dname_loop = False
    for _ in range(_MAX_LINKS_PER_RESPONSE):
        if qtype == _ANY:
            final = [r for (n, _t), r in answers.items() if n == name]
            if final:
                break
        else:
            hit = answers.get((name, qtype))
            if hit is not None:
                final = [hit]
                break
        # RFC 6672 §2.2: a DNAME above the name governs it; a CNAME the server put beside it is
        # only its own synthesis, so we build that link ourselves and ignore the server's.
        dname = None if qtype == DNAME or not dnames else _covering_dname(name, dnames)
        cname = answers.get((name, CNAME))
        if dname is not None:
            synth = synthesise_cname(name, dname)
            if synth is None:
                return bad(ResponseKind.BROKEN, "DNAME substitution too long (YXDOMAIN)")
            chain.append(dname)
            chain.append(synth)
            name = synth.rdatas[0]
            if in_bailiwick(name, dname.owner):
                dname_loop = True  # rule 4: every further step would rewrite it again
                break
        elif cname is not None and qtype != CNAME:
            chain.append(cname)
            name = cname.rdatas[0]
        else:
            break
        if name in seen:
            break  # a loop inside one response; the resolver's own loop check reports it
        seen.add(name)

    def kept_sigs(sets: list[RRset]) -> Sigs:
        if not sigs:
            return {}
        return {
            (r.owner, r.rtype): sigs[(r.owner, r.rtype)] for r in sets if (r.owner, r.rtype) in sigs
        }

    def glue_for(names: set[bytes] | tuple[bytes, ...]) -> list[RRset]:
        # RFC 2181 §5.4.1 + Unbound: addresses are believed only within the zone asked.
        return [
            r
            for r in rrsets(response.additional)
            if r.rtype in _ADDRESS_TYPES
            and r.rclass == CLASS_IN
            and r.owner in names
            and in_bailiwick(r.owner, zone)
        ]

    if final:
        # Rule 3, QTYPE NS: a non-authoritative NS set below the zone is a referral that a
        # server put in the answer section (Unbound iter_resptype.c).
        ns_set = final[0] if qtype == NS and not chain else None
        if ns_set is not None and not aa and strictly_below(ns_set.owner, zone):
            return Classified(
                ResponseKind.REFERRAL,
                qname,
                qtype,
                rcode,
                aa,
                target=name,
                ns=ns_set,
                glue=glue_for(ns_set.rdatas),
                sigs=kept_sigs([ns_set]),
            )
    if final or dname_loop:
        if rec_lame:
            return bad(ResponseKind.LAME, "recursive answer without AA (RA=1, AA=0)")
        glue: list[RRset] = []
        if qtype == NS:
            # Addresses of the servers named in an NS answer (a priming response, RFC 8109
            # §3.3), believed only within the zone asked.
            glue = glue_for({t for r in final for t in r.rdatas})
        # Rule 4: a DNAME loop ends the chain; the DNAME and its CNAME are the answer.
        reason = "DNAME rewrites the name below itself" if dname_loop else ""
        proof: list[RRset] = []
        if sigs and response.authority:
            # A wildcard expansion comes with the NSEC/NSEC3 proving that no closer name
            # exists (RFC 4035 §3.1.3.3, RFC 5155 §7.2.6).
            for rrset in rrsets(response.authority):
                if rrset.rclass != CLASS_IN or not in_bailiwick(rrset.owner, zone):
                    continue
                if rrset.rtype in _PROOF_TYPES:
                    proof.append(rrset)
                elif rrset.rtype == RRSIG:
                    sigs[(rrset.owner, rrset.covers)] = rrset
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
            sigs=kept_sigs(chain + final + proof),
            reason=reason,
            proof=proof,
        )

    soa: RRset | None = None
    ns: RRset | None = None
    upward: RRset | None = None
    proof = []
    ds_sets: dict[bytes, RRset] = {}
    for rrset in rrsets(response.authority):
        if rrset.rclass != CLASS_IN:
            continue
        rtype = rrset.rtype
        if rtype == NS and in_bailiwick(zone, rrset.owner):
            upward = rrset  # an NS set for the zone itself or above it (rule 9)
            continue
        if not in_bailiwick(rrset.owner, zone):
            continue
        if rtype == SOA and in_bailiwick(name, rrset.owner):
            soa = rrset
        elif rtype == NS and strictly_below(rrset.owner, zone):
            # Only a referral that brings us closer to the name is progress (Unbound's
            # "bad referral, throwaway"; hickory is_subzone).
            if in_bailiwick(name, rrset.owner):
                ns = rrset
        elif rtype == RRSIG:
            sigs[(rrset.owner, rrset.covers)] = rrset
        elif rtype in _PROOF_TYPES:
            proof.append(rrset)
        elif rtype == DS:
            ds_sets[rrset.owner] = rrset
    ds = ds_sets.get(ns.owner) if ns is not None else None
    signed = kept_sigs(chain + ([soa] if soa else []) + proof + ([ds] if ds else []))

    def result(
        kind: ResponseKind,
        soa: RRset | None = None,
        ns: RRset | None = None,
        glue: list[RRset] | None = None,
    ) -> Classified:
        return Classified(
            kind,
            qname,
            qtype,
            rcode,
            aa,
            chain,
            [],
            name,
            soa,
            ns,
            glue or [],
            signed,
            proof=proof,
            ds=ds if kind is ResponseKind.REFERRAL else None,
        )

    if rcode == NXDOMAIN:
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
        return result(ResponseKind.REFERRAL, ns=ns, glue=glue_for(ns.rdatas))
    if upward is not None and not aa:
        where = "the same zone" if upward.owner == zone else "a zone above it"
        return bad(ResponseKind.LAME, f"referral to {where} without AA")
    if aa:
        return result(ResponseKind.NODATA)
    if rec_lame:
        return bad(ResponseKind.LAME, "recursive empty answer (RA=1, AA=0)")
    return bad(ResponseKind.LAME, "no answer, no referral, not authoritative")


_RCODE_TEXT = {1: "FORMERR", 2: "SERVFAIL", 4: "NOTIMP", 5: "REFUSED", 16: "BADVERS"}


def _covering_dname(name: bytes, dnames: dict[bytes, RRset]) -> RRset | None:
    """The DNAME whose owner is a proper ancestor of ``name`` (RFC 6672 §2.3), if any."""
    probe = name
    while probe != ROOT:
        probe = parent(probe)
        hit = dnames.get(probe)
        if hit is not None:
            return hit
    return None
