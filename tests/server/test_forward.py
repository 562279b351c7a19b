"""``resolver.forward_zones`` through ``rootwalk serve``: start, answer and reload.

The "router" is a second ``rootwalk serve`` answering ``home.arpa`` and ``lan`` from local data,
as a home router's DNS server would; the server under test forwards those zones to it. Both
are real processes on loopback, asked over real sockets.
"""

from __future__ import annotations

import signal
from pathlib import Path

import dns.rcode
import pytest

from rootwalk.config import Config, ForwardZone, ResolverConfig, ServerConfig
from rootwalk.lab import Lab
from rootwalk.server.cli import _as_dict, config_from_args

from .conftest import ServeProcess, ask, start_server

ROUTER_DATA = """
local_zone = ["home.arpa static", "lan static"]
local_data = ["nas.home.arpa A 192.168.1.10", "printer.lan A 192.168.1.20"]
query_log = true
"""


def forwarding_config(lab: Lab, zones: list[tuple[str, str]]) -> str:
    table = ", ".join(f'{{ name = "{name}", addresses = ["{addr}"] }}' for name, addr in zones)
    return f"""
[resolver]
root_hints = "{lab.root_hints_path}"
upstream_port = {lab.port}
upstream_allow = ["127.0.0.0/8"]
# The lab's root is on loopback: validation asks it for the DS of each forward zone's apex.
do_not_query_localhost = false
forward_zones = [{table}]

[dnssec]
trust_anchor_file = "{lab.trust_anchor_path}"

[limits]
total_timeout = 4.0

[server]
listen = ["127.0.0.1:0"]
"""


def test_serve_answers_and_reloads_forward_zones(lab: Lab, tmp_path: Path) -> None:
    router = start_server(lab, tmp_path, ROUTER_DATA, listen=["127.0.0.1:0"])
    host, port = router.addresses[0]
    path = tmp_path / "fwd.toml"
    path.write_text(forwarding_config(lab, [("home.arpa", f"{host}@{port}")]))
    proc = ServeProcess(["serve", "--config", str(path)])
    try:
        (where,) = proc.wait_listening(1)
        r = ask(where, "nas.home.arpa")
        assert r.rcode() == dns.rcode.NOERROR, r
        assert [rd.address for rd in r.answer[0]] == ["192.168.1.10"]
        # It came from the router (the lab's root would say NXDOMAIN for home.arpa).
        router.wait_for(r"query 127\.0\.0\.1:\d+ udp nas\.home\.arpa\. A NOERROR")
        # SIGHUP with a second forward zone: the reload re-validates the forward zones.
        path.write_text(
            forwarding_config(lab, [("home.arpa", f"{host}@{port}"), ("lan", f"{host}@{port}")])
        )
        proc.signal(signal.SIGHUP)
        proc.wait_for("configuration reloaded")
        assert proc.find("reload failed") is None, proc.stderr
        r = ask(where, "printer.lan")
        assert [rd.address for rd in r.answer[0]] == ["192.168.1.20"], r
        router.wait_for(r"query 127\.0\.0\.1:\d+ udp printer\.lan\. A NOERROR")
        r = ask(where, "nas.home.arpa", "AAAA")
        assert r.rcode() == dns.rcode.NOERROR and not r.answer  # NODATA from the router
    finally:
        rc = proc.stop()
        router.stop()
    assert rc == 0, proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize("flags", [[], ["--listen", "127.0.0.1:0", "--query-log"]])
def test_command_line_overrides_keep_every_setting(tmp_path: Path, flags: list[str]) -> None:
    """The flags are applied by a round trip through the validator: nothing may be lost."""
    import argparse

    from rootwalk.cli import build_parser

    path = tmp_path / "all.toml"
    path.write_text(
        """
[resolver]
forward_zones = [{ name = "corp.example", addresses = ["10.0.0.53", "10.0.0.54@5353"] },
                 { name = "home.arpa", addresses = ["192.168.1.1"] }]
upstream_allow = ["127.0.0.0/8"]
[server]
listen = ["127.0.0.1:5300"]
access_control = ["198.51.100.0/24 allow"]
local_zone = ["home.arpa transparent"]
blocklists = ["/nonexistent/list"]
"""
    )
    args: argparse.Namespace = build_parser().parse_args(["serve", "--config", str(path), *flags])
    config = config_from_args(args)
    assert config.resolver.forward_zones == (
        ForwardZone("corp.example", ("10.0.0.53", "10.0.0.54@5353")),
        ForwardZone("home.arpa", ("192.168.1.1",)),
    )
    assert config.server.blocklists == ("/nonexistent/list",)
    assert config.resolver.upstream_allow == ("127.0.0.0/8",)
    if flags:
        assert config.server.listen == ("127.0.0.1:0",) and config.server.query_log


def test_as_dict_round_trips_a_config() -> None:
    config = Config(
        resolver=ResolverConfig(forward_zones=(ForwardZone("lan", ("192.168.1.1@53",)),)),
        server=ServerConfig(blocklists=("/a",), local_data=("x.lan A 10.0.0.1",)),
    )
    from rootwalk.config import parse_config

    assert parse_config(_as_dict(config)) == config
