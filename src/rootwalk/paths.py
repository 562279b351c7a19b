"""Where rootwalk looks for its configuration file and puts its control socket by default.

The defaults follow the usual places of a system service, and each can be moved by an
environment variable, which is also how the tests keep off the machine's /etc and /run:

* configuration: ``/etc/rootwalk/rootwalk.toml``, or ``$ROOTWALK_CONFIG``. Used by ``serve``,
  ``ctl`` and ``check-config`` when no ``--config`` is given; when the default file does not
  exist, the built-in defaults apply (an explicit ``--config`` that is missing is an error).
* control socket: ``control.sock`` in the run directory, which is ``$ROOTWALK_RUNTIME_DIR``,
  else systemd's ``$RUNTIME_DIRECTORY`` (``RuntimeDirectory=rootwalk`` in the unit), else
  ``/run/rootwalk`` for root, else ``$XDG_RUNTIME_DIR/rootwalk`` (a user's own run
  directory). A user with none of these gets no default socket.
* hosts file (``server.hosts_file = "auto"``): ``/etc/hosts``, or ``$ROOTWALK_HOSTS_FILE``.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path

__all__ = [
    "CONTROL_OFF",
    "DEFAULT_CONFIG",
    "ENV_CONFIG",
    "ENV_HOSTS",
    "ENV_RUNTIME_DIR",
    "default_config_path",
    "default_control_socket",
    "default_hosts_path",
    "runtime_dir",
    "socket_in_use",
]

DEFAULT_CONFIG = Path("/etc/rootwalk/rootwalk.toml")
ENV_CONFIG = "ROOTWALK_CONFIG"
ENV_RUNTIME_DIR = "ROOTWALK_RUNTIME_DIR"
DEFAULT_HOSTS = Path("/etc/hosts")
ENV_HOSTS = "ROOTWALK_HOSTS_FILE"
#: ``server.control_socket`` value that turns the control socket off.
CONTROL_OFF = "off"


def default_config_path(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    return Path(env.get(ENV_CONFIG) or DEFAULT_CONFIG)


def default_hosts_path(env: Mapping[str, str] | None = None) -> Path:
    """The hosts file ``server.hosts_file = "auto"`` reads."""
    env = os.environ if env is None else env
    return Path(env.get(ENV_HOSTS) or DEFAULT_HOSTS)


def runtime_dir(env: Mapping[str, str] | None = None, euid: int | None = None) -> Path | None:
    """The directory for the default control socket, or None when this user has none."""
    env = os.environ if env is None else env
    euid = os.geteuid() if euid is None else euid
    if env.get(ENV_RUNTIME_DIR):
        return Path(env[ENV_RUNTIME_DIR])
    if env.get("RUNTIME_DIRECTORY"):
        # systemd sets it to the unit's RuntimeDirectory= (a ':'-separated list when several).
        return Path(env["RUNTIME_DIRECTORY"].split(":")[0])
    if euid == 0:
        return Path("/run/rootwalk")
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "rootwalk"
    return None


def default_control_socket(
    env: Mapping[str, str] | None = None, euid: int | None = None
) -> Path | None:
    directory = runtime_dir(env, euid)
    return None if directory is None else directory / "control.sock"


def socket_in_use(path: Path) -> bool:
    """Whether a live server answers on the Unix socket ``path`` (a stale file does not)."""
    if not path.is_socket():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
    return True
