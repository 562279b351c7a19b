"""Blocklists given as URLs: downloading them and keeping the last good copy (issue #13).

Only the blocklist loader's child process (server/blocklist.py) calls ``download``, so a slow
or dead list server never holds up the event loop. A copy is written whole (a temporary file
renamed over the old one) and only after a download succeeded, so a failed or cut-off
download leaves the last good copy in place, and a restart uses it while the list server is
down.

Copies live in ``server.blocklist_cache``; by default ``blocklists/`` in the state
directory: ``$STATE_DIRECTORY`` (systemd's ``StateDirectory=rootwalk``), else
``/var/lib/rootwalk`` for root, else ``$XDG_STATE_HOME/rootwalk`` (``~/.local/state``).

Standard library only: it is imported by the child, which must start fast.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path

__all__ = ["MAX_BYTES", "TIMEOUT", "cache_path", "default_cache_dir", "download", "is_url", "save"]

#: Seconds without progress before a download is given up (urllib's socket timeout).
TIMEOUT = 30.0
#: A list larger than this is refused (the largest public lists are ~100 MB).
MAX_BYTES = 512 * 1024 * 1024
_URL = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def is_url(source: str) -> bool:
    """``scheme://...``: config validation accepts only http and https among them."""
    return _URL.match(source) is not None


def default_cache_dir(env: Mapping[str, str] | None = None, euid: int | None = None) -> Path:
    env = os.environ if env is None else env
    euid = os.geteuid() if euid is None else euid
    if env.get("STATE_DIRECTORY"):
        state = Path(env["STATE_DIRECTORY"].split(":")[0])
    elif euid == 0:
        state = Path("/var/lib/rootwalk")
    elif env.get("XDG_STATE_HOME"):
        state = Path(env["XDG_STATE_HOME"]) / "rootwalk"
    else:
        state = Path(env.get("HOME") or "~").expanduser() / ".local" / "state" / "rootwalk"
    return state / "blocklists"


def cache_path(cache_dir: str, url: str) -> str:
    """Where the copy of ``url`` is kept: a readable tail of the URL and a hash of all of it
    (two URLs never share a file)."""
    directory = Path(cache_dir) if cache_dir else default_cache_dir()
    tail = _UNSAFE.sub("_", url.split("://", 1)[-1])[-60:].strip("_.") or "list"
    digest = hashlib.sha256(url.encode()).hexdigest()[:16]
    return str(directory / f"{digest}-{tail}")


def download(url: str, timeout: float = TIMEOUT) -> bytes | str:
    """The body of ``url`` (status 200), or why not (one line)."""
    request = urllib.request.Request(url, headers={"User-Agent": "rootwalk blocklist loader"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            if response.status != 200:
                return f"HTTP status {response.status}"
            body: bytes = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        return f"HTTP status {exc.code} {exc.reason}"
    except urllib.error.URLError as exc:
        return str(exc.reason)
    except (OSError, ValueError) as exc:  # timeouts, resets, a malformed URL
        return str(exc) or type(exc).__name__
    if len(body) > MAX_BYTES:
        return f"larger than {MAX_BYTES} bytes"
    return body


def save(path: str, body: bytes) -> None:
    """Write ``body`` to ``path`` whole: a temporary file renamed over the old copy."""
    directory = os.path.dirname(path)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".download-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(body)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
