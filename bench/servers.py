"""The long-running processes: the lab (Python or NSD), rootwalk and Unbound."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from bench import nsdlab
from bench.procs import Proc, ProcError, cpu_seconds

READY_TIMEOUT = 60.0


@dataclass
class Setup:
    net: str  # "127.A"
    domains: int
    workdir: Path
    rootwalk_port: int
    unbound_port: int
    hints: Path | None = None
    anchor: Path | None = None
    """The lab's DNSSEC trust anchor file (its keys are made when the lab starts)."""
    signed_cold: Path | None = None
    """Never-seen secure questions for the cold rows (``queries.signed_cold_names``)."""

    @property
    def address(self) -> str:
        return f"{self.net}.0.1"


class PythonLab:
    """``rootwalk lab up``: one process (its servers share one event loop in one thread)."""

    def __init__(self, proc: Proc) -> None:
        self.proc = proc

    def pids(self) -> list[int]:
        return [self.proc.pid]

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)

    def stop(self) -> None:
        self.proc.stop()


Lab = PythonLab | nsdlab.NsdLab


def start_lab(s: Setup, kind: str, tools: dict[str, str]) -> Lab:
    """The lab on ``127.A.x.x`` port 53 (Unbound only queries port 53); sets ``s.hints``."""
    if kind == "nsd":
        lab = nsdlab.start(s.net, s.domains, s.workdir / "nsd", tools["nsd"])
        s.hints = lab.hints
        s.anchor = lab.anchor
        return lab
    return PythonLab(start_python_lab(s))


def start_python_lab(s: Setup) -> Proc:
    """``rootwalk lab up`` in its own process, on port 53 (Unbound only queries port 53)."""
    argv = [sys.executable, "-m", "rootwalk", "lab", "up", "--domains", str(s.domains)]
    argv += ["--port", "53", "--net", s.net]
    p = Proc("lab", argv, s.workdir / "lab.log")
    try:
        p.wait_for(r"Ctrl-C to stop", READY_TIMEOUT)
        hints = [x.split(": ", 1)[1] for x in p.seen if x.startswith("root hints: ")]
        anchor = [x.split(": ", 1)[1] for x in p.seen if x.startswith("trust anchor: ")]
        if not hints or not anchor:
            raise ProcError("lab: no 'root hints: FILE' or 'trust anchor: FILE' line")
    except BaseException:
        p.stop()
        raise
    s.hints = Path(hints[0].strip())
    s.anchor = Path(anchor[0].strip())
    return p


def rootwalk_config(s: Setup, validate: bool = True) -> Path:
    """rootwalk's config; ``validate`` False turns DNSSEC validation off ([dnssec] enabled)."""
    path = s.workdir / ("rootwalk.toml" if validate else "rootwalk-novalidate.toml")
    if not validate:
        dnssec = "\n[dnssec]\nenabled = false\n"
    elif s.anchor:
        dnssec = f'\n[dnssec]\ntrust_anchor_file = "{s.anchor}"\n'
    else:
        dnssec = ""
    path.write_text(
        "[server]\n"
        "access_control = []\n"
        "# its own control socket (ctl stats), not the host's run directory\n"
        f'control_socket = "{control_socket(s, validate)}"\n'
        "\n"
        "[resolver]\n"
        'upstream_allow = ["127.0.0.0/8"]\n'
        "do_not_query_localhost = false\n"
        "qname_minimisation = true\n"
        "ipv6 = false\n"
        "\n"
        "[cache]\n"
        "# room for the memory scenario's ~100,000 RRsets plus delegations, without eviction\n"
        "max_entries = 1000000\n"
        "max_ttl = 86400\n" + dnssec,
        encoding="utf-8",
    )
    return path


def control_socket(s: Setup, validate: bool = True) -> Path:
    return s.workdir / ("rootwalk.sock" if validate else "rootwalk-novalidate.sock")


def rootwalk_stats(s: Setup, validate: bool = True) -> dict[str, int]:
    """``rootwalk ctl stats`` of the running server of that config ({} if it fails)."""
    argv = [sys.executable, "-m", "rootwalk", "ctl", "--socket", str(control_socket(s, validate))]
    try:
        r = subprocess.run(argv + ["stats"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return {}
    out: dict[str, int] = {}
    for line in r.stdout.splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            out[key] = int(value)
    return out


def start_rootwalk(s: Setup, workers: int = 1, tag: str = "", validate: bool = True) -> Proc:
    assert s.hints is not None
    argv = [sys.executable, "-m", "rootwalk", "serve"]
    argv += ["--listen", f"{s.address}:{s.rootwalk_port}", "--root-hints", str(s.hints)]
    argv += ["--upstream-port", "53", "--config", str(rootwalk_config(s, validate))]
    argv += ["--workers", str(workers)]
    p = Proc("rootwalk", argv, s.workdir / f"rootwalk{tag}.log")
    try:
        p.wait_for(r"listening on \S+ \(udp, tcp\)", READY_TIMEOUT)
    except BaseException:
        p.stop()
        raise
    return p


def start_floor(s: Setup, port: int) -> Proc:
    """bench/floor.py: the cheapest a Python UDP server can answer (see its docstring)."""
    argv = [sys.executable, "-m", "bench.floor", s.address, str(port)]
    p = Proc("floor", argv, s.workdir / "floor.log")
    try:
        p.wait_for(r"listening on ", READY_TIMEOUT)
    except BaseException:
        p.stop()
        raise
    return p


def unbound_config(s: Setup, validate: bool = True) -> Path:
    """Unbound's config; with ``validate`` (and a lab anchor) its validator module runs.

    The anchor file holds DS lines for the lab root and for island.test (an island below
    the unsigned test.); Unbound reads both from one ``trust-anchor-file``. Without an anchor
    (the Python lab's older runs) or with ``validate`` False it is the iterator alone.
    """
    assert s.hints is not None
    path = s.workdir / ("unbound.conf" if validate else "unbound-novalidate.conf")
    if validate and s.anchor is not None:
        dnssec = f'module-config: "validator iterator"\n    trust-anchor-file: "{s.anchor}"'
    else:
        dnssec = 'module-config: "iterator"'
    path.write_text(
        f"""server:
    interface: {s.address}@{s.unbound_port}
    port: {s.unbound_port}
    num-threads: 1
    do-not-query-localhost: no
    root-hints: "{s.hints}"
    {dnssec}
    # Unbound answers some special-use names itself (static local zones, NXDOMAIN with AA):
    # test. (RFC 6761 section 6.2) and 192.0.2.0/24's reverse (TEST-NET-1, RFC 5737). The
    # lab delegates test. (partlame.test, island.test) and serves 1.2.0.192.in-addr.arpa
    # in arpa., so hand those names back to the iterator as rootwalk does.
    local-zone: "test." nodefault
    local-zone: "2.0.192.in-addr.arpa." nodefault
    access-control: 127.0.0.0/8 allow
    chroot: ""
    username: ""
    directory: "{s.workdir}"
    use-syslog: no
    logfile: ""
    pidfile: ""
    verbosity: 1
    qname-minimisation: yes
    cache-max-ttl: 86400
    do-ip6: no
    # room for the memory scenario's ~100,000 RRsets without eviction (defaults: 4m/8m)
    msg-cache-size: 256m
    rrset-cache-size: 512m
remote-control:
    control-enable: no
""",
        encoding="utf-8",
    )
    return path


def start_unbound(s: Setup, tools: dict[str, str], tag: str = "", validate: bool = True) -> Proc:
    conf = unbound_config(s, validate)
    check = subprocess.run(
        [tools["unbound-checkconf"], str(conf)], capture_output=True, text=True, timeout=60
    )
    if check.returncode != 0:
        raise ProcError(f"unbound-checkconf {conf}: {check.stdout}{check.stderr}")
    p = Proc("unbound", [tools["unbound"], "-d", "-c", str(conf)], s.workdir / f"unbound{tag}.log")
    try:
        p.wait_for(r"start of service", READY_TIMEOUT)
    except BaseException:
        p.stop()
        raise
    return p
