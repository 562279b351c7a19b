"""``rootwalk serve``'s own command line: ``-v`` after the sub-command, default paths."""

from __future__ import annotations

from pathlib import Path

from rootwalk.lab import Lab
from rootwalk.paths import (
    ENV_CONFIG,
    ENV_RUNTIME_DIR,
    default_config_path,
    default_control_socket,
    runtime_dir,
)

from .conftest import ServeProcess, ask, lab_config, run_cli, start_server


def test_serve_accepts_verbose_after_the_subcommand(lab: Lab, tmp_path: Path) -> None:
    # log_level "warning" would hide the engine's debug lines; -vv after `serve` shows them.
    proc = start_server(
        lab, tmp_path, 'log_level = "warning"\n', args=["-vv"], listen=["127.0.0.1:0"]
    )
    try:
        assert ask(proc.addresses[0], "www.example.com").answer
        proc.wait_for(r" DEBUG rootwalk\.")
    finally:
        assert proc.stop() == 0


# -- default configuration file and control socket ----------------------------------------


def test_default_config_file_and_control_socket(lab: Lab, tmp_path: Path) -> None:
    """No --config, no --socket: serve reads the default file, ctl finds the default socket."""
    config = tmp_path / "etc-rootwalk.toml"
    config.write_text(lab_config(lab, "query_log = true\n", ["127.0.0.1:0"]))
    run_dir = tmp_path / "run"  # created by serve, as /run/rootwalk would be
    env = {ENV_CONFIG: str(config), ENV_RUNTIME_DIR: str(run_dir)}
    proc = ServeProcess(["serve"], env=env)
    try:
        (where,) = proc.wait_listening(1)
        assert ask(where, "www.example.com").answer  # the lab's root hints: the file was read
        sock = run_dir / "control.sock"
        assert sock.is_socket() and (sock.stat().st_mode & 0o777) == 0o600
        p = run_cli(["ctl", "stats"], env=env)
        assert p.returncode == 0 and "queries_udp 1" in p.stdout.splitlines(), p.stderr
        p = run_cli(["ctl", "reload"], env=env)
        assert p.returncode == 0 and f"reloaded from {config}" in p.stdout
        assert "warning" not in p.stdout  # the default socket did not "change" on reload
        p = run_cli(["check-config"], env=env)
        assert p.returncode == 0 and p.stdout == "ok\n", p.stderr
        # A second server while the first holds the default socket: it starts, without one.
        other = ServeProcess(["serve", "--listen", "127.0.0.1:0"], env=env)
        try:
            other.wait_listening(1)
            assert other.find(f"no control socket: {sock} is in use by another server")
        finally:
            assert other.stop() == 0
        assert run_cli(["ctl", "stats"], env=env).returncode == 0  # still the first one's
    finally:
        assert proc.stop() == 0
    assert not sock.exists()
    assert "Traceback" not in proc.stderr


def test_absent_default_file_means_built_in_defaults(tmp_path: Path) -> None:
    env = {ENV_CONFIG: str(tmp_path / "absent.toml"), ENV_RUNTIME_DIR: str(tmp_path)}
    proc = ServeProcess(["serve", "--listen", "127.0.0.1:0"], env=env)
    try:
        proc.wait_listening(1)
        assert (tmp_path / "control.sock").is_socket()
    finally:
        assert proc.stop() == 0
    # Asked for explicitly, a missing file is an error: one line naming it, status 2.
    for args in (["serve", "--config", str(tmp_path / "absent.toml")], ["check-config"]):
        p = run_cli(args, env=env)
        assert p.returncode == 2, p.stderr
        assert (
            p.stderr
            == f"rootwalk: {tmp_path / 'absent.toml'}: cannot read: No such file or directory\n"
        )


def test_control_socket_off_and_flag(lab: Lab, tmp_path: Path) -> None:
    env = {ENV_RUNTIME_DIR: str(tmp_path / "run")}
    proc = start_server(lab, tmp_path, 'control_socket = "off"\n', listen=["127.0.0.1:0"])
    try:
        p = run_cli(["ctl", "--config", str(proc.config_path), "stats"], env=env)
        assert p.returncode == 2 and "the control socket is off in" in p.stderr
        assert not (proc.run_dir / "control.sock").exists()
        assert proc.find(r"rootwalk\.server: control socket ") is None, proc.stderr
    finally:
        assert proc.stop() == 0
    flag = tmp_path / "flag.sock"
    proc = start_server(lab, tmp_path, args=["--control-socket", str(flag)], listen=["127.0.0.1:0"])
    try:
        assert flag.is_socket() and not (proc.run_dir / "control.sock").exists()
        assert run_cli(["ctl", "--socket", str(flag), "stats"]).returncode == 0
    finally:
        assert proc.stop() == 0
    # "off" is accepted with workers > 1 too (the supervisor would otherwise serve the socket).
    path = tmp_path / "w.toml"
    path.write_text('[server]\nworkers = 2\ncontrol_socket = "off"\n')
    assert run_cli(["check-config", str(path)]).returncode == 0


def test_runtime_dir_choice() -> None:
    assert runtime_dir({}, euid=0) == Path("/run/rootwalk")
    assert runtime_dir({"XDG_RUNTIME_DIR": "/run/user/1000"}, euid=1000) == Path(
        "/run/user/1000/rootwalk"
    )
    assert runtime_dir({}, euid=1000) is None
    # systemd's RuntimeDirectory= wins for the service's dynamic user.
    assert runtime_dir({"RUNTIME_DIRECTORY": "/run/rootwalk:/run/x"}, euid=61234) == Path(
        "/run/rootwalk"
    )
    assert runtime_dir({ENV_RUNTIME_DIR: "/tmp/r", "XDG_RUNTIME_DIR": "/x"}, euid=0) == Path(
        "/tmp/r"
    )
    assert default_control_socket({}, euid=0) == Path("/run/rootwalk/control.sock")
    assert default_config_path({}) == Path("/etc/rootwalk/rootwalk.toml")
    assert default_config_path({ENV_CONFIG: "/srv/r.toml"}) == Path("/srv/r.toml")
