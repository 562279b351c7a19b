"""docs/nameserver.md stays true: its TOML blocks pass check-config and serve with them.

Each ```toml block is a configuration a reader will copy. It must pass ``rootwalk
check-config`` as written (with /etc/rootwalk/ mapped into a temporary directory holding the
files the page shows, such as the blocklist), and ``rootwalk serve`` must start with it on
loopback and answer as the page says: the router of the page is a second ``rootwalk serve``
answering the LAN's names, and the blocklist blocks its names. Upstream traffic goes to the
lab only (its root hints and ``upstream_allow = 127.0.0.0/8`` are added).
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import dns.rcode
import pytest

from rootwalk.lab import Lab

from .conftest import ServeProcess, ask, run_cli, start_server

ROOT_DIR = Path(__file__).resolve().parents[2]

DOC = ROOT_DIR / "docs" / "nameserver.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.M | re.S)
ETC = "/etc/rootwalk/"
ROUTER = "192.168.1.1"
ROUTER_DATA = """
local_zone = ["lan static", "home.arpa static", "1.168.192.in-addr.arpa static"]
local_data = ["nas.lan A 192.168.1.10", "printer.home.arpa A 192.168.1.20"]
"""


def blocks(kind: str) -> list[str]:
    return [body for lang, body in FENCE.findall(DOC.read_text(encoding="utf-8")) if lang == kind]


def etc_files(tmp: Path) -> None:
    """The files the page shows with a ``# /etc/rootwalk/NAME`` first line, into ``tmp``."""
    for body in blocks("text"):
        first, _, rest = body.partition("\n")
        if first.startswith(f"# {ETC}"):
            (tmp / first[len(f"# {ETC}") :]).write_text(rest)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }"
    raise TypeError(value)


def toml_text(data: dict[str, dict[str, Any]]) -> str:
    return "".join(
        f"[{section}]\n" + "".join(f"{k} = {toml_value(v)}\n" for k, v in table.items())
        for section, table in data.items()
    )


def on_loopback(block: str, tmp: Path, lab: Lab, router: tuple[str, int]) -> dict[str, Any]:
    """The block, with what cannot be used here replaced: listen, the router, the root."""
    data: dict[str, Any] = tomllib.loads(block.replace(ETC, f"{tmp}/"))
    server = data.setdefault("server", {})
    server["listen"] = ["127.0.0.1:0"]
    resolver = data.setdefault("resolver", {})
    resolver.update(
        root_hints=str(lab.root_hints_path),
        upstream_port=lab.port,
        upstream_allow=["127.0.0.0/8"],
        do_not_query_localhost=False,  # the lab's servers live on 127.x
    )
    data.setdefault("dnssec", {})["trust_anchor_file"] = str(lab.trust_anchor_path)
    for zone in resolver.get("forward_zones", []):
        assert zone["addresses"] == [ROUTER], zone  # the page's router, and only it
        zone["addresses"] = [f"{router[0]}@{router[1]}"]
    return data


def test_the_page_has_the_configurations_it_promises() -> None:
    """The step-by-step needs these: guard against a rewrite dropping one."""
    text = "\n".join(blocks("toml"))
    for needed in ("listen", "access_control", "blocklists", "forward_zones", "home.arpa"):
        assert needed in text, needed
    assert any(b.startswith(f"# {ETC}blocklist") for b in blocks("text"))


@pytest.mark.parametrize("index", range(len(blocks("toml"))))
def test_toml_block_checks_and_serves(lab: Lab, tmp_path: Path, index: int) -> None:
    block = blocks("toml")[index]
    etc_files(tmp_path)
    as_written = tmp_path / "as-written.toml"
    as_written.write_text(block.replace(ETC, f"{tmp_path}/"))
    p = run_cli(["check-config", str(as_written)])
    assert p.returncode == 0 and p.stdout == "ok\n", (block, p.stderr)

    router = start_server(lab, tmp_path, ROUTER_DATA, listen=["127.0.0.1:0"])
    data = on_loopback(block, tmp_path, lab, router.addresses[0])
    path = tmp_path / "loopback.toml"
    path.write_text(toml_text(data))
    proc = ServeProcess(["serve", "--config", str(path)])
    try:
        (where,) = proc.wait_listening(1)
        assert ask(where, "www.example.com").answer  # resolved through the lab's root
        zones = {z["name"] for z in data["resolver"].get("forward_zones", [])}
        if "lan" in zones:
            r = ask(where, "nas.lan")
            assert [rd.address for rd in r.answer[0]] == ["192.168.1.10"], r
        if "home.arpa" in zones:
            r = ask(where, "printer.home.arpa")
            assert [rd.address for rd in r.answer[0]] == ["192.168.1.20"], r
        for blocklist in data["server"].get("blocklists", []):
            for line in Path(blocklist).read_text().splitlines():
                if line and not line.startswith("#"):
                    name = line.split()[-1]
                    assert ask(where, name).rcode() == dns.rcode.NXDOMAIN, name
                    assert ask(where, f"www.{name}").rcode() == dns.rcode.NXDOMAIN, name
    finally:
        rc = proc.stop()
        router.stop()
    assert rc == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def test_systemd_unit_matches_the_documented_install() -> None:
    unit = (ROOT_DIR / "contrib" / "rootwalk.service").read_text(encoding="utf-8")
    doc = DOC.read_text(encoding="utf-8")
    execs = re.findall(r"^Exec\w+=(\S+)", unit, re.M)
    binaries = {e for e in execs if "rootwalk" in e}
    assert binaries == {"/opt/rootwalk/bin/rootwalk"}
    assert "python3 -m venv /opt/rootwalk" in doc and "/opt/rootwalk/bin/pip install" in doc
    docs_dir = re.search(r"^Documentation=file://(/\S+)/nameserver\.md$", unit, re.M)
    assert docs_dir is not None and f"install -d {docs_dir.group(1)}" in doc
    # Exit status 2 (configuration or address) is final; serve checks before binding, so no
    # ExecStartPre (whose failure systemd would restart) is needed.
    assert re.search(r"^RestartPreventExitStatus=2$", unit, re.M)
    assert not re.search(r"^ExecStartPre=", unit, re.M)
