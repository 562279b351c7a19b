"""The lab's web server (lab/web.py) and the seeds' whole story in ``make demo``."""

from __future__ import annotations

import asyncio
import http.client

import dns.message
import dns.query

from rootwalk.lab import Lab, web
from rootwalk.lab.demo import story


def get(lab: Lab, method: str = "GET") -> tuple[int, str]:
    assert lab.web is not None
    conn = http.client.HTTPConnection(lab.web.address, lab.port, timeout=5)
    try:
        conn.request(method, "/")
        r = conn.getresponse()
        return r.status, r.read().decode()
    finally:
        conn.close()


def test_web_example_com_points_at_the_lab_web_server(lab: Lab) -> None:
    assert lab.web is not None and lab.web.address == f"{lab.net}.0.80"
    q = dns.message.make_query(web.NAME, "A")
    r = dns.query.udp(q, lab.server("ns1.example.com").address, port=lab.port, timeout=5)
    assert [rd.address for rd in r.answer[0]] == [lab.web.address] and r.answer[0].ttl == 300
    before = lab.web.requests
    status, body = get(lab)
    assert status == 200 and f"<title>{web.TITLE}</title>" in body
    assert lab.web.address in body and lab.web.requests == before + 1
    assert get(lab, "POST")[0] == 405 and lab.web.requests == before + 1


def test_demo_story_shows_nine_steps_then_three_to_six_skipped(lab: Lab) -> None:
    out: list[str] = []
    asyncio.run(story(lab, out))
    text = "\n".join(out)
    first, second = text.split("== The same page again", 1)
    steps = [line.split()[0] for line in first.splitlines() if line[:5].strip().isdigit()]
    assert steps[0] == "1" and steps[-1] == "9"
    assert set(steps) == {str(n) for n in range(1, 10)}, first
    root = {lab.addr(2), lab.addr(3)}
    tld = {lab.server("a.gtld-servers.net").address, lab.server("b.gtld-servers.net").address}
    zone = {lab.server("ns1.example.com").address, lab.server("ns2.example.com").address}
    by_step = {n: [ln for ln in first.splitlines() if ln.split()[:1] == [n]] for n in "345"}
    for n, servers in (("3", root), ("4", tld), ("5", zone)):
        assert by_step[n] and all(any(f"[{a}]" in ln for a in servers) for ln in by_step[n])
    assert (
        "referral: to com." in by_step["3"][-1] and "referral: to example.com." in by_step["4"][-1]
    )
    assert (
        f"answer: web.example.com. 300 A {lab.web.address if lab.web else ''}" in by_step["5"][-1]
    )
    assert "cached for 300 s" in first
    assert f"title: '{web.TITLE}'" in first and f"title: '{web.TITLE}'" in second
    assert "3-6  skipped" in second and "(lab counters: 0 queries)" in second
    assert "answered from the cache (TTL" in second and "fetched by walk #1" in second
    assert not any(line.split()[:1] in (["3"], ["4"], ["5"], ["6"]) for line in second.splitlines())
