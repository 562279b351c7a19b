"""``rootwalk query`` and ``rootwalk lab demo`` as a user runs them: real processes and sockets."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rootwalk.lab import Faults, Lab


def rootwalk(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rootwalk", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_query_trace_shows_each_step_and_dig_style_answer(lab: Lab) -> None:
    p = rootwalk(
        "query", "www.example.org", "A", "--trace",
        "--config", str(lab.config_path),
    )  # fmt: skip
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "a.root-servers.net." in out or "b.root-servers.net." in out
    assert "referral: to org." in out and "referral: to example.org." in out
    assert "glueless example.org." in out  # the sub-resolution of ns1/ns2.example.net
    assert " ms " in out  # round-trip times
    assert ";; ANSWER SECTION:" in out
    assert "www.example.org.\t300\tIN\tA\t192.0.2.50" in out
    assert "status: NOERROR" in out


def test_query_reports_nxdomain_and_bad_arguments(lab: Lab) -> None:
    args = ["--config", str(lab.config_path)]
    p = rootwalk("query", "nope.example.com", *args)
    assert p.returncode == 3 and "status: NXDOMAIN" in p.stdout and "SOA" in p.stdout
    p = rootwalk("query", "nodata.example.com", *args)
    assert p.returncode == 0 and "status: NOERROR" in p.stdout
    p = rootwalk("query", "www.lame.test", *args)  # both servers REFUSED: the walk fails
    assert p.returncode == 4 and "status: SERVFAIL" in p.stdout
    p = rootwalk("query", "www.example.com", "NOTATYPE", *args)
    assert p.returncode == 2 and "bad question" in p.stderr
    p = rootwalk("query", "www.example.com", "--root-hints", "/nonexistent/hints")
    assert p.returncode == 2 and "/nonexistent/hints" in p.stderr


def test_demo_shows_a_walk_then_cache_hits() -> None:
    p = rootwalk("lab", "demo")
    assert p.returncode == 0, p.stderr
    assert "referral: to com." in p.stdout
    assert p.stdout.count("cache hit") == 3
    assert "root servers asked 0 more times" in p.stdout
    assert "Traceback" not in p.stderr


def test_trace_says_why_each_server_was_skipped(lab: Lab) -> None:
    # Both example.com servers reply with our ID but no question: each is shown failing at
    # once, with the reason, and the client gets SERVFAIL with an EDE.
    for key in ("ns1.example.com", "ns2.example.com"):
        lab.server(key).faults = Faults(empty_question=True)
    try:
        p = rootwalk("query", "www.example.com", "--trace", "--config", str(lab.config_path))
    finally:
        lab.clear_faults()
    assert "status: SERVFAIL" in p.stdout
    lines = [line for line in p.stdout.splitlines() if "reply carries no question" in line]
    assert {lab.server(k).address for k in ("ns1.example.com", "ns2.example.com")} == {
        a for line in lines for a in [line.split("[", 1)[1].split("]", 1)[0]]
    }
    assert all("mismatched reply" in line for line in lines)


def test_trace_shows_servers_skipped_as_this_machine(lab: Lab) -> None:
    # Without the lab's configuration file, do_not_query_localhost is on: every lab server is
    # on 127.x, so none is asked (no packet is sent anywhere) and the trace says why.
    lab.reset_counters()
    p = rootwalk(
        "query", "www.example.com", "--trace",
        "--root-hints", str(lab.root_hints_path), "--upstream-port", str(lab.port),
        "--trust-anchor", str(lab.trust_anchor_path),
    )  # fmt: skip
    assert "status: SERVFAIL" in p.stdout
    assert f"[{lab.addr(2)}]" in p.stdout and "do_not_query_localhost is on" in p.stdout
    assert sum(s.count() for s in lab.servers.values()) == 0


def test_query_help_lists_the_exit_statuses() -> None:
    p = rootwalk("query", "--help")
    assert p.returncode == 0
    for line in ("3  NXDOMAIN", "4  SERVFAIL", "5  another rcode"):
        assert line in p.stdout


@pytest.mark.parametrize("trace", [False, True], ids=["plain", "trace"])
def test_query_into_a_closed_pipe_is_quiet(lab: Lab, trace: bool) -> None:
    """`rootwalk query ... | head -1`: the reader leaves early; no traceback, Python's status 1."""
    cmd = [
        sys.executable, "-m", "rootwalk", "query", "www.example.org",
        "--config", str(lab.config_path),
    ]  # fmt: skip
    if trace:
        cmd.append("--trace")
    r, w = os.pipe()
    os.close(r)  # nobody will read: the first write fails with EPIPE
    with os.fdopen(w, "w") as stdout:
        p = subprocess.run(cmd, stdout=stdout, stderr=subprocess.PIPE, text=True, timeout=60)
    assert p.stderr == "", p.stderr
    assert p.returncode == 1
