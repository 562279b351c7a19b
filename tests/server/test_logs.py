"""``server.log_format`` (text, journal, json, auto via JOURNAL_STREAM) and
``server.query_log_file`` (reopened on SIGHUP after logrotate moved it), on a real serve."""

from __future__ import annotations

import json
import os
import re
import select
import signal
import subprocess
import time
from pathlib import Path

import pytest

from rootwalk.lab import Lab
from rootwalk.paths import ENV_RUNTIME_DIR
from rootwalk.server.logs import choose_format

from .conftest import ROOTWALK, START_TIMEOUT, ask, lab_config, run_cli, start_server

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


def test_choose_format(tmp_path: Path) -> None:
    with (tmp_path / "f").open("w") as f:
        st = os.fstat(f.fileno())
        mine = f"{st.st_dev}:{st.st_ino}"
        assert choose_format("auto", {"JOURNAL_STREAM": mine}, f.fileno()) == "journal"
        # Inherited by a process whose stderr is elsewhere: not the journal.
        assert choose_format("auto", {"JOURNAL_STREAM": "1:2"}, f.fileno()) == "text"
        assert choose_format("auto", {"JOURNAL_STREAM": "junk"}, f.fileno()) == "text"
        assert choose_format("auto", {}, f.fileno()) == "text"
        assert choose_format("json", {"JOURNAL_STREAM": mine}, f.fileno()) == "json"


def test_text_format_has_timestamps(lab: Lab, tmp_path: Path) -> None:
    proc = start_server(lab, tmp_path, 'log_format = "text"\n', listen=["127.0.0.1:0"])
    try:
        line = proc.find(r"listening on")
        assert line is not None and TIMESTAMP.match(line.string), line
    finally:
        assert proc.stop() == 0


def test_json_format(lab: Lab, tmp_path: Path) -> None:
    extra = 'log_format = "json"\nquery_log = true\n'
    proc = start_server(lab, tmp_path, extra, listen=["127.0.0.1:0"])
    try:
        where = proc.addresses[0]
        ask(where, "www.example.com")
        ask(where, "www.example.com")  # a hit, logged by the path that answered it
        proc.wait_for(r'"cache": "hit"')
    finally:
        assert proc.stop() == 0
    records = [json.loads(line) for line in proc.lines]  # every line is one JSON object
    listening = [r for r in records if r["message"].startswith("listening on")]
    assert listening and listening[0]["level"] == "info"
    assert listening[0]["logger"] == "rootwalk.server"
    assert re.match(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$", listening[0]["time"])
    queries = [r for r in records if r["logger"] == "rootwalk.query"]
    assert [(q["name"], q["type"], q["rcode"], q["transport"], q["cache"]) for q in queries] == [
        ("www.example.com.", "A", "NOERROR", "udp", "miss"),
        ("www.example.com.", "A", "NOERROR", "udp", "hit"),
    ]
    assert all(q["client"].startswith("127.0.0.1:") and q["ms"] >= 0 for q in queries)


def test_journal_format_auto_detected(lab: Lab, tmp_path: Path) -> None:
    """Under systemd (JOURNAL_STREAM names stderr): "<6>" priorities, no timestamps."""
    path = tmp_path / "c.toml"
    path.write_text(lab_config(lab, listen=["127.0.0.1:0"]))
    r, w = os.pipe()
    st = os.fstat(w)  # both ends of a pipe are one inode: what systemd would name
    env = {
        **os.environ,
        ENV_RUNTIME_DIR: str(tmp_path),
        "JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}",
    }
    proc = subprocess.Popen(
        [*ROOTWALK, "serve", "--config", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=w,
        env=env,
    )
    os.close(w)
    lines: list[str] = []
    buf = b""
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not any("listening on" in line for line in lines):
            left = deadline - time.monotonic()
            assert left > 0, lines
            if select.select([r], [], [], left)[0]:
                chunk = os.read(r, 4096)
                assert chunk, f"server exited: {lines}"
                buf += chunk
                *done, rest = buf.split(b"\n")
                lines += [x.decode() for x in done]
                buf = rest
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
        os.close(r)
    listening = [line for line in lines if "listening on" in line]
    assert listening[0].startswith("<6>rootwalk.server: listening on 127.0.0.1:")
    assert not any(TIMESTAMP.search(line) for line in lines), lines


def test_journal_format_explicit_error_priority(lab: Lab, tmp_path: Path) -> None:
    # An error line (a reload of a broken file): priority 3, so `journalctl -p err` shows it.
    proc = start_server(lab, tmp_path, 'log_format = "journal"\n', listen=["127.0.0.1:0"])
    try:
        assert proc.config_path is not None
        proc.config_path.write_text("[server\n")
        proc.signal(signal.SIGHUP)
        m = proc.wait_for(r"reload failed")
        assert m.string.startswith("<3>rootwalk.server: reload failed"), m.string
        assert not any(TIMESTAMP.search(line) for line in proc.lines)
    finally:
        assert proc.stop() == 0


def test_query_log_file_reopened_on_sighup(lab: Lab, tmp_path: Path) -> None:
    qfile = tmp_path / "queries.log"
    extra = f'query_log = true\nquery_log_file = "{qfile}"\n'
    proc = start_server(lab, tmp_path, extra, listen=["127.0.0.1:0"])
    try:
        where = proc.addresses[0]
        ask(where, "www.example.com")  # logged before the answer is sent
        first = qfile.read_text()
        assert re.search(r"query 127\.0\.0\.1:\d+ udp www\.example\.com\. A NOERROR", first)
        assert TIMESTAMP.match(first)
        qfile.rename(tmp_path / "queries.log.1")  # what logrotate does, then "postrotate"
        proc.signal(signal.SIGHUP)
        proc.wait_for("configuration reloaded")
        ask(where, "www.example.org", tcp=True)
        assert "www.example.org" in qfile.read_text()
        assert "www.example.com" not in qfile.read_text()
        moved = (tmp_path / "queries.log.1").read_text()
        assert "www.example.com" in moved and "www.example.org" not in moved
    finally:
        assert proc.stop() == 0
    assert "query 127.0.0.1" not in proc.stderr  # the file has the query log, not stderr


@pytest.mark.parametrize(
    ("extra", "why"),
    [
        ('log_format = "syslog"\n', "'server.log_format' must be one of"),
        ('query_log_file = "/nonexistent-dir/q.log"\n', "'server.query_log_file'"),
    ],
)
def test_bad_logging_config_is_one_line(lab: Lab, tmp_path: Path, extra: str, why: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(lab_config(lab, extra, ["127.0.0.1:0"]))
    for cmd in (["check-config", str(path)], ["serve", "--config", str(path)]):
        done = run_cli(cmd)
        assert done.returncode == 2
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and why in lines[0], done.stderr
