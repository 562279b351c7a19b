"""/metrics: the answer latency histogram (by cache result) and answers by type and rcode,
with exact counts after known questions, in one process and summed over workers."""

from __future__ import annotations

import re
import socket
import urllib.request
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

from rootwalk.lab import Lab
from rootwalk.server.control import render_metrics
from rootwalk.server.handler import LATENCY_BUCKETS

from .conftest import start_server

_SAMPLE = re.compile(
    r"^(?P<name>[a-zA-Z_:][a-zA-Z0-9_:]*)"
    r'(?:\{(?P<labels>[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*"'
    r'(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\.)*")*)?\})?'
    r" (?P<value>[-+]?(?:\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\+Inf|-Inf|NaN))$"
)
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_prometheus(text: str) -> Samples:
    """A strict reader of the text format 0.0.4: every sample belongs to a family declared by
    a TYPE line before it, once; histograms have cumulative buckets ending in +Inf = _count."""
    assert text.endswith("\n")
    types: dict[str, str] = {}
    samples: Samples = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            _, _, fam, kind = line.split(" ")
            assert fam not in types, f"family {fam} declared twice"
            assert kind in ("counter", "gauge", "histogram"), line
            types[fam] = kind
            continue
        m = _SAMPLE.match(line)
        assert m is not None, f"not a sample line: {line!r}"
        name = m["name"]
        fam = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert fam in types, f"sample {name} before its TYPE"
        labels = frozenset(_LABEL.findall(m["labels"] or ""))
        key = (name, labels)
        assert key not in samples, f"duplicate sample {line!r}"
        samples[key] = float(m["value"])
    for fam, kind in types.items():
        if kind != "histogram":
            continue
        series: dict[frozenset[tuple[str, str]], list[tuple[float, float]]] = {}
        for (name, labels), value in samples.items():
            if name == f"{fam}_bucket":
                le = dict(labels)["le"]
                rest = frozenset(x for x in labels if x[0] != "le")
                series.setdefault(rest, []).append((float(le), value))
        for rest, buckets in series.items():
            bounds = [b for b, _ in buckets]
            assert bounds == sorted(bounds) and bounds[-1] == float("inf")
            counts = [c for _, c in buckets]
            assert counts == sorted(counts), "buckets are not cumulative"
            assert samples[(f"{fam}_count", rest)] == counts[-1]
            assert (f"{fam}_sum", rest) in samples
    return samples


def sample(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_render_metrics_histogram_from_flat_counts() -> None:
    """Per-bucket counts (as the supervisor sums them) become cumulative buckets."""
    stats = {
        "latency_hit_le_0.0005": 5,
        "latency_hit_le_0.01": 2,
        "latency_hit_sum_us": 1500,
        "latency_miss_le_inf": 1,
        "latency_miss_sum_us": 7_000_000,
        "answers_type_A_NOERROR": 7,
        "answers_type_AAAA_NXDOMAIN": 1,
        "queries_udp": 1_234_567,
    }
    s = parse_prometheus(render_metrics(stats))
    h = "rootwalk_answer_duration_seconds"
    assert sample(s, f"{h}_bucket", cache="hit", le="0.0005") == 5
    assert sample(s, f"{h}_bucket", cache="hit", le="0.005") == 5
    assert sample(s, f"{h}_bucket", cache="hit", le="0.01") == 7
    assert sample(s, f"{h}_bucket", cache="hit", le="+Inf") == 7
    assert sample(s, f"{h}_sum", cache="hit") == 0.0015
    assert sample(s, f"{h}_bucket", cache="miss", le="5") == 0
    assert sample(s, f"{h}_bucket", cache="miss", le="+Inf") == 1
    assert sample(s, f"{h}_sum", cache="miss") == 7.0
    assert sample(s, "rootwalk_answers_by_type_total", qtype="A", rcode="NOERROR") == 7
    assert sample(s, "rootwalk_answers_by_type_total", qtype="AAAA", rcode="NXDOMAIN") == 1
    # Counters are exact integers, not "1.23457e+06".
    assert 'rootwalk_queries_total{transport="udp"} 1234567\n' in render_metrics(stats)
    assert len([k for k in s if k[0] == f"{h}_bucket"]) == 2 * (len(LATENCY_BUCKETS) + 1)


@pytest.mark.parametrize("workers", [1, 2])
def test_metrics_after_known_questions(lab: Lab, tmp_path: Path, workers: int) -> None:
    extra = f'metrics_listen = "127.0.0.1:0"\nworkers = {workers}\ncontrol_socket = "off"\n'
    proc = start_server(lab, tmp_path, extra, listen=["127.0.0.1:0"])
    try:
        where = proc.addresses[0]
        found = proc.find(r"metrics on (http://\S+/metrics)")
        assert found is not None, proc.stderr
        # One client socket: SO_REUSEPORT sends all of it to one worker, so the third A
        # question finds the answer the second one rendered (a fast-path hit).
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))

            def ask(name: str, rdtype: str) -> int:
                q = dns.message.make_query(name, rdtype)
                r = dns.query.udp(q, where[0], port=where[1], timeout=5, sock=sock)
                return r.rcode()

            for _ in range(3):  # miss, hit (wire path, then rendered), hit (fast path)
                assert ask("www.example.com", "A") == dns.rcode.NOERROR
            assert ask("nope.example.com", "A") == dns.rcode.NXDOMAIN  # miss
            assert ask("a.wild.example.com", "TXT") == dns.rcode.NOERROR  # miss
            assert ask("www.example.com", "ANY") == dns.rcode.NOERROR  # hit (full path)
        with urllib.request.urlopen(found.group(1), timeout=5) as r:  # noqa: S310 (loopback)
            s = parse_prometheus(r.read().decode())
    finally:
        assert proc.stop() == 0, proc.stderr
    by_type = "rootwalk_answers_by_type_total"
    assert sample(s, by_type, qtype="A", rcode="NOERROR") == 3
    assert sample(s, by_type, qtype="A", rcode="NXDOMAIN") == 1
    assert sample(s, by_type, qtype="TXT", rcode="NOERROR") == 1
    assert sample(s, by_type, qtype="ANY", rcode="NOERROR") == 1
    assert sum(v for (n, _), v in s.items() if n == by_type) == 6
    h = "rootwalk_answer_duration_seconds"
    assert sample(s, f"{h}_count", cache="hit") == 3
    assert sample(s, f"{h}_count", cache="miss") == 3
    assert sample(s, f"{h}_bucket", cache="hit", le="0.0005") >= 1  # the fast-path hit
    assert sample(s, f"{h}_sum", cache="miss") > 0
    assert sample(s, "rootwalk_cache_results_total", result="hit") == 3
