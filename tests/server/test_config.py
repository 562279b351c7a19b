"""The [server] section, check-config, and configuration errors at start-up."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from rootwalk.config import Config, ServerConfig, load_config, parse_config, parse_listen
from rootwalk.errors import ConfigError

from .conftest import run_cli

FULL = """
[resolver]
qname_minimisation = false
upstream_port = 5353
upstream_allow = ["127.0.0.0/8"]
do_not_query_localhost = false

[cache]
max_entries = 1000

[limits]
total_timeout = 3.5

[server]
listen = ["127.0.0.1:5300", "[::1]:5300", "0.0.0.0:53"]
access_control = ["192.0.2.0/24 allow", "10.0.0.0/8 refuse", "203.0.113.0/24 deny"]
tcp_idle_timeout = 5
max_tcp_connections = 10
max_tcp_pipeline = 8
max_inflight = 100
edns_payload = 1400
query_log = true
log_level = "warning"
workers = 2
shutdown_timeout = 1.5
"""


def test_defaults() -> None:
    s = Config().server
    assert s.listen == ("127.0.0.1:53", "[::1]:53")
    assert s.access_control == () and s.query_log is False and s.workers == 1


def test_full_file(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(FULL)
    c = load_config(path)
    assert c.server.listen[1] == "[::1]:5300"
    assert c.server.tcp_idle_timeout == 5.0 and c.server.workers == 2
    assert c.resolver.qname_minimisation is False and c.limits.total_timeout == 3.5


def test_old_files_still_load() -> None:
    c = parse_config({"resolver": {"upstream_port": 53}, "cache": {}, "limits": {}})
    assert c.server == ServerConfig()


@pytest.mark.parametrize(
    ("server", "key"),
    [
        ({"listne": []}, "server.listne"),
        ({"listen": "127.0.0.1:53"}, "server.listen"),
        ({"listen": []}, "server.listen"),
        ({"listen": ["127.0.0.1"]}, "server.listen[0]"),
        ({"listen": ["::1:53"]}, "server.listen[0]"),
        ({"listen": ["[127.0.0.1]:53"]}, "server.listen[0]"),
        ({"listen": ["127.0.0.1:70000"]}, "server.listen[0]"),
        ({"listen": ["localhost:53"]}, "server.listen[0]"),
        ({"access_control": ["10.0.0.0/33 allow"]}, "server.access_control[0]"),
        ({"access_control": ["10.0.0.0/8 permit"]}, "server.access_control[0]"),
        ({"tcp_idle_timeout": "10"}, "server.tcp_idle_timeout"),
        ({"tcp_idle_timeout": 0}, "server.tcp_idle_timeout"),
        ({"max_tcp_connections": True}, "server.max_tcp_connections"),
        ({"query_log": "yes"}, "server.query_log"),
        ({"log_level": "loud"}, "server.log_level"),
        ({"workers": 0}, "server.workers"),
        ({"edns_payload": 100}, "server.edns_payload"),
        ({"event_loop": "trio"}, "server.event_loop"),
    ],
)
def test_errors_name_the_key(server: dict[str, object], key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"server": server}, source="f.toml")
    msg = str(err.value)
    assert f"'{key}'" in msg and "\n" not in msg and msg.startswith("f.toml: ")


def test_uvloop_demanded_but_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "uvloop" else real(name, *a)
    )
    with pytest.raises(ConfigError, match="'server.event_loop' is \"uvloop\" but uvloop is not"):
        parse_config({"server": {"event_loop": "uvloop"}}, source="f.toml")
    assert parse_config({"server": {"event_loop": "auto"}}).server.event_loop == "auto"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.1:53", ("127.0.0.1", 53)),
        ("[::1]:5300", ("::1", 5300)),
        ("0.0.0.0:0", ("0.0.0.0", 0)),
        ("[fe80::1%eth0]:53", ("fe80::1%eth0", 53)),
    ],
)
def test_parse_listen(text: str, expected: tuple[str, int]) -> None:
    assert parse_listen(text) == expected


def test_check_config_ok(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(FULL)
    p = run_cli(["check-config", str(path)])
    assert (p.returncode, p.stdout.strip(), p.stderr) == (0, "ok", "")


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("[server]\nlisten = ['127.0.0.1:53']\nbogus = 1\n", "'server.bogus'"),
        ("[server]\nmax_tcp_connections = 'many'\n", "'server.max_tcp_connections'"),
        ("[server]\naccess_control = ['10.0.0.0/40 allow']\n", "'server.access_control[0]'"),
        ("[server\n", "not valid TOML"),
        ("[resolver]\nroot_hints = '/nonexistent/root.hints'\n", "'resolver.root_hints'"),
    ],
)
def test_check_config_errors(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "r.toml"
    path.write_text(text)
    p = run_cli(["check-config", str(path)])
    assert p.returncode == 2 and p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], p.stderr


def test_check_config_missing_file(tmp_path: Path) -> None:
    p = run_cli(["check-config", str(tmp_path / "absent.toml")])
    assert p.returncode == 2 and len(p.stderr.strip().splitlines()) == 1


def test_serve_with_bad_config_exits_2_before_binding(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text("[server]\nlisten = ['127.0.0.1:0']\nworkrs = 2\n")
    p = run_cli(["serve", "--config", str(path)])
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and "'server.workrs'" in lines[0]
    assert "listening" not in p.stderr


@pytest.mark.parametrize(
    "args",
    [["--listen", "127.0.0.1"], ["--listen", "[::1]53"], ["--upstream-port", "0"]],
)
def test_serve_with_bad_flags_exits_2(args: list[str]) -> None:
    p = run_cli(["serve", *args])
    assert p.returncode == 2
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr


def test_every_key_is_documented() -> None:
    import dataclasses

    doc = (Path(__file__).parents[2] / "docs" / "configuration.md").read_text()
    for section in dataclasses.fields(Config):
        assert f"[{section.name}]" in doc
        cls = type(getattr(Config(), section.name))
        for f in dataclasses.fields(cls):
            assert f"`{f.name}`" in doc, f"{section.name}.{f.name} is not in configuration.md"
