"""``ctl flush-zone``, ``ctl dump-cache FILE`` / ``load-cache FILE`` and the warm start
(``cache.warm_start_file``), against a running ``rootwalk serve`` in front of the lab."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import dns.rcode
import pytest

from rootwalk.lab import Lab

from .conftest import ServeProcess, ask, run_cli, start_server

EXAMPLE_COM = ("ns1.example.com", "ns2.example.com")


def ctl(sock: Path, *words: str) -> tuple[int, str, str]:
    p = run_cli(["ctl", "--socket", str(sock), *words])
    return p.returncode, p.stdout, p.stderr


def lab_queries(lab: Lab) -> int:
    return sum(s.count() for s in lab.servers.values())


def example_com_queries(lab: Lab, name: str) -> int:
    return sum(lab.server(k).count(name) for k in EXAMPLE_COM)


def serve(lab: Lab, tmp: Path, extra: str = "") -> tuple[ServeProcess, Path]:
    sock = tmp / f"ctl-{time.monotonic_ns()}.sock"
    text = f'control_socket = "{sock}"\n{extra}'
    return start_server(lab, tmp, text, listen=["127.0.0.1:0"]), sock


def test_flush_zone_removes_the_subtree_and_its_rendered_answers(lab: Lab, tmp_path: Path) -> None:
    proc, sock = serve(lab, tmp_path)
    where = proc.addresses[0]
    try:
        for _ in range(3):  # the third comes from the rendered-answer fast path
            assert ask(where, "www.example.com").answer
            assert ask(where, "www.example.org").answer
        assert ask(where, "nonexistent.example.com").rcode() == dns.rcode.NXDOMAIN
        rc, out, err = ctl(sock, "flush-zone", "example.com")
        m = re.fullmatch(
            r"removed (\d+) rrsets, (\d+) negative answers and (\d+) rendered answers "
            r"at or below example\.com\.\n",
            out,
        )
        assert rc == 0 and m is not None, (out, err)
        rrsets, negative, wire = map(int, m.groups())
        # www A, example.com NS, ns1/ns2 A (at least); the NXDOMAIN; www's rendered answer.
        assert rrsets >= 4 and negative == 1 and wire >= 1
        lab.reset_counters()
        # Below the zone: asked again upstream (not from the fast path's rendered bytes).
        assert ask(where, "www.example.com").answer
        assert example_com_queries(lab, "www.example.com") == 1
        assert ask(where, "nonexistent.example.com").rcode() == dns.rcode.NXDOMAIN
        assert example_com_queries(lab, "nonexistent.example.com") == 1
        # Outside it: still cached.
        assert ask(where, "www.example.org").answer
        assert sum(s.count("www.example.org") for s in lab.servers.values()) == 0
        rc, out, _ = ctl(sock, "flush-zone")
        assert rc == 1
        rc, _, err = ctl(sock, "flush-zone", "bad..name")
        assert rc == 1 and "bad name" in err
    finally:
        assert proc.stop() == 0


def _line(name: str, expires: float, ttl: int = 300, **more: object) -> str:
    obj: dict[str, object] = {"name": name, "type": "A", "ttl": ttl, "expires": expires}
    obj.update({"trust": "auth_answer", "rdata": ["192.0.2.55"]})
    obj.update(more)
    return json.dumps(obj)


def test_dump_cache_then_load_cache_counts_ttls_down_and_reports_bad_lines(
    lab: Lab, tmp_path: Path
) -> None:
    first, sock1 = serve(lab, tmp_path)
    dump = tmp_path / "cache.jsonl"
    try:
        assert ask(first.addresses[0], "www.example.com").answer
        assert ask(first.addresses[0], "nonexistent.example.com").rcode() == dns.rcode.NXDOMAIN
        rc, out, err = ctl(sock1, "dump-cache", str(dump))
        assert rc == 0 and re.fullmatch(rf"wrote (\d+) entries to {dump}\n", out), (out, err)
    finally:
        assert first.stop() == 0
    lines = dump.read_text().splitlines()
    header = json.loads(lines[0])
    assert header["rootwalk-cache"] == 1
    entries = [json.loads(x) for x in lines[1:]]
    www = [e for e in entries if e["name"] == "www.example.com." and e.get("type") == "A"]
    assert www and www[0]["trust"] == "auth_answer" and www[0]["rdata"] == ["192.0.2.1"]
    assert any(e.get("negative") == "nxdomain" for e in entries)
    assert (dump.stat().st_mode & 0o777) == 0o600
    now = time.time()
    extra = [
        # Not in the lab: answered only if the file was loaded; 100 s left of 300.
        _line("warm.example.com.", now + 100),
        # Claims to outlive its own TTL: capped at 60 s.
        _line("capped.example.com.", now + 10_000, ttl=60),
        _line("gone.example.com.", now - 5),  # expired: skipped
        "not json",  # bad
        _line("badrdata.example.com.", now + 100, rdata=["300.1.2.3"]),  # bad
        _line("badtrust.example.com.", now + 100, trust="gospel"),  # bad
    ]
    dump.write_text("\n".join([*lines, *extra]) + "\n")
    second, sock2 = serve(lab, tmp_path)
    try:
        where = second.addresses[0]
        lab.reset_counters()
        rc, out, err = ctl(sock2, "load-cache", str(dump))
        assert rc == 0, err
        report = out.splitlines()
        loaded = len(lines) - 1 + 2
        assert report[0] == (
            f"loaded {loaded} entries, skipped 1 expired, 0 already cached, 3 bad lines"
        )
        bad_at = len(lines) + 4  # line numbers of the file, 1-based
        assert report[1].startswith(f"line {bad_at}: not JSON")
        assert report[2].startswith(f"line {bad_at + 1}: 'rdata': bad A rdata '300.1.2.3'")
        assert report[3] == f"line {bad_at + 2}: unknown trust 'gospel'"
        m = ask(where, "warm.example.com")
        assert m.rcode() == dns.rcode.NOERROR and m.answer[0][0].address == "192.0.2.55"
        assert 95 <= m.answer[0].ttl <= 100
        assert ask(where, "capped.example.com").answer[0].ttl <= 60
        m = ask(where, "www.example.com")
        assert m.answer and m.answer[0].ttl <= 300
        assert ask(where, "nonexistent.example.com").rcode() == dns.rcode.NXDOMAIN
        assert lab_queries(lab) == 0  # everything came from the loaded file
        # Loading again: nothing in the file is better than what is cached now, but for the
        # capped entry, capped again from a later "now" (so it lives a little longer).
        rc, out, _ = ctl(sock2, "load-cache", str(dump))
        assert rc == 0
        assert out.startswith(f"loaded 1 entries, skipped 1 expired, {loaded - 1} already ")
        # Not a cache file at all: an error, and the server goes on.
        rc, _, err = ctl(sock2, "load-cache", str(tmp_path / "missing"))
        assert rc == 1 and "cannot read" in err
        (tmp_path / "other").write_text("[server]\n")
        rc, _, err = ctl(sock2, "load-cache", str(tmp_path / "other"))
        assert rc == 1 and "not a rootwalk cache file" in err
    finally:
        assert second.stop() == 0


def test_warm_start_answers_from_the_saved_cache_with_ttls_counted_down(
    lab: Lab, tmp_path: Path
) -> None:
    warm = tmp_path / "warm.jsonl"
    extra = f'\n[cache]\nwarm_start_file = "{warm}"\n'
    proc = start_server(lab, tmp_path, extra, listen=["127.0.0.1:0"])
    assert proc.find("warm start: no cache file") is not None
    assert ask(proc.addresses[0], "www.example.com").answer[0].ttl == 300
    assert proc.stop() == 0  # SIGTERM
    assert proc.find(r"warm start: saved \d+ cache entries") is not None, proc.stderr
    # As if the server had been down for 100 s: every expiry 100 s earlier.
    lines = warm.read_text().splitlines()
    shifted = [lines[0]]
    for line in lines[1:]:
        obj = json.loads(line)
        obj["expires"] -= 100
        shifted.append(json.dumps(obj))
    warm.write_text("\n".join(shifted) + "\n")
    lab.reset_counters()
    again = start_server(lab, tmp_path, extra, listen=["127.0.0.1:0"])
    try:
        assert again.find(r"warm start: loaded \d+ entries") is not None, again.stderr
        m = ask(again.addresses[0], "www.example.com")
        assert m.answer[0][0].address == "192.0.2.1"
        assert 195 <= m.answer[0].ttl <= 200
        assert lab_queries(lab) == 0
    finally:
        assert again.stop() == 0


@pytest.mark.parametrize(
    ("value", "why"),
    [("/nonexistent-dir/warm.jsonl", "no such directory"), ("/", "is a directory")],
)
def test_warm_start_file_checked(tmp_path: Path, value: str, why: str) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[cache]\nwarm_start_file = "{value}"\n')
    for args in (["check-config", str(bad)], ["serve", "--config", str(bad)]):
        p = run_cli(args)
        assert p.returncode == 2, p
        assert "'cache.warm_start_file'" in p.stderr and why in p.stderr


def test_cache_commands_and_warm_start_with_workers(lab: Lab, tmp_path: Path) -> None:
    sock = tmp_path / "w.sock"
    warm = tmp_path / "warm.jsonl"
    extra = f'control_socket = "{sock}"\n\n[cache]\nwarm_start_file = "{warm}"\n'
    proc = start_server(lab, tmp_path, extra, args=["--workers", "2"], listen=["127.0.0.1:0"])
    dump = tmp_path / "dump.jsonl"
    try:
        for _ in range(4):  # spread over the workers by source port
            assert ask(proc.addresses[0], "www.example.com").answer
        rc, out, err = ctl(sock, "dump-cache", str(dump))
        assert rc == 0, err
        assert out.startswith("worker 0: wrote ") and "\nworker 1: wrote " in out, out
        assert dump.with_name("dump.jsonl.0").exists() and dump.with_name("dump.jsonl.1").exists()
        rc, out, err = ctl(sock, "load-cache", str(dump) + ".0")
        assert rc == 0 and out.startswith("worker 0: loaded ") and "worker 1: loaded " in out
        rc, out, err = ctl(sock, "flush-zone", "example.com")
        assert rc == 0 and re.match(r"worker 0: removed \d+ rrsets", out), (out, err)
        rc, _, err = ctl(sock, "load-cache")
        assert rc == 1 and "usage: load-cache FILE" in err
    finally:
        assert proc.stop() == 0
    # One warm-start file per worker: each has its own cache.
    assert warm.with_name("warm.jsonl.0").exists() and warm.with_name("warm.jsonl.1").exists()
