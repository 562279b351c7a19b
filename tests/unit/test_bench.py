"""The bench's own logic (bench/): configs of the servers under test, query files, the report
rows of the validating bench, and the answer diff. No benchmark runs here (they need root,
port 53, NSD and Unbound: `make bench`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from bench import agree, queries, report
from bench.servers import Setup, rootwalk_config, unbound_config

from rootwalk.config import load_config


def _setup(tmp_path: Path) -> Setup:
    hints = tmp_path / "root.hints"
    hints.write_text(". 3600000 NS a.root-servers.net.\na.root-servers.net. 3600000 A 127.9.0.2\n")
    anchor = tmp_path / "trust-anchor.ds"
    anchor.write_text(
        ". 3600 IN DS 20326 8 2 E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n"
    )
    return Setup("127.9", 10, tmp_path, 20000, 20001, hints=hints, anchor=anchor)


def test_unbound_validates_with_the_lab_anchor_and_resolves_test_and_testnet(
    tmp_path: Path,
) -> None:
    s = _setup(tmp_path)
    on = unbound_config(s, validate=True).read_text()
    assert 'module-config: "validator iterator"' in on
    assert f'trust-anchor-file: "{s.anchor}"' in on
    # Unbound's built-in static zones for test. (RFC 6761) and TEST-NET-1's reverse (RFC
    # 5737) answer NXDOMAIN for the lab's partlame.test, island.test and 1.2.0.192.in-addr.arpa.
    for config in (on, unbound_config(s, validate=False).read_text()):
        assert 'local-zone: "test." nodefault' in config
        assert 'local-zone: "2.0.192.in-addr.arpa." nodefault' in config
    off = unbound_config(s, validate=False).read_text()
    assert 'module-config: "iterator"' in off
    assert "trust-anchor-file" not in off


def test_unbound_configs_pass_unbound_checkconf(tmp_path: Path) -> None:
    checkconf = shutil.which("unbound-checkconf") or shutil.which(
        "unbound-checkconf", path="/usr/sbin:/sbin"
    )
    if checkconf is None:
        pytest.skip("unbound-checkconf is not installed (make bench installs unbound)")
    s = _setup(tmp_path)
    for validate in (True, False):
        conf = unbound_config(s, validate=validate)
        r = subprocess.run([checkconf, str(conf)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr


def test_rootwalk_configs_switch_validation(tmp_path: Path) -> None:
    s = _setup(tmp_path)
    on = load_config(rootwalk_config(s, validate=True))
    assert on.dnssec.enabled
    assert on.dnssec.trust_anchor_file == str(s.anchor)
    assert on.server.control_socket == str(tmp_path / "rootwalk.sock")
    off = load_config(rootwalk_config(s, validate=False))
    assert not off.dnssec.enabled
    # Two servers of the two configs may run at once: their control sockets differ.
    assert off.server.control_socket != on.server.control_socket


def test_interleave_spreads_the_second_list_through_the_first() -> None:
    a = [f"a{i}" for i in range(1000)]
    b = [f"b{i}" for i in range(500)]
    out = queries.interleave(a, b)
    assert [x for x in out if x.startswith("a")] == a
    assert [x for x in out if x.startswith("b")] == b
    # Evenly: every third line is one of b's, so any window of the file has both.
    assert all(any(x.startswith("b") for x in out[i : i + 3]) for i in range(0, 1500, 3))
    assert queries.interleave(a, []) == a


def test_signed_name_files_are_fixed_and_under_signed_zones() -> None:
    hot = queries.signed_hot_names(80)
    assert hot == queries.signed_hot_names(80)  # both servers get the very same file
    cold = queries.signed_cold_names(100)
    assert len(set(cold)) == 100  # never-seen: no name twice
    zones = ("example.com A", "example.net A", "example.com MX", "island.test A")
    assert all(line.endswith(zones) for line in hot + cold)


def _record(rw_val: float, ub_val: float, rw_plain: float, ub_plain: float) -> dict[str, Any]:
    return {
        "params": {"clients": 8},
        "rootwalk": {
            "cold": {"qps": rw_val, "lost": 0, "cpu_us_per_resolution": 500.0},
            "cold_novalidate": {"qps": rw_plain, "cpu_us_per_resolution": 400.0},
        },
        "unbound": {
            "cold": {"qps": ub_val, "cpu_us_per_resolution": 60.0},
            "cold_novalidate": {"qps": ub_plain, "cpu_us_per_resolution": 50.0},
        },
    }


def _row(rows: list[report.Row], metric: str) -> report.Row:
    return next(r for r in rows if r["metric"].startswith(metric))


def test_validating_cold_verdict_needs_03_and_the_ratio_without_validation() -> None:
    rows = report.rows(_record(1500, 5000, 1600, 5000))  # 0.30 vs 0.32: kept
    assert _row(rows, "cold ratio validating / ratio without")["verdict"] == "PASS"
    assert _row(rows, "validation's CPU us per cold resolution")["rootwalk"] == 100.0
    assert _row(rows, "validation's CPU us per cold resolution")["unbound"] == 10.0
    rows = report.rows(_record(1500, 5000, 2500, 5000))  # 0.30 vs 0.50: validation costs more
    assert _row(rows, "cold ratio validating / ratio without")["verdict"] == "MISS"
    rows = report.rows(_record(1000, 5000, 1000, 5000))  # kept, but under 0.3
    assert _row(rows, "cold ratio validating / ratio without")["verdict"] == "MISS"


def test_do_rows_report_the_fast_path_share_and_the_diff() -> None:
    r: dict[str, Any] = {
        "rootwalk": {"rate_do": {"cpu_us_per_query": 18.0, "fast_share": 0.95}},
        "unbound": {"rate_do": {"cpu_us_per_query": 15.0}},
        "agree_do": {"questions": 10, "same": 9, "ad_a": 4, "ad_b": 4},
    }
    rows = report.rows(r)
    assert _row(rows, "  rootwalk answers from the fast path, DO=1")["verdict"] == "MISS"
    assert _row(rows, "  answers agree with Unbound, DO=1")["verdict"] == "MISS"
    r["rootwalk"]["rate_do"]["fast_share"] = 1.0
    r["agree_do"]["same"] = 10
    rows = report.rows(r)
    assert _row(rows, "  rootwalk answers from the fast path, DO=1")["verdict"] == "PASS"
    assert _row(rows, "  answers agree with Unbound, DO=1")["verdict"] == "PASS"


def test_agree_sees_a_missing_proof() -> None:
    a = agree.Summary("NOERROR", True, frozenset({"x a 1"}), True, frozenset({"*.w nsec"}))
    b = agree.Summary("NOERROR", True, frozenset({"x a 1"}), False)
    assert a != b
    # Which records make the proof may differ (an NSEC3 sent once or twice): not a difference.
    c = agree.Summary("NOERROR", True, frozenset({"x a 1"}), True, frozenset({"h1 nsec3"}))
    assert a == c
