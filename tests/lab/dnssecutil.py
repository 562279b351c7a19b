"""DNSSEC checks for the lab tests, on dnspython's own validator and a small, independent
reading of NSEC/NSEC3 proofs (RFC 4035 §5.4, RFC 5155 §8), so that the lab is not checked by
the resolver code it is meant to test."""

from __future__ import annotations

import time

import dns.dnssec
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from rootwalk.lab.authserver import AuthServer
from rootwalk.lab.signing import nsec3_label
from rootwalk.lab.world import World

T = dns.rdatatype.RdataType
IN = dns.rdataclass.IN
CLIENT = ("127.0.0.1", 40000)


def ask(
    server: AuthServer,
    name: str,
    rdtype: str,
    *,
    do: bool = True,
    transport: str = "tcp",
    payload: int = 1232,
) -> dns.message.Message:
    """The server's response to one query (no socket: AuthServer.process, the socket path)."""
    q = dns.message.make_query(name, rdtype, use_edns=0, payload=payload, want_dnssec=do)
    out, _ = server.process(q.to_wire(), transport, CLIENT)
    assert len(out) == 1
    return dns.message.from_wire(out[0])


def zone_keys(world: World, zone: dns.name.Name) -> dict[dns.name.Name, dns.rrset.RRset]:
    node = world.zones[zone].nodes[dns.name.empty]
    rds = node.get_rdataset(IN, T.DNSKEY)
    assert rds is not None, f"{zone} has no DNSKEY"
    return {zone: dns.rrset.from_rdata_list(zone, rds.ttl, list(rds))}


def rrsets(msg: dns.message.Message, section: str = "") -> list[dns.rrset.RRset]:
    secs = [section] if section else ["answer", "authority", "additional"]
    return [r for s in secs for r in getattr(msg, s)]


def dnssec_records(msg: dns.message.Message) -> list[dns.rrset.RRset]:
    kinds = (T.RRSIG, T.NSEC, T.NSEC3)
    return [r for r in rrsets(msg) if r.rdtype in kinds]


def validate_all(
    world: World, msg: dns.message.Message, now: float | None = None
) -> list[tuple[dns.name.Name, int]]:
    """Validate every RRset that has an RRSIG (dns.dnssec.validate raises if one fails);
    returns the (owner, type) of the signed RRsets."""
    signed = []
    for section in ("answer", "authority", "additional"):
        rs = rrsets(msg, section)
        for rrset in rs:
            if rrset.rdtype == T.RRSIG:
                continue
            sigs = [
                s for s in rs if s.rdtype == T.RRSIG and s.covers == rrset.rdtype
                and s.name == rrset.name
            ]  # fmt: skip
            if not sigs:
                continue
            signer = sigs[0][0].signer
            keys = zone_keys(world, signer)
            dns.dnssec.validate(rrset, sigs[0], keys, now=now or time.time())
            signed.append((rrset.name, int(rrset.rdtype)))
    return signed


def unsigned(msg: dns.message.Message, section: str) -> list[dns.rrset.RRset]:
    """RRsets of a section (RRSIGs aside) that came without an RRSIG."""
    rs = rrsets(msg, section)
    return [
        r
        for r in rs
        if r.rdtype != T.RRSIG
        and not any(s.rdtype == T.RRSIG and s.covers == r.rdtype and s.name == r.name for s in rs)
    ]


def _between(owner: dns.name.Name, nxt: dns.name.Name, name: dns.name.Name) -> bool:
    if owner < nxt:
        return owner < name < nxt
    return name > owner or name < nxt  # the last NSEC wraps around to the apex


def nsecs(msg: dns.message.Message) -> list[dns.rrset.RRset]:
    return [r for r in msg.authority if r.rdtype == T.NSEC]


def nsec_covering(msg: dns.message.Message, name: str | dns.name.Name) -> dns.rrset.RRset | None:
    """The NSEC proving ``name`` does not exist."""
    n = dns.name.from_text(name) if isinstance(name, str) else name
    return next((r for r in nsecs(msg) if _between(r.name, r[0].next, n)), None)


def nsec_matching(msg: dns.message.Message, name: str) -> dns.rrset.RRset | None:
    n = dns.name.from_text(name)
    return next((r for r in nsecs(msg) if r.name == n), None)


def has_type(rrset: dns.rrset.RRset, rdtype: int) -> bool:
    text = rrset[0].to_text().upper().split()
    return dns.rdatatype.to_text(T.make(rdtype)) in text


def nsec3s(msg: dns.message.Message) -> list[dns.rrset.RRset]:
    return [r for r in msg.authority if r.rdtype == T.NSEC3]


def _hash(name: dns.name.Name) -> str:
    return nsec3_label(name)


def nsec3_matching(msg: dns.message.Message, name: str) -> dns.rrset.RRset | None:
    h = _hash(dns.name.from_text(name))
    return next((r for r in nsec3s(msg) if r.name.labels[0].decode().lower() == h), None)


def nsec3_covering(msg: dns.message.Message, name: str) -> dns.rrset.RRset | None:
    h = _hash(dns.name.from_text(name))
    for r in nsec3s(msg):
        owner = r.name.labels[0].decode().lower()
        nxt_text = r[0].to_text().split()[4].lower()
        if (owner < h < nxt_text) if owner < nxt_text else (h > owner or h < nxt_text):
            return r
    return None


def opt_out(rrset: dns.rrset.RRset) -> bool:
    return bool(rrset[0].flags & 1)
