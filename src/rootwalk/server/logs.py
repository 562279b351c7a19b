"""Where log lines go and what they look like (``server.log_format``, ``server.query_log_file``).

Formats:

* ``text``: ``2024-05-01 12:00:00,123 INFO rootwalk.server: listening on ...`` on stderr.
* ``journal``: ``<6>rootwalk.server: listening on ...``: no timestamp (journald stamps every
  line itself) and the syslog priority as a ``<N>`` prefix, which journald reads from a
  service's stderr (``SyslogLevelPrefix=``, on by default, systemd.exec(5)), so that
  ``journalctl -p warning`` works.
* ``json``: one JSON object a line (``time``, ``level``, ``logger``, ``message``; query log
  lines add ``client``, ``transport``, ``name``, ``type``, ``rcode``, ``ms``, ``cache``), for
  log shippers.
* ``auto`` (default): ``journal`` when stderr is the journal's stream, else ``text``. systemd
  sets ``JOURNAL_STREAM=DEV:INODE`` for a service whose stderr goes to the journal; the device
  and inode are compared with stderr's, as systemd.exec(5) asks, since a child that inherits
  the variable may have its stderr somewhere else.

The query log goes with the rest to stderr, or to ``server.query_log_file``. That file is
opened in append mode and reopened on SIGHUP: logrotate moves it away and signals rootwalk
(``postrotate``), rootwalk opens a new file at the path. Lines written in between go to the
moved file, so nothing is lost (no ``copytruncate`` needed). With several workers each worker
holds the file open in append mode (O_APPEND: lines do not overwrite each other) and reopens
it on the SIGHUP the supervisor forwards.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rootwalk.config import ServerConfig
from rootwalk.errors import ConfigError

__all__ = [
    "JournalFormatter",
    "JsonFormatter",
    "QUERY_FIELDS",
    "check_query_log_file",
    "choose_format",
    "configure",
    "reopen",
]

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
#: The arguments of every query log call (server/handler.py), in order: JSON field names.
QUERY_FIELDS = ("client", "transport", "name", "type", "rcode", "ms", "cache")

# syslog(3) priorities of the logging levels, for journald's "<N>" prefix.
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}


def choose_format(setting: str, env: Mapping[str, str] | None = None, stderr_fd: int = 2) -> str:
    """``text``, ``journal`` or ``json`` for ``server.log_format``."""
    if setting != "auto":
        return setting
    env = os.environ if env is None else env
    stream = env.get("JOURNAL_STREAM", "")
    dev, sep, ino = stream.partition(":")
    if not sep or not dev.isdigit() or not ino.isdigit():
        return "text"
    try:
        st = os.fstat(stderr_fd)
    except OSError:
        return "text"
    return "journal" if (st.st_dev, st.st_ino) == (int(dev), int(ino)) else "text"


class JournalFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        priority = _PRIORITY.get(record.levelno, 6 if record.levelno < logging.WARNING else 3)
        return f"<{priority}>{super().format(record)}"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        args = record.args
        if (
            record.name == "rootwalk.query"
            and isinstance(args, tuple)
            and len(args) == len(QUERY_FIELDS)
        ):
            fields: dict[str, Any] = dict(zip(QUERY_FIELDS, args, strict=True))
            fields["ms"] = round(float(fields["ms"]), 3)
            out.update(fields)
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def _formatter(kind: str, *, for_file: bool = False) -> logging.Formatter:
    if kind == "json":
        return JsonFormatter()
    if kind == "journal" and not for_file:  # a file has no journald to stamp its lines
        return JournalFormatter()
    return logging.Formatter(TEXT_FORMAT)


class _State:
    stderr: logging.Handler | None = None  # the handler rootwalk put on the root logger
    query: logging.FileHandler | None = None  # server.query_log_file, when set
    query_path: str = ""
    kind: str = "text"


_state = _State()


def check_query_log_file(config: ServerConfig, source: str = "config") -> None:
    """ConfigError (one line) when ``server.query_log_file`` cannot be written; nothing is
    created here (``check-config`` must leave no file behind)."""
    text = config.query_log_file
    if not text:
        return
    path = Path(text)
    where = f"{source}: 'server.query_log_file' {text!r}"
    if path.is_dir():
        raise ConfigError(f"{where}: is a directory")
    if path.exists():
        if not os.access(path, os.W_OK):
            raise ConfigError(f"{where}: cannot write: permission denied")
        return
    parent = path.parent
    if not parent.is_dir():
        raise ConfigError(f"{where}: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ConfigError(f"{where}: cannot create a file in {str(parent)!r}: permission denied")


def configure(config: ServerConfig) -> None:
    """Apply ``log_format`` and ``query_log_file`` (at start and on every reload).

    OSError when the query log file cannot be opened (checked first by the caller)."""
    kind = choose_format(config.log_format)
    root = logging.getLogger()
    if _state.stderr is None:
        # The stderr handler of `rootwalk`'s own basicConfig (rootwalk/cli.py) is adopted;
        # handlers of an embedding program (or pytest's capture) are left alone.
        for handler in root.handlers:
            if type(handler) is logging.StreamHandler and handler.stream is sys.stderr:
                _state.stderr = handler
                break
        else:
            if not root.handlers:
                _state.stderr = logging.StreamHandler(sys.stderr)
                root.addHandler(_state.stderr)
    if _state.stderr is not None:
        _state.stderr.setFormatter(_formatter(kind))
    _state.kind = kind
    qlog = logging.getLogger("rootwalk.query")
    path = config.query_log_file
    if path != _state.query_path or (path and _state.query is None):
        _close_query_file()
        if path:
            _open_query_file(path)
        _state.query_path = path
    elif _state.query is not None:
        _state.query.setFormatter(_formatter(kind, for_file=True))
    # With a file of its own the query log stays out of the server log.
    qlog.propagate = _state.query is None


def _open_query_file(path: str) -> None:
    handler = logging.FileHandler(path, mode="a", encoding="utf-8")
    handler.setFormatter(_formatter(_state.kind, for_file=True))
    logging.getLogger("rootwalk.query").addHandler(handler)
    _state.query = handler


def _close_query_file() -> None:
    handler = _state.query
    if handler is not None:
        logging.getLogger("rootwalk.query").removeHandler(handler)
        handler.close()
        _state.query = None


def reopen() -> None:
    """SIGHUP: open ``query_log_file`` afresh at its path (logrotate has moved the old one).

    The new file is opened before the old one is closed, so a failure (the directory gone)
    keeps the query log going to the old file, with one error line."""
    old = _state.query
    if old is None:
        return
    try:
        handler = logging.FileHandler(_state.query_path, mode="a", encoding="utf-8")
    except OSError as exc:
        logging.getLogger("rootwalk.server").error(
            "cannot reopen the query log %s: %s; still writing to the old file",
            _state.query_path,
            exc.strerror or exc,
        )
        return
    handler.setFormatter(_formatter(_state.kind, for_file=True))
    qlog = logging.getLogger("rootwalk.query")
    qlog.addHandler(handler)
    qlog.removeHandler(old)
    old.close()
    _state.query = handler
