"""The signed lab (issue #12): signatures, chains of trust and the proofs its servers send.

Every signed RRset a server sends is checked with dnspython's own validator against the lab's
keys, and every denial proof with a small reading of RFC 4035 §5.4 / RFC 5155 §8
(tests/lab/dnssecutil.py). The servers are asked in process (AuthServer.process: the very code
a socket hands its datagrams to); one test asks over a real socket.
"""

from __future__ import annotations

import dns.dnssec
import dns.flags
import dns.name
import dns.rdataclass
import pytest

from rootwalk.clock import FakeClock
from rootwalk.lab import Lab
from rootwalk.lab.inprocess import InLab
from rootwalk.lab.signing import PLAN
from tests.lab import dnsutil
from tests.lab.dnssecutil import (
    T,
    ask,
    dnssec_records,
    has_type,
    nsec3_covering,
    nsec3_matching,
    nsec_covering,
    nsec_matching,
    opt_out,
    unsigned,
    validate_all,
    zone_keys,
)


@pytest.fixture(scope="module")
def inlab() -> InLab:
    return InLab()


@pytest.fixture(scope="module")
def synth() -> InLab:
    return InLab(domains=9)


def name(text: str) -> dns.name.Name:
    return dns.name.from_text(text)


# -- the world ---------------------------------------------------------------------------------


def test_the_zone_plan(inlab: InLab) -> None:
    signed = inlab.world.signed_zones
    assert {z.to_text() for z in signed} == {
        ".", "com.", "example.com.", "net.", "example.net.", "org.", "island.test.",
    }  # fmt: skip
    algorithms = {z.to_text(): int(s.keys.algorithm) for z, s in signed.items()}
    assert algorithms == {
        ".": 8, "com.": 13, "example.com.": 13, "net.": 15, "example.net.": 15, "org.": 8,
        "island.test.": 13,
    }  # fmt: skip
    for z in ("test.", "arpa.", "example.org.", "eng.example.com.", "lab.eng.example.com."):
        assert inlab.world.zones[name(z)].signed is None, z
    assert signed[name("com.")].nsec3 and signed[name("com.")].opt_out
    assert signed[name("org.")].nsec3 and not signed[name("org.")].opt_out
    assert signed[name("example.net.")].nsec3 and not signed[name("example.net.")].opt_out
    assert not signed[name(".")].nsec3 and not signed[name("example.com.")].nsec3


def test_every_rrsig_in_every_signed_zone_validates(inlab: InLab) -> None:
    checked = 0
    for origin, zs in inlab.world.signed_zones.items():
        nodes = inlab.world.zones[origin].nodes
        keys = zone_keys(inlab.world, origin)
        for owner, node in nodes.items():
            for rds in node.rdatasets:
                if rds.rdtype != T.RRSIG:
                    continue
                covered = node.get_rdataset(rds.rdclass, rds.covers)
                assert covered is not None
                # under the lab's FakeClock too: the window covers its start, 1_800_000_000
                for now in (None, FakeClock().now()):
                    dns.dnssec.validate(
                        (owner, covered), (owner, rds), keys, origin=origin, now=now
                    )
                checked += 1
        assert zs.keys.ksk_dnskey.flags == 257 and zs.keys.zsk_dnskey.flags == 256
    assert checked > 100


def test_the_chain_of_trust_from_the_lab_anchor(inlab: InLab) -> None:
    """Each signed zone's KSK is vouched for by a DS in its signed parent, or by the anchor."""
    world = inlab.world
    anchors = {}
    for line in world.trust_anchor_text.splitlines():
        if line and not line.startswith(";"):
            owner, _ttl, _cls, _ds, *rest = line.split()
            anchors[name(owner)] = " ".join(rest)
    assert set(anchors) == {name("."), name("island.test.")}
    for origin, zs in world.signed_zones.items():
        ds = dns.dnssec.make_ds(origin, zs.keys.ksk_dnskey, "SHA256").to_text()
        if origin in anchors:
            assert anchors[origin] == ds
            continue
        parent = world.zones[origin.parent()]  # com/net/org under the root, example.* under TLDs
        node = parent.nodes[origin.relativize(origin.parent())]
        published = node.get_rdataset(dns.rdataclass.IN, T.DS)
        assert published is not None and [r.to_text() for r in published] == [ds], origin


def test_keys_are_made_once_per_process() -> None:
    a, b = InLab(net="127.78"), InLab(net="127.79")
    assert a.world.trust_anchor_text == b.world.trust_anchor_text


# -- positive answers ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "qname", "qtype"),
    [
        ("ns1.example.com", "www.example.com", "A"),
        ("ns1.example.com", "example.com", "MX"),
        ("ns1.example.com", "example.com", "NS"),
        ("ns1.example.com", "alias.example.com", "A"),
        ("ns1.example.com", "legacy.example.com", "DNAME"),
        ("ns.example.net", "www.example.net", "A"),
        ("a.root-servers.net", ".", "SOA"),
        ("a.gtld-servers.net", "com", "SOA"),
        ("a.gtld-servers.net", "net", "NS"),
        ("ns1.nic.org", "org", "SOA"),
        ("ns1.island.test", "www.island.test", "A"),
    ],
)
def test_positive_answers_come_signed(inlab: InLab, server: str, qname: str, qtype: str) -> None:
    r = ask(inlab.server(server), qname, qtype)
    assert r.rcode() == 0 and r.answer
    assert unsigned(r, "answer") == []
    assert validate_all(inlab.world, r)


@pytest.mark.parametrize(
    ("server", "zone"),
    [("a.root-servers.net", "."), ("a.gtld-servers.net", "com"), ("ns.example.net", "example.net"),
     ("ns1.nic.org", "org"), ("ns1.island.test", "island.test")],
)  # fmt: skip
def test_dnskey_at_the_apex_is_signed_by_the_ksk(inlab: InLab, server: str, zone: str) -> None:
    r = ask(inlab.server(server), zone, "DNSKEY")
    (keys,) = [x for x in r.answer if x.rdtype == T.DNSKEY]
    (sig,) = [x for x in r.answer if x.rdtype == T.RRSIG]
    assert sig[0].key_tag == dns.dnssec.key_id(next(k for k in keys if k.flags == 257))
    validate_all(inlab.world, r)


def test_do_zero_sends_no_dnssec_records(inlab: InLab) -> None:
    questions = [
        ("ns1.example.com", "www.example.com", "A"),
        ("ns1.example.com", "nope.example.com", "A"),
        ("ns1.example.com", "www.example.com", "TXT"),
        ("ns1.example.com", "x.wild.example.com", "A"),
        ("a.root-servers.net", "www.example.com", "A"),
        ("ns.example.net", "nope.example.net", "A"),
        ("ns1.example.com", "www.example.com", "ANY"),
    ]
    for server, qname, qtype in questions:
        r = ask(inlab.server(server), qname, qtype, do=False)
        assert dnssec_records(r) == [], (qname, qtype)
        assert not any(x.rdtype == T.DS for x in r.authority), (qname, qtype)
    # asked for by type, DNSSEC records are data: DNSKEY without its RRSIG
    r = ask(inlab.server("ns1.example.com"), "example.com", "DNSKEY", do=False)
    assert [x.rdtype for x in r.answer] == [T.DNSKEY]


# -- NSEC (example.com, the root) ------------------------------------------------------------


def test_nsec_nxdomain(inlab: InLab) -> None:
    r = ask(inlab.server("ns1.example.com"), "nope.example.com", "A")
    assert r.rcode() == 3
    assert nsec_covering(r, "nope.example.com") is not None
    assert nsec_covering(r, "*.example.com") is not None  # no wildcard either
    assert {(n.to_text(), t) for n, t in validate_all(inlab.world, r)} >= {("example.com.", T.SOA)}
    assert unsigned(r, "authority") == []


def test_nsec_nodata(inlab: InLab) -> None:
    r = ask(inlab.server("ns1.example.com"), "www.example.com", "TXT")
    assert r.rcode() == 0 and not r.answer
    nsec = nsec_matching(r, "www.example.com")
    assert nsec is not None and has_type(nsec, T.A) and not has_type(nsec, T.TXT)
    validate_all(inlab.world, r)
    assert unsigned(r, "authority") == []


def test_nsec_nodata_at_an_empty_non_terminal(inlab: InLab) -> None:
    r = ask(inlab.server("ns1.example.com"), "wild.example.com", "A")
    assert r.rcode() == 0 and not r.answer
    nsec = nsec_covering(r, "wild.example.com")
    assert nsec is not None and nsec[0].next.is_subdomain(name("wild.example.com"))
    validate_all(inlab.world, r)


def test_nsec_wildcard_answer(inlab: InLab) -> None:
    r = ask(inlab.server("ns1.example.com"), "x.wild.example.com", "A")
    (a,) = [x for x in r.answer if x.rdtype == T.A]
    (sig,) = [x for x in r.answer if x.rdtype == T.RRSIG]
    assert a.name == name("x.wild.example.com") and sig[0].labels == 3  # *.wild.example.com
    assert nsec_covering(r, "x.wild.example.com") is not None  # no closer match
    validate_all(inlab.world, r)


def test_nsec_wildcard_nodata(inlab: InLab) -> None:
    r = ask(inlab.server("ns1.example.com"), "x.wild.example.com", "MX")
    assert r.rcode() == 0 and not r.answer
    assert nsec_covering(r, "x.wild.example.com") is not None
    wild = nsec_matching(r, "*.wild.example.com")
    assert wild is not None and not has_type(wild, T.MX)
    validate_all(inlab.world, r)


def test_secure_referral_carries_the_signed_ds(inlab: InLab) -> None:
    r = ask(inlab.server("a.root-servers.net"), "www.example.com", "A")
    assert not r.answer and not r.flags & dns.flags.AA
    assert [x.rdtype for x in r.authority if x.name == name("com.")].count(T.DS) == 1
    assert (name("com."), T.DS) in validate_all(inlab.world, r)
    # the delegation's NS and the glue are not signed (RFC 4035 §2.2)
    assert {x.rdtype for x in unsigned(r, "authority")} == {T.NS}
    assert all(x.rdtype != T.RRSIG for x in r.additional)


def test_insecure_referral_proven_by_nsec(inlab: InLab) -> None:
    r = ask(inlab.server("a.root-servers.net"), "www.partlame.test", "A")
    nsec = nsec_matching(r, "test.")
    assert nsec is not None and has_type(nsec, T.NS) and not has_type(nsec, T.DS)
    assert not any(x.rdtype == T.DS for x in r.authority)
    validate_all(inlab.world, r)
    r = ask(inlab.server("ns1.example.com"), "www.eng.example.com", "A")
    nsec = nsec_matching(r, "eng.example.com")
    assert nsec is not None and has_type(nsec, T.NS) and not has_type(nsec, T.DS)


# -- NSEC3 (example.net without opt-out, com with, org without) -------------------------------


def test_nsec3_nxdomain(inlab: InLab) -> None:
    r = ask(inlab.server("ns.example.net"), "nope.example.net", "A")
    assert r.rcode() == 3
    assert nsec3_matching(r, "example.net") is not None  # closest encloser
    assert nsec3_covering(r, "nope.example.net") is not None  # next closer
    assert nsec3_covering(r, "*.example.net") is not None  # no wildcard
    validate_all(inlab.world, r)
    assert unsigned(r, "authority") == []


def test_nsec3_nodata(inlab: InLab) -> None:
    r = ask(inlab.server("ns.example.net"), "www.example.net", "TXT")
    match = nsec3_matching(r, "www.example.net")
    assert match is not None and has_type(match, T.A) and not has_type(match, T.TXT)
    validate_all(inlab.world, r)


def test_nsec3_nodata_at_an_empty_non_terminal(inlab: InLab) -> None:
    r = ask(inlab.server("ns.example.net"), "wild.example.net", "A")
    match = nsec3_matching(r, "wild.example.net")  # empty non-terminals have an NSEC3
    assert match is not None and not has_type(match, T.A)


def test_nsec3_wildcard_answer(inlab: InLab) -> None:
    r = ask(inlab.server("ns.example.net"), "x.wild.example.net", "A")
    (sig,) = [x for x in r.answer if x.rdtype == T.RRSIG]
    assert sig[0].labels == 3
    assert nsec3_covering(r, "x.wild.example.net") is not None  # the next closer name
    validate_all(inlab.world, r)


def test_nsec3_wildcard_nodata(inlab: InLab) -> None:
    r = ask(inlab.server("ns.example.net"), "x.wild.example.net", "MX")
    assert nsec3_matching(r, "wild.example.net") is not None
    assert nsec3_covering(r, "x.wild.example.net") is not None
    wild = nsec3_matching(r, "*.wild.example.net")
    assert wild is not None and has_type(wild, T.A) and not has_type(wild, T.MX)
    validate_all(inlab.world, r)


def test_insecure_referral_proven_by_nsec3(inlab: InLab) -> None:
    r = ask(inlab.server("ns1.nic.org"), "www.example.org", "A")
    match = nsec3_matching(r, "example.org")
    assert match is not None and has_type(match, T.NS) and not has_type(match, T.DS)
    assert not opt_out(match)
    validate_all(inlab.world, r)


def test_opt_out_referral_to_a_synthetic_domain(synth: InLab) -> None:
    d = next(x for x in synth.world.synthetic_domains if x.endswith(".com."))
    r = ask(synth.server("a.gtld-servers.net"), f"www.{d}", "A")
    assert nsec3_matching(r, d) is None  # unsigned delegations have no NSEC3 under opt-out
    assert nsec3_matching(r, "com.") is not None  # closest provable encloser
    cover = nsec3_covering(r, d)
    assert cover is not None and opt_out(cover)
    validate_all(synth.world, r)


@pytest.mark.parametrize("tld", ["net.", "org."])
def test_synthetic_delegations_in_non_opt_out_zones_are_proven(synth: InLab, tld: str) -> None:
    """net. (NSEC) and org. (NSEC3) chains include the synthetic delegations (signed when
    first served)."""
    d = next(x for x in synth.world.synthetic_domains if x.endswith(tld))
    server = "a.gtld-servers.net" if tld == "net." else "ns1.nic.org"
    r = ask(synth.server(server), f"www.{d}", "A")
    proof = nsec_matching(r, d) if tld == "net." else nsec3_matching(r, d)
    assert proof is not None and has_type(proof, T.NS) and not has_type(proof, T.DS)
    assert unsigned(r, "authority") == [x for x in r.authority if x.rdtype == T.NS]
    validate_all(synth.world, r)
    # a name between two synthetic domains is still a proven NXDOMAIN
    r = ask(synth.server(server), f"zz{d}", "A")
    assert r.rcode() == 3 and unsigned(r, "authority") == []
    validate_all(synth.world, r)


# -- DS questions ----------------------------------------------------------------------------


def test_ds_from_the_parent(inlab: InLab) -> None:
    r = ask(inlab.server("a.gtld-servers.net"), "example.com", "DS")
    assert r.flags & dns.flags.AA and [x.rdtype for x in r.answer] == [T.DS, T.RRSIG]
    validate_all(inlab.world, r)


def test_ds_at_the_child_only_server_is_an_authoritative_nodata(inlab: InLab) -> None:
    """RFC 4035 §3.1.4.1: a server of the child only answers NODATA, proven by the child's own
    NSEC at its apex (NSD does the same)."""
    r = ask(inlab.server("ns1.example.com"), "example.com", "DS")
    assert r.flags & dns.flags.AA and r.rcode() == 0 and not r.answer
    apex = nsec_matching(r, "example.com")
    assert apex is not None and has_type(apex, T.SOA) and not has_type(apex, T.DS)


def test_ds_from_a_server_of_both_sides_comes_from_the_parent() -> None:
    from rootwalk.lab.authserver import AuthServer

    lab = InLab()
    both = {
        name("com."): lab.world.zones[name("com.")],
        name("example.com."): lab.world.zones[name("example.com.")],
    }
    srv = AuthServer("127.77.0.99", 53, "both.", both)
    r = ask(srv, "example.com", "DS")
    assert [x.rdtype for x in r.answer] == [T.DS, T.RRSIG]
    assert r.answer[1][0].signer == name("com.")


def test_ds_nodata_for_an_insecure_opt_out_delegation(synth: InLab) -> None:
    d = next(x for x in synth.world.synthetic_domains if x.endswith(".com."))
    r = ask(synth.server("a.gtld-servers.net"), d, "DS")
    assert r.rcode() == 0 and not r.answer
    cover = nsec3_covering(r, d)
    assert cover is not None and opt_out(cover)  # RFC 5155 §7.2.4
    validate_all(synth.world, r)


# -- size --------------------------------------------------------------------------------------


def test_big_dnssec_answers_truncate_over_udp(inlab: InLab) -> None:
    root = inlab.server("a.root-servers.net")
    r = ask(root, ".", "DNSKEY", transport="udp", payload=512)  # two RSA keys and an RSA RRSIG
    assert r.flags & dns.flags.TC and not r.answer
    r = ask(root, ".", "DNSKEY", transport="udp", payload=1232)
    assert not r.flags & dns.flags.TC and len(r.answer) == 2
    r = ask(root, ".", "DNSKEY", transport="tcp", payload=512)
    assert not r.flags & dns.flags.TC and len(r.answer) == 2


def test_over_a_real_socket(lab: Lab) -> None:
    r = dnsutil.ask(lab, "ns2.example.com", "nope.example.com", "A", do=True)
    assert r.rcode() == 3 and nsec_covering(r, "nope.example.com") is not None
    assert lab.world is not None
    validate_all(lab.world, r)
    assert lab.trust_anchor_path.read_text() == lab.world.trust_anchor_text
    assert f'trust_anchor_file = "{lab.trust_anchor_path}"' in lab.resolver_config_text


def test_plan_names_only_zones_of_the_world(inlab: InLab) -> None:
    assert set(PLAN) <= set(inlab.world.zones)
