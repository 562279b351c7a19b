"""Query counters and the recent-query log."""

from __future__ import annotations

import dns.name
import dns.query
import dns.rdatatype

from rootwalk.lab import Lab, QueryRecord
from tests.lab.dnsutil import ask, query


def test_count_by_name_type_and_transport(lab: Lab) -> None:
    srv = lab.server("ns1.example.com")
    ask(lab, "ns1.example.com", "www.example.com", "A")
    ask(lab, "ns1.example.com", "WWW.example.COM", "A")
    ask(lab, "ns1.example.com", "www.example.com", "AAAA")
    ask(lab, "ns1.example.com", "www.example.com", "A", tcp=True)
    ask(lab, "ns1.example.com", "mail.example.com", "A")
    assert srv.count() == 5
    assert srv.count("www.example.com") == 4
    assert srv.count("WWW.EXAMPLE.COM.") == 4
    assert srv.count(dns.name.from_text("www.example.com")) == 4
    assert srv.count("www.example.com", "A") == 3
    assert srv.count("www.example.com", dns.rdatatype.A) == 3
    assert srv.count("www.example.com", "A", "udp") == 2
    assert srv.count(qtype="A", transport="tcp") == 1
    assert srv.count(transport="udp") == 4
    assert srv.count("nope.example.com") == 0
    assert lab.server("ns2.example.com").count() == 0
    srv.reset_counters()
    assert srv.count() == 0 and srv.queries == []


def test_query_records(lab: Lab) -> None:
    srv = lab.server("ns2.example.com")
    q = query("WwW.eXample.com", "AAAA", edns=0, payload=1400, do=True, rd=True)
    dns.query.udp(q, srv.address, port=lab.port, timeout=2)
    ask(lab, "ns2.example.com", "mail.example.com", "MX", edns=None, tcp=True)
    first, second = srv.queries
    assert isinstance(first, QueryRecord)
    assert first.qname.to_text() == "WwW.eXample.com."  # the exact case received
    assert first.qtype == dns.rdatatype.AAAA
    assert first.transport == "udp"
    assert first.edns and first.do and first.payload == 1400
    assert first.rd and first.id == q.id
    assert first.source[0].startswith("127.") and first.source[1] > 0
    assert second.qname == dns.name.from_text("mail.example.com")
    assert (second.transport, second.edns, second.do, second.payload, second.rd) == (
        "tcp",
        False,
        False,
        None,
        False,
    )


def test_records_keep_case_on_repeated_queries(lab: Lab) -> None:
    srv = lab.server("ns1.example.com")
    for name in ("www.example.com.", "WWW.EXAMPLE.COM.", "www.example.com.", "wWw.ExAmPlE.cOm."):
        ask(lab, "ns1.example.com", name)
    assert [r.qname.to_text() for r in srv.queries] == [
        "www.example.com.",
        "WWW.EXAMPLE.COM.",
        "www.example.com.",
        "wWw.ExAmPlE.cOm.",
    ]


def test_lab_reset_counters(lab: Lab) -> None:
    ask(lab, "a.root-servers.net", "com", "NS")
    ask(lab, "a.gtld-servers.net", "example.com", "NS")
    assert lab.server("a.root-servers.net").count() == 1
    lab.reset_counters()
    assert sum(s.count() for s in lab.servers.values()) == 0
