"""A LAN nameserver's bad days: IPv4-only hosts, addresses not up yet at boot (freebind).

Everything is served and asked on loopback; the TEST-NET / documentation addresses below are
only ever bound (freebind), never sent to.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import socket
import threading
from pathlib import Path

import dns.message
import dns.query
import dns.rcode
import pytest

from .conftest import HAVE_IPV6, ServeProcess, run_cli

_CLONE_NEWNET = 0x40000000


def _can_unshare() -> str | None:
    """Why a network namespace test cannot run here, or None."""
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        return "unshare(1) or ip(8) not installed"
    if os.geteuid() != 0:
        return "needs root for a network namespace and port 53"
    probe = run_argv(["unshare", "--net", "true"])
    if probe != 0:
        return "unshare --net is not permitted here"
    return None


def run_argv(argv: list[str]) -> int:
    import subprocess

    return subprocess.run(argv, capture_output=True, timeout=10, check=False).returncode


def _socket_in_netns(pid: int, kind: socket.SocketKind) -> socket.socket:
    """A socket created inside the network namespace of process ``pid``.

    A socket belongs to the namespace it was created in, so a helper thread joins the
    namespace (setns affects only the calling thread), creates it and ends."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY)
    out: list[socket.socket | BaseException] = []

    def make() -> None:
        try:
            if libc.setns(fd, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
            out.append(socket.socket(socket.AF_INET, kind))
        except BaseException as exc:
            out.append(exc)

    t = threading.Thread(target=make)
    t.start()
    t.join()
    os.close(fd)
    result = out[0]
    if isinstance(result, BaseException):
        raise result
    return result


# In a fresh namespace: loopback up with IPv6 off, so [::1] does not exist; then rootwalk.
_NO_IPV6 = [
    "unshare",
    "--net",
    "sh",
    "-c",
    "echo 1 > /proc/sys/net/ipv6/conf/all/disable_ipv6 && "
    "echo 1 > /proc/sys/net/ipv6/conf/default/disable_ipv6 && "
    "echo 1 > /proc/sys/net/ipv6/conf/lo/disable_ipv6 && "
    'ip link set lo up && exec "$0" "$@"',
]


def test_default_listen_starts_without_ipv6(tmp_path: Path) -> None:
    why = _can_unshare()
    if why is not None:
        pytest.skip(why)
    conf = tmp_path / "rootwalk.toml"
    # No listen key: the built-in default 127.0.0.1:53 and [::1]:53.
    conf.write_text('[server]\nlocal_data = ["nas.home.arpa A 192.168.1.10"]\n')
    proc = ServeProcess(["serve", "--config", str(conf)], prefix=_NO_IPV6)
    try:
        proc.wait_for(r"listening on 127\.0\.0\.1:53 \(udp, tcp\)")
        warning = proc.find(r"not listening on \[::1\]:53: .*")
        assert warning is not None, proc.stderr
        assert "WARNING" in warning.string
        with _socket_in_netns(proc.proc.pid, socket.SOCK_DGRAM) as s:
            q = dns.message.make_query("nas.home.arpa", "A")
            r, _ = dns.query.udp_with_fallback(q, "127.0.0.1", port=53, timeout=5, udp_sock=s)
        assert r.rcode() == dns.rcode.NOERROR
        assert r.answer[0][0].address == "192.168.1.10"
    finally:
        rc = proc.stop()
    assert rc == 0, proc.stderr
    assert proc.find(r": listening on \[::1\]") is None, proc.stderr


def test_configured_ipv6_without_ipv6_is_an_error(tmp_path: Path) -> None:
    why = _can_unshare()
    if why is not None:
        pytest.skip(why)
    conf = tmp_path / "rootwalk.toml"
    # Written out by the operator (not the default): must be bound or refused.
    conf.write_text('[server]\nlisten = ["127.0.0.1:5300", "[::1]:5300"]\n')
    proc = ServeProcess(["serve", "--config", str(conf)], prefix=_NO_IPV6)
    proc.proc.wait(20)
    assert proc.stop() == 2, proc.stderr
    assert proc.lines == [
        "rootwalk: cannot listen on [::1]:5300 (udp): ::1 is not an address of this machine; "
        "choose another address or port, e.g. --listen 127.0.0.1:5300"
    ]


def test_freebind_binds_an_address_not_on_any_interface(tmp_path: Path) -> None:
    # 192.0.2.1 (TEST-NET-1, RFC 5737) is on no interface here; it is bound, never sent to.
    conf = tmp_path / "rootwalk.toml"
    listen = '"127.0.0.1:0", "192.0.2.1:0"' + (', "[2001:db8::53]:0"' if HAVE_IPV6 else "")
    conf.write_text(f"[server]\nlisten = [{listen}]\n")
    r = run_cli(["serve", "--config", str(conf)])
    assert r.returncode == 2
    assert r.stderr.splitlines() == [
        "rootwalk: cannot listen on 192.0.2.1:0 (udp): 192.0.2.1 is not an address of this "
        "machine; choose another address or port, e.g. --listen 127.0.0.1:5300"
    ]
    conf.write_text(f"[server]\nlisten = [{listen}]\nfreebind = true\n")
    assert run_cli(["check-config", str(conf)]).stdout == "ok\n"
    proc = ServeProcess(["serve", "--config", str(conf)])
    try:
        addrs = proc.wait_listening(3 if HAVE_IPV6 else 2)
        assert [a[0] for a in addrs][1:] == ["192.0.2.1"] + (["2001:db8::53"] if HAVE_IPV6 else [])
        # The loopback listener serves as usual.
        q = dns.message.make_query("version.bind", "TXT", rdclass="CH")
        r = dns.query.udp(q, "127.0.0.1", port=addrs[0][1], timeout=5)
        assert r.rcode() == dns.rcode.REFUSED
    finally:
        assert proc.stop() == 0, proc.stderr
