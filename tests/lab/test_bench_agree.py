"""bench.agree (the answer diff of `make bench`) against real lab servers over sockets."""

from __future__ import annotations

from bench import agree

from rootwalk.lab import Lab


def test_agree_finds_what_differs_between_two_real_servers(lab: Lab) -> None:
    questions = ["www.example.com A", "x.wild.example.com A", "nope.example.com A"]
    ns1 = (lab.server("ns1.example.com").address, lab.port)
    ns2 = (lab.server("ns2.example.com").address, lab.port)
    root = (lab.server("a.root-servers.net").address, lab.port)
    same = agree.compare(ns1, ns2, questions)
    differ = agree.compare(ns1, root, questions)  # the root only refers to com.
    assert same["differences"] == [] and same["same"] == 3
    assert {d["question"] for d in differ["differences"]} == set(questions)
    assert same["rcodes_a"] == {"NOERROR": 2, "NXDOMAIN": 1}
