"""Keep every rootwalk the tests start off this machine's /etc/rootwalk and /run/rootwalk.

``rootwalk serve`` and ``ctl`` read /etc/rootwalk/rootwalk.toml when it exists and open a
control socket in the run directory by default (rootwalk/paths.py), and answer from
/etc/hosts when listening on loopback only (server/hosts.py). The tests point both at
a private directory, through the same environment variables an operator may use, so that a
real installation on the machine can neither change a test nor be disturbed by one.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from rootwalk.paths import ENV_CONFIG, ENV_HOSTS, ENV_RUNTIME_DIR

_PRIVATE: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    private = tempfile.mkdtemp(prefix="rootwalk-test-run-")
    _PRIVATE.append(private)
    os.environ[ENV_RUNTIME_DIR] = private
    os.environ[ENV_CONFIG] = os.path.join(private, "no-such-rootwalk.toml")
    # server.hosts_file = "auto" (on for loopback listening) must not answer from the
    # machine's /etc/hosts: a missing file under "auto" is no data.
    os.environ[ENV_HOSTS] = os.path.join(private, "no-such-hosts")


def pytest_unconfigure(config: pytest.Config) -> None:
    for private in _PRIVATE:
        shutil.rmtree(private, ignore_errors=True)
