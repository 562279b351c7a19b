"""The authoritative behaviours of the core world, over real sockets."""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from rootwalk.lab import Lab
from tests.lab.dnsutil import ask, query, raw_exchange, rrset, section

AA = dns.flags.AA
TC = dns.flags.TC


def addr(lab: Lab, n: int) -> str:
    return lab.addr(n)


# -- root -------------------------------------------------------------------------------


def test_priming_query_answers_root_ns_with_glue(lab: Lab) -> None:
    r = ask(lab, "a.root-servers.net", ".", "NS")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & AA
    ns = rrset(r, "answer", ".", "NS")
    assert ns is not None and ns.ttl == 518400
    assert sorted(rd.target.to_text() for rd in ns) == [
        "a.root-servers.net.",
        "b.root-servers.net.",
    ]
    assert section(r, "additional") == [
        f"a.root-servers.net. 518400 IN A {addr(lab, 2)}",
        f"b.root-servers.net. 518400 IN A {addr(lab, 3)}",
    ]


def test_root_refers_to_com_with_glue(lab: Lab) -> None:
    r = ask(lab, addr(lab, 3), "www.example.com", "A")
    assert r.rcode() == dns.rcode.NOERROR and not r.flags & AA
    assert r.answer == []
    assert section(r, "authority") == [
        "com. 172800 IN NS a.gtld-servers.net.",
        "com. 172800 IN NS b.gtld-servers.net.",
    ]
    assert section(r, "additional") == [
        f"a.gtld-servers.net. 172800 IN A {addr(lab, 10)}",
        f"b.gtld-servers.net. 172800 IN A {addr(lab, 11)}",
    ]


def test_root_nxdomain_for_unknown_tld(lab: Lab) -> None:
    r = ask(lab, "a.root-servers.net", "no-such-tld", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN and r.flags & AA
    soa = rrset(r, "authority", ".", "SOA")
    assert soa is not None and soa.ttl == 86400


def test_root_hints(lab: Lab) -> None:
    text = lab.root_hints_path.read_text()
    assert text == lab.root_hints_text
    records = [line.split() for line in text.splitlines() if not line.startswith(";")]
    assert [".", "3600000", "NS", "a.root-servers.net."] in records
    assert ["a.root-servers.net.", "3600000", "A", addr(lab, 2)] in records
    assert ["b.root-servers.net.", "3600000", "A", addr(lab, 3)] in records
    assert all(r[2] in ("NS", "A") for r in records)  # IPv4 only


# -- TLDs and delegations -----------------------------------------------------------------


def test_tld_refers_to_example_com_with_in_bailiwick_glue(lab: Lab) -> None:
    for server in ("a.gtld-servers.net", "b.gtld-servers.net"):
        r = ask(lab, server, "www.example.com", "A")
        assert not r.flags & AA and r.answer == []
        assert section(r, "authority") == [
            "example.com. 172800 IN NS ns1.example.com.",
            "example.com. 172800 IN NS ns2.example.com.",
        ]
        assert section(r, "additional") == [
            f"ns1.example.com. 172800 IN A {addr(lab, 20)}",
            f"ns2.example.com. 172800 IN A {addr(lab, 21)}",
        ]


def test_gtld_servers_serve_net_too(lab: Lab) -> None:
    r = ask(lab, "a.gtld-servers.net", "a.root-servers.net", "A")
    assert r.flags & AA
    assert section(r, "answer") == [f"a.root-servers.net. 3600000 IN A {addr(lab, 2)}"]
    r = ask(lab, "b.gtld-servers.net", "www.example.net", "A")
    assert section(r, "authority") == ["example.net. 172800 IN NS ns.example.net."]
    assert section(r, "additional") == [f"ns.example.net. 172800 IN A {addr(lab, 30)}"]


def test_glueless_delegation_of_example_org(lab: Lab) -> None:
    r = ask(lab, "ns1.nic.org", "www.example.org", "A")
    assert not r.flags & AA and r.answer == []
    assert section(r, "authority") == [
        "example.org. 86400 IN NS ns1.example.net.",
        "example.org. 86400 IN NS ns2.example.net.",
    ]
    assert r.additional == []  # no A for ns1.example.net: it lives in example.net
    r = ask(lab, "ns.example.net", "ns1.example.net", "A")
    assert section(r, "answer") == [f"ns1.example.net. 300 IN A {addr(lab, 31)}"]


def test_example_org_served_by_its_net_named_servers(lab: Lab) -> None:
    for server in ("ns1.example.net", "ns2.example.net"):
        r = ask(lab, server, "www.example.org", "AAAA")
        assert r.flags & AA
        assert section(r, "answer") == ["www.example.org. 300 IN AAAA 2001:db8::50"]
    r = ask(lab, "ns1.example.net", "example.org", "MX")
    assert section(r, "answer") == ["example.org. 300 IN MX 10 mail.example.org."]
    assert section(r, "additional") == ["mail.example.org. 300 IN A 192.0.2.51"]


def test_three_level_sub_delegation(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "www.lab.eng.example.com", "A")
    assert not r.flags & AA
    assert section(r, "authority") == ["eng.example.com. 300 IN NS ns1.eng.example.com."]
    assert section(r, "additional") == [f"ns1.eng.example.com. 300 IN A {addr(lab, 22)}"]
    r = ask(lab, "ns1.eng.example.com", "www.lab.eng.example.com", "A")
    assert not r.flags & AA
    assert section(r, "authority") == ["lab.eng.example.com. 300 IN NS ns1.lab.eng.example.com."]
    assert section(r, "additional") == [f"ns1.lab.eng.example.com. 300 IN A {addr(lab, 23)}"]
    r = ask(lab, "ns1.lab.eng.example.com", "www.lab.eng.example.com", "A")
    assert r.flags & AA
    assert section(r, "answer") == ["www.lab.eng.example.com. 300 IN A 192.0.2.31"]
    r = ask(lab, "ns1.eng.example.com", "www.eng.example.com", "A")
    assert section(r, "answer") == ["www.eng.example.com. 300 IN A 192.0.2.30"]


def test_glue_below_a_cut_is_not_answered_authoritatively(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "ns1.eng.example.com", "A")
    assert not r.flags & AA and r.answer == []
    assert section(r, "authority") == ["eng.example.com. 300 IN NS ns1.eng.example.com."]


def test_ds_at_a_cut_is_answered_by_the_parent(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "eng.example.com", "DS")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & AA and r.answer == []
    assert rrset(r, "authority", "example.com", "SOA") is not None


def test_lame_servers_refuse_everything(lab: Lab) -> None:
    r = ask(lab, "ns.nic.test", "www.lame.test", "A")
    assert section(r, "authority") == [
        "lame.test. 86400 IN NS ns1.lame.test.",
        "lame.test. 86400 IN NS ns2.lame.test.",
    ]
    assert section(r, "additional") == [
        f"ns1.lame.test. 86400 IN A {addr(lab, 40)}",
        f"ns2.lame.test. 86400 IN A {addr(lab, 41)}",
    ]
    for server in ("ns1.lame.test", "ns2.lame.test"):
        for name in ("www.lame.test", "lame.test", "www.example.com", "."):
            r = ask(lab, server, name, "A")
            assert r.rcode() == dns.rcode.REFUSED
            assert not r.flags & AA and r.answer == r.authority == r.additional == []


def test_partly_lame_delegation(lab: Lab) -> None:
    r = ask(lab, "ns.nic.test", "www.partlame.test", "A")
    assert section(r, "additional") == [
        f"ns1.partlame.test. 86400 IN A {addr(lab, 40)}",
        f"ns2.partlame.test. 86400 IN A {addr(lab, 42)}",
    ]
    assert lab.server("ns1.partlame.test") is lab.server("ns1.lame.test")
    r = ask(lab, addr(lab, 40), "www.partlame.test", "A")
    assert r.rcode() == dns.rcode.REFUSED
    r = ask(lab, "ns2.partlame.test", "www.partlame.test", "A")
    assert r.flags & AA
    assert section(r, "answer") == ["www.partlame.test. 300 IN A 192.0.2.60"]


def test_glueless_delegation_loop(lab: Lab) -> None:
    r = ask(lab, "ns.nic.test", "www.loop1.test", "A")
    assert section(r, "authority") == ["loop1.test. 86400 IN NS ns.loop2.test."]
    assert r.additional == []
    r = ask(lab, "ns.nic.test", "ns.loop1.test", "A")
    assert section(r, "authority") == ["loop1.test. 86400 IN NS ns.loop2.test."]
    r = ask(lab, "ns.nic.test", "ns.loop2.test", "A")
    assert section(r, "authority") == ["loop2.test. 86400 IN NS ns.loop1.test."]
    assert r.additional == []


def test_reverse_names_in_arpa(lab: Lab) -> None:
    r = ask(lab, "ns.nic.arpa", "1.2.0.192.in-addr.arpa", "PTR")
    assert r.flags & AA
    assert section(r, "answer") == ["1.2.0.192.in-addr.arpa. 86400 IN PTR www.example.com."]
    r = ask(lab, "ns.nic.arpa", "in-addr.arpa", "PTR")  # an empty non-terminal
    assert r.rcode() == dns.rcode.NOERROR and r.answer == []
    assert rrset(r, "authority", "arpa", "SOA") is not None
    r = ask(lab, "ns.nic.arpa", "9.9.9.9.in-addr.arpa", "PTR")
    assert r.rcode() == dns.rcode.NXDOMAIN


# -- example.com answers ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "rdtype", "expected"),
    [
        ("www.example.com", "A", ["www.example.com. 300 IN A 192.0.2.1"]),
        ("www.example.com", "AAAA", ["www.example.com. 300 IN AAAA 2001:db8::1"]),
        ("example.com", "A", ["example.com. 300 IN A 192.0.2.10"]),
        ("example.com", "TXT", ['example.com. 300 IN TXT "v=spf1 -all"']),
        ("mail.example.com", "A", ["mail.example.com. 300 IN A 192.0.2.25"]),
        ("nodata.example.com", "TXT", ['nodata.example.com. 300 IN TXT "only text here"']),
        ("zero.example.com", "A", ["zero.example.com. 0 IN A 192.0.2.100"]),
        ("long.example.com", "A", ["long.example.com. 604800 IN A 192.0.2.101"]),
        ("short.example.com", "A", ["short.example.com. 2 IN A 192.0.2.102"]),
        ("alias.example.com", "CNAME", ["alias.example.com. 300 IN CNAME www.example.com."]),
    ],
)
def test_plain_answers(lab: Lab, name: str, rdtype: str, expected: list[str]) -> None:
    for server in ("ns1.example.com", "ns2.example.com"):
        r = ask(lab, server, name, rdtype)
        assert r.rcode() == dns.rcode.NOERROR and r.flags & AA
        assert section(r, "answer") == expected
        assert r.authority == []


def test_apex_ns_and_soa(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "example.com", "NS")
    assert section(r, "answer") == [
        "example.com. 300 IN NS ns1.example.com.",
        "example.com. 300 IN NS ns2.example.com.",
    ]
    assert section(r, "additional") == [
        f"ns1.example.com. 300 IN A {addr(lab, 20)}",
        f"ns2.example.com. 300 IN A {addr(lab, 21)}",
    ]
    r = ask(lab, "ns1.example.com", "example.com", "SOA")
    soa = rrset(r, "answer", "example.com", "SOA")
    assert soa is not None and soa.ttl == 3600 and soa[0].minimum == 300


def test_mx_with_additional_address(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "example.com", "MX")
    assert section(r, "answer") == ["example.com. 300 IN MX 10 mail.example.com."]
    assert section(r, "additional") == ["mail.example.com. 300 IN A 192.0.2.25"]


def test_any_returns_every_rrset(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "www.example.com", "ANY")
    assert section(r, "answer") == [
        "www.example.com. 300 IN A 192.0.2.1",
        "www.example.com. 300 IN AAAA 2001:db8::1",
    ]


def test_cname_then_target_in_zone(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "alias.example.com", "A")
    assert r.flags & AA
    assert [rr.to_text() for rr in r.answer] == [
        "alias.example.com. 300 IN CNAME www.example.com.",
        "www.example.com. 300 IN A 192.0.2.1",
    ]


def test_cname_chain_in_zone_in_order(lab: Lab) -> None:
    r = ask(lab, "ns2.example.com", "c1.example.com", "A")
    assert r.flags & AA and r.rcode() == dns.rcode.NOERROR
    assert [rr.to_text() for rr in r.answer] == [
        "c1.example.com. 300 IN CNAME c2.example.com.",
        "c2.example.com. 300 IN CNAME c3.example.com.",
        "c3.example.com. 300 IN CNAME www.example.com.",
        "www.example.com. 300 IN A 192.0.2.1",
    ]


def test_cname_chain_then_nodata(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "alias.example.com", "TXT")
    assert r.rcode() == dns.rcode.NOERROR
    assert section(r, "answer") == ["alias.example.com. 300 IN CNAME www.example.com."]
    assert rrset(r, "authority", "example.com", "SOA") is not None


def test_cross_zone_cname_stops_at_zone_edge(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "cross.example.com", "A")
    assert r.flags & AA and r.rcode() == dns.rcode.NOERROR
    assert section(r, "answer") == ["cross.example.com. 300 IN CNAME www.example.org."]
    assert r.authority == [] and r.additional == []


def test_cname_loop_is_answered_once_around(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "loop.example.com", "A")
    assert r.rcode() == dns.rcode.NOERROR
    assert [rr.to_text() for rr in r.answer] == [
        "loop.example.com. 300 IN CNAME loop2.example.com.",
        "loop2.example.com. 300 IN CNAME loop.example.com.",
    ]


def test_dname_synthesizes_cname(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "www.legacy.example.com", "A")
    assert r.flags & AA and r.rcode() == dns.rcode.NOERROR
    assert [rr.to_text() for rr in r.answer] == [
        "legacy.example.com. 300 IN DNAME example.org.",
        "www.legacy.example.com. 300 IN CNAME www.example.org.",
    ]
    r = ask(lab, "ns1.example.com", "a.b.legacy.example.com", "AAAA")
    assert section(r, "answer")[0] == "a.b.legacy.example.com. 300 IN CNAME a.b.example.org."
    r = ask(lab, "ns1.example.com", "legacy.example.com", "DNAME")
    assert section(r, "answer") == ["legacy.example.com. 300 IN DNAME example.org."]
    r = ask(lab, "ns1.example.com", "legacy.example.com", "A")  # the owner itself: no rewrite
    assert r.rcode() == dns.rcode.NOERROR and r.answer == []


def test_wildcard_synthesis(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "anything.wild.example.com", "A")
    assert r.flags & AA and r.rcode() == dns.rcode.NOERROR
    assert section(r, "answer") == ["anything.wild.example.com. 300 IN A 192.0.2.99"]
    r = ask(lab, "ns1.example.com", "deeper.name.wild.example.com", "TXT")
    assert section(r, "answer") == ['deeper.name.wild.example.com. 300 IN TXT "wildcard"']
    r = ask(lab, "ns1.example.com", "anything.wild.example.com", "AAAA")  # wildcard NODATA
    assert r.rcode() == dns.rcode.NOERROR and r.answer == []
    assert rrset(r, "authority", "example.com", "SOA") is not None


def test_empty_non_terminal_is_nodata(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "wild.example.com", "A")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & AA and r.answer == []
    soa = rrset(r, "authority", "example.com", "SOA")
    assert soa is not None and soa.ttl == 300


def test_nxdomain_with_soa_and_negative_ttl(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "nope.example.com", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN and r.flags & AA and r.answer == []
    assert section(r, "authority") == [
        "example.com. 300 IN SOA ns1.example.com. hostmaster.example.com. "
        "2024060101 7200 3600 1209600 300"
    ]
    r = ask(lab, "ns1.example.com", "a.b.nope.example.com", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN


def test_negative_ttl_is_the_lesser_of_soa_ttl_and_minimum(lab: Lab) -> None:
    r = ask(lab, "ns.example.net", "nope.example.net", "A")
    assert r.rcode() == dns.rcode.NXDOMAIN
    soa = rrset(r, "authority", "example.net", "SOA")
    assert soa is not None and soa.ttl == 120 and soa[0].minimum == 600
    r = ask(lab, "ns.example.net", "www.example.net", "TXT")  # NODATA: same rule
    soa = rrset(r, "authority", "example.net", "SOA")
    assert r.rcode() == dns.rcode.NOERROR and soa is not None and soa.ttl == 120


def test_nodata_with_soa(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "nodata.example.com", "A")
    assert r.rcode() == dns.rcode.NOERROR and r.flags & AA and r.answer == []
    soa = rrset(r, "authority", "example.com", "SOA")
    assert soa is not None and soa.ttl == 300


def test_big_answer_truncated_over_udp_full_over_tcp(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "big.example.com", "TXT", edns=0, payload=1232)
    assert r.flags & TC and r.answer == [] and r.rcode() == dns.rcode.NOERROR
    r = ask(lab, "ns1.example.com", "big.example.com", "TXT", edns=None)
    assert r.flags & TC and r.answer == []
    r = ask(lab, "ns1.example.com", "big.example.com", "TXT", tcp=True)
    assert not r.flags & TC
    txt = rrset(r, "answer", "big.example.com", "TXT")
    assert txt is not None and len(txt) == 10
    assert 1232 < len(r.to_wire()) < 4000
    r = ask(lab, "ns1.example.com", "big.example.com", "TXT", payload=4096)
    assert not r.flags & TC and len(r.answer[0]) == 10


def test_small_payload_is_raised_to_512(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "www.example.com", "A", payload=100)
    assert not r.flags & TC and len(r.answer) == 1


# -- protocol details ---------------------------------------------------------------------


def test_header_id_rd_and_question_case_are_echoed(lab: Lab) -> None:
    for name in ("WwW.ExAmPlE.cOm.", "wWw.eXaMpLe.CoM.", "www.example.com."):  # cached too
        for rd in (False, True):
            q = query(name, "A", rd=rd)
            r = dns.query.udp(q, lab.addr(20), port=lab.port, timeout=2)
            assert r.id == q.id
            assert bool(r.flags & dns.flags.RD) == rd
            assert r.question[0].name.to_text() == name  # exact case (DNS 0x20)
            assert r.answer[0].to_text() == f"{name} 300 IN A 192.0.2.1"


def test_edns_echoed_only_when_asked(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "www.example.com", edns=None)
    assert r.edns == -1
    r = ask(lab, "ns1.example.com", "www.example.com", edns=0, do=True)
    assert r.edns == 0 and r.payload == 1232 and r.ednsflags & dns.flags.DO


def test_unknown_edns_version_gets_badvers(lab: Lab) -> None:
    r = ask(lab, "ns1.example.com", "www.example.com", edns=1)
    assert r.rcode() == dns.rcode.BADVERS and r.edns == 0


def test_opcode_other_than_query_is_notimp(lab: Lab) -> None:
    q = dns.message.make_query("example.com", "SOA")
    q.set_opcode(dns.opcode.NOTIFY)
    (wire,) = raw_exchange(lab, "ns1.example.com", [q.to_wire()], quiet=2.0, expect=1)
    r = dns.message.from_wire(wire)
    assert r.id == q.id and r.rcode() == dns.rcode.NOTIMP and r.opcode() == dns.opcode.NOTIFY


def test_garbage_after_header_is_formerr_and_short_packets_and_responses_are_ignored(
    lab: Lab,
) -> None:
    q = dns.message.make_query("www.example.com", "A").to_wire()
    response = bytearray(q)
    response[2] |= 0x80  # QR=1: not a query
    got = raw_exchange(lab, "ns1.example.com", [b"\x12", bytes(response), q[:14]], quiet=0.3)
    assert len(got) == 1
    r = dns.message.from_wire(got[0], question_only=True)
    assert r.id == int.from_bytes(q[:2], "big") and r.rcode() == dns.rcode.FORMERR


def test_non_in_class_and_zone_transfers_are_refused(lab: Lab) -> None:
    q = dns.message.make_query("example.com", "TXT", rdclass="CH")
    r = dns.query.udp(q, lab.addr(20), port=lab.port, timeout=2)
    assert r.rcode() == dns.rcode.REFUSED
    r = ask(lab, "ns1.example.com", "example.com", "AXFR", tcp=True)
    assert r.rcode() == dns.rcode.REFUSED


def test_tcp_pipelined_queries_on_one_connection(lab: Lab) -> None:
    import socket

    names = ["www.example.com", "mail.example.com", "nope.example.com"]
    qs = [query(n, "A") for n in names]
    with socket.create_connection((lab.addr(20), lab.port), timeout=2) as sock:
        for q in qs:
            dns.query.send_tcp(sock, q)
        replies = [dns.query.receive_tcp(sock, expiration=None)[0] for _ in qs]
    assert [r.id for r in replies] == [q.id for q in qs]
    assert [r.rcode() for r in replies] == [0, 0, dns.rcode.NXDOMAIN]


def test_every_server_serves_its_zones(lab: Lab) -> None:
    assert lab.world is not None
    for spec in lab.world.servers:
        srv = lab.server(spec.name)
        assert srv.address == spec.address and srv.name == spec.name
        assert srv.zones == list(spec.zones)
        for zone in spec.zones:
            r = ask(lab, spec.address, zone, "SOA")
            assert r.flags & AA and rrset(r, "answer", zone, "SOA") is not None
            assert srv in lab.servers_for(zone.rstrip(".") or ".")


def test_server_lookup(lab: Lab) -> None:
    srv = lab.server("ns1.example.com")
    assert srv is lab.server("NS1.Example.COM.") is lab.server(lab.addr(20))
    assert srv.name == "ns1.example.com." and srv.address == lab.addr(20)
    assert srv.zones == ["example.com."]
    assert [s.address for s in lab.servers_for("example.com")] == [lab.addr(20), lab.addr(21)]
    assert len(lab.servers_for(".")) == 2
    assert lab.addr(0 + 7, block=1) == f"{lab.net}.1.7"
    assert lab.addr(1) not in lab.servers  # where a resolver listens
    with pytest.raises(KeyError):
        lab.server("ns9.example.com")
    assert dns.name.from_text("example.com") and lab.synthetic_domains == []
