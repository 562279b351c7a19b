"""rootwalk as a machine's nameserver: the C library's stub resolver asks it.

In a private mount namespace (``unshare --mount``) a temporary resolv.conf naming rootwalk is
bind-mounted over /etc/resolv.conf (and an nsswitch.conf with ``hosts: files dns`` over
/etc/nsswitch.conf), so ``getent ahosts`` and Python's ``socket.getaddrinfo`` in that
namespace resolve through rootwalk, which resolves through the lab. resolv.conf cannot carry
a port, so rootwalk listens on port 53 of the lab's reserved resolver address (127.A.0.1).
Nothing outside the namespace sees the change.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rootwalk.lab import Lab

from .conftest import ServeProcess, lab_config

PROBE = """
import socket
v4 = sorted({a[4][0] for a in socket.getaddrinfo("www.example.com", 80, socket.AF_INET)})
v6 = sorted({a[4][0] for a in socket.getaddrinfo("alias.example.com", 80, socket.AF_INET6)})
print("v4", *v4)
print("v6", *v6)
try:
    socket.getaddrinfo("nonexistent.example.com", 80)
except socket.gaierror as exc:
    print("nx", exc.errno == socket.EAI_NONAME)
"""


def _namespaces_allowed() -> str | None:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "unshare/mount (util-linux) not installed"
    if shutil.which("getent") is None:
        return "getent not installed"
    p = subprocess.run(
        ["unshare", "--mount", "--propagation", "private", "true"],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    if p.returncode != 0:
        return f"cannot create a mount namespace here: {p.stderr.strip()}"
    return None


def test_machine_nameserver(lab: Lab, tmp_path: Path) -> None:
    why = _namespaces_allowed()
    if why is not None:
        pytest.skip(why)
    address = lab.addr(1)  # the lab leaves 127.A.0.1 to the resolver under test
    config = tmp_path / "rootwalk.toml"
    config.write_text(lab_config(lab, "query_log = true\n", [f"{address}:53"]))
    proc = ServeProcess(["serve", "--config", str(config)])
    try:
        try:
            proc.wait_listening(1)
        except AssertionError:
            if proc.proc.poll() == 2:
                pytest.skip(f"cannot bind {address}:53 here: {proc.stderr.strip()}")
            raise
        resolv = tmp_path / "resolv.conf"
        resolv.write_text(f"nameserver {address}\noptions timeout:2 attempts:2\n")
        nss = tmp_path / "nsswitch.conf"
        nss.write_text("hosts: files dns\n")
        probe = tmp_path / "probe.py"
        probe.write_text(PROBE)
        script = (
            f"mount --bind {resolv} /etc/resolv.conf && "
            f"mount --bind {nss} /etc/nsswitch.conf && "
            "getent ahosts www.example.com && "
            f"{sys.executable} {probe}"
        )
        p = subprocess.run(
            ["unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert p.returncode == 0, p.stderr
        assert "192.0.2.1" in p.stdout  # getent ahosts
        assert "v4 192.0.2.1" in p.stdout
        assert "v6 2001:db8::1" in p.stdout
        assert "nx True" in p.stdout
        # And it really was rootwalk that answered them.
        proc.wait_for(r"query 127\.[\d.]+:\d+ udp www\.example\.com\. A NOERROR")
    finally:
        assert proc.stop() == 0
    assert "Traceback" not in proc.stderr
