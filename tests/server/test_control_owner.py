"""One server per control socket: a second instance refuses to start and the first keeps its
socket; a stale socket is replaced; a server never removes a socket it did not create."""

from __future__ import annotations

import socket
from pathlib import Path

from rootwalk.lab import Lab

from .conftest import ServeProcess, lab_config, run_cli, start_server


def ctl_ok(sock: Path) -> bool:
    return run_cli(["ctl", "--socket", str(sock), "stats"]).returncode == 0


def test_second_instance_refuses_and_first_keeps_its_socket(lab: Lab, tmp_path: Path) -> None:
    sock = tmp_path / "ctl.sock"
    first = start_server(lab, tmp_path, f'control_socket = "{sock}"\n', listen=["127.0.0.1:0"])
    try:
        assert ctl_ok(sock)
        # A second server, other DNS port, same control socket: it must not start.
        conf = tmp_path / "second.toml"
        conf.write_text(lab_config(lab, f'control_socket = "{sock}"\n', ["127.0.0.1:0"]))
        second = ServeProcess(["serve", "--config", str(conf)])
        second.proc.wait(20)
        assert second.stop() == 2
        assert second.lines == [
            f"rootwalk: control socket {sock} is in use by another rootwalk "
            f"(pid {first.proc.pid}); stop it first, or give this one another "
            "server.control_socket"
        ]
        # The first one's socket is still there and still answers.
        assert sock.is_socket() and ctl_ok(sock)
    finally:
        assert first.stop() == 0, first.stderr
    assert not sock.exists()  # removed by its owner on exit


def test_stale_socket_is_replaced(lab: Lab, tmp_path: Path) -> None:
    sock = tmp_path / "ctl.sock"
    # A socket file nobody listens on, as a crashed server leaves behind.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(sock))
    assert sock.is_socket()
    proc = start_server(lab, tmp_path, f'control_socket = "{sock}"\n', listen=["127.0.0.1:0"])
    try:
        assert ctl_ok(sock)
    finally:
        assert proc.stop() == 0, proc.stderr


def test_never_removes_a_socket_it_does_not_own(lab: Lab, tmp_path: Path) -> None:
    sock = tmp_path / "ctl.sock"
    proc = start_server(lab, tmp_path, f'control_socket = "{sock}"\n', listen=["127.0.0.1:0"])
    other = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        # Someone else now has a socket at that path (the server's file was removed).
        sock.unlink()
        other.bind(str(sock))
        other.listen(1)
    finally:
        assert proc.stop() == 0, proc.stderr
    try:
        assert sock.is_socket()  # the stopped server left the other's socket alone
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.connect(str(sock))
    finally:
        other.close()


def test_not_a_socket_in_the_way(tmp_path: Path) -> None:
    path = tmp_path / "ctl.sock"
    path.write_text("precious\n")
    conf = tmp_path / "r.toml"
    conf.write_text(f'[server]\nlisten = ["127.0.0.1:0"]\ncontrol_socket = "{path}"\n')
    r = run_cli(["serve", "--config", str(conf)])
    assert r.returncode == 2 and r.stderr.count("\n") == 1
    assert "is not a socket" in r.stderr and path.read_text() == "precious\n"
