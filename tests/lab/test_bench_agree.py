"""bench.agree (the answer diff of `make bench`) against real lab servers over sockets."""

from __future__ import annotations

from bench import agree

from rootwalk.lab import Faults, Lab


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


def test_agree_sees_altered_data_and_a_missing_wildcard_proof(lab: Lab) -> None:
    ns1 = (lab.server("ns1.example.com").address, lab.port)
    ns2 = lab.server("ns2.example.com")
    questions = ["www.example.com A", "x.wild.example.com A"]
    ns2.faults = Faults(forge_answer=True, only_for=("www.example.com", "A"))
    forged = agree.compare(ns1, (ns2.address, lab.port), questions)
    ns2.faults = Faults(wildcard_no_proof=True)
    no_proof = agree.compare(ns1, (ns2.address, lab.port), questions)
    assert [d["question"] for d in forged["differences"]] == ["www.example.com A"]
    assert [d["question"] for d in no_proof["differences"]] == ["x.wild.example.com A"]
