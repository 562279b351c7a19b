"""Blocklists: parsed fast, held compactly, and (re)built in a child process.

A Pi-hole style list has 100,000 to 1,000,000+ names. Two costs mattered (issue #10):

* **Time.** Parsing every name with dnspython took ~10 µs a name (3 s for 300,000 lines), and
  it ran on the event loop, so a reload stopped all answering for that long. Here a name is
  checked with one regular expression and kept as bytes (~1 µs), and ``load`` runs the parse in
  a child process (``python -c ...``): the parent's event loop only reads the finished
  structure from a pipe, so cached names are answered throughout. A thread would not do: the
  sort of 300,000 names is one C call that holds the GIL for a few hundred milliseconds.
* **Memory.** A ``set`` of label tuples costs ~250 bytes a name. ``Blocklist`` keeps three flat
  buffers, names sorted by CRC-32: the hashes (``array('I')``), the offsets of each name in one
  ``bytes`` blob, and the blob of ``name\\n`` entries: 4 + 4 + len(name) + 1 bytes a name,
  about 30 for typical ad-server names. A lookup is a binary search on the hashes (in C,
  ``bisect``), then an exact comparison with the blob, so a hash collision never blocks a
  name that is not listed.

Names are lowercase, without the final dot, letters, digits, ``-`` and ``_`` only (a listed
name that is not a host name is skipped; non-ASCII names are converted with IDNA).

This module imports only the standard library, so the child starts in ~30 ms.
"""

from __future__ import annotations

import asyncio
import bisect
import os
import re
import struct
import sys
import zlib
from array import array
from collections.abc import Sequence
from itertools import accumulate
from pathlib import Path

__all__ = ["Blocklist", "build", "load", "parse_names", "stamp", "unreadable"]

# Hosts-file entries that are the machine itself, not something to block.
_SKIP = frozenset({"localhost", "localhost.localdomain", "local", "broadcasthost"})
_NAME = re.compile(r"(?:[a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_COMMENT = re.compile(r"#[^\n]*")
_HEADER = struct.Struct("=QQ")  # name count, blob length
_MAX_NAME = 253  # RFC 1035 §2.3.4, in presentation form without the final dot

# The child imports this module from wherever this process found it.
_ROOT = str(Path(__file__).resolve().parents[2])

#: (path, device, inode, size, mtime_ns) of each file: unchanged files are not read again.
Stamp = tuple[tuple[str, int, int, int, int], ...]


class Blocklist:
    """An exact set of names in three flat buffers (see the module docstring)."""

    __slots__ = ("_blob", "_hashes", "_offsets", "stamp")

    def __init__(
        self, hashes: array[int] | None = None, offsets: array[int] | None = None, blob: bytes = b""
    ) -> None:
        self._hashes = hashes if hashes is not None else array("I")
        self._offsets = offsets if offsets is not None else array("I", [0])
        self._blob = blob
        self.stamp: Stamp = ()

    def __len__(self) -> int:
        return len(self._hashes)

    def nbytes(self) -> int:
        """Bytes held by the three buffers."""
        h, o = self._hashes, self._offsets
        return len(self._blob) + h.itemsize * len(h) + o.itemsize * len(o)

    def __contains__(self, name: bytes) -> bool:
        """``name``: lowercase, no final dot (``b"ads.example.com"``)."""
        h = zlib.crc32(name)
        hashes = self._hashes
        i = bisect.bisect_left(hashes, h)
        n = len(hashes)
        off, blob = self._offsets, self._blob
        while i < n and hashes[i] == h:
            if blob[off[i] : off[i + 1] - 1] == name:
                return True
            i += 1
        return False

    def blocks(self, labels: Sequence[bytes], keep: int = 1) -> bool:
        """Whether a listed name is ``labels`` or above it, not counting the last ``keep``
        labels' suffixes (``keep`` = 1: the root; more: a local zone the blocklist must not
        reach, server/local.py). ``labels``: lowercase, root (``b""``) last."""
        if not self._hashes:
            return False
        for i in range(len(labels) - keep - 1, -1, -1):
            if b"." in labels[i]:
                return False  # not a host name; neither it nor a name below it is listed
            if b".".join(labels[i:-1]) in self:
                return True
        return False

    def to_bytes(self) -> bytes:
        h, o = self._hashes, self._offsets
        return _HEADER.pack(len(h), len(self._blob)) + h.tobytes() + o.tobytes() + self._blob

    @classmethod
    def from_bytes(cls, data: bytes) -> Blocklist:
        count, size = _HEADER.unpack_from(data)
        pos = _HEADER.size
        hashes, offsets = array("I"), array("I")
        hashes.frombytes(data[pos : pos + 4 * count])
        pos += 4 * count
        offsets.frombytes(data[pos : pos + 4 * (count + 1)])
        pos += 4 * (count + 1)
        blob = data[pos : pos + size]
        if len(blob) != size or len(offsets) != count + 1 or offsets[-1] != size:
            raise ValueError("truncated blocklist data")
        return cls(hashes, offsets, blob)

    @classmethod
    def from_names(cls, names: set[str]) -> Blocklist:
        """From lowercase ASCII names (as ``parse_names`` makes them)."""
        # Sorted by hash only: names with equal hashes sit side by side, in any order.
        ordered = sorted((n.encode("ascii") for n in names), key=zlib.crc32)
        hashes = array("I", map(zlib.crc32, ordered))
        offsets = array("I", [0])
        offsets.extend(accumulate(len(n) + 1 for n in ordered))
        blob = b"\n".join(ordered) + b"\n" if ordered else b""
        return cls(hashes, offsets, blob)


def parse_names(text: str, into: set[str]) -> None:
    """Add the names of a hosts file (``0.0.0.0 ads.example``) or a list (``ads.example``).

    ``#`` starts a comment; an address in the first column is skipped, and so are the
    machine's own names (``localhost``...) and words that are not host names."""
    match, address = _NAME.fullmatch, _IPV4.fullmatch
    add = into.add
    for line in _COMMENT.sub("", text.lower()).splitlines():
        fields = line.split()
        if not fields:
            continue
        first = fields[0]
        if ":" in first or address(first):  # a host name never has ':'
            del fields[0]
        for word in fields:
            if match(word) is None:  # rare: a final dot, IDN, or not a name at all
                word = word.strip(".")
                if not word.isascii():
                    try:
                        word = word.encode("idna").decode("ascii")
                    except UnicodeError:
                        continue
                if match(word) is None:
                    continue
            if len(word) <= _MAX_NAME and word not in _SKIP:
                add(word)


def build(paths: Sequence[Path | str]) -> Blocklist:
    """Read and parse every file in this process (OSError if one cannot be read)."""
    names: set[str] = set()
    for path in paths:
        parse_names(Path(path).read_text(encoding="utf-8", errors="replace"), names)
    return Blocklist.from_names(names)


def stamp(paths: Sequence[Path | str]) -> Stamp:
    """What identifies the files' contents (OSError if one is missing)."""
    out = []
    for path in paths:
        st = os.stat(path)
        out.append((str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


def unreadable(paths: Sequence[Path | str]) -> tuple[int, str] | None:
    """(index, reason) of the first file that cannot be opened for reading, or None.

    Cheap (no parsing): ``check-config`` and the start use it before anything is bound."""
    for i, path in enumerate(paths):
        try:
            with open(path, "rb") as f:
                f.read(1)
        except OSError as exc:
            return i, exc.strerror or str(exc)
    return None


class LoadError(Exception):
    """A list could not be read: (index in server.blocklists, reason)."""

    def __init__(self, index: int, reason: str) -> None:
        super().__init__(index, reason)
        self.index = index
        self.reason = reason


async def load(paths: Sequence[Path | str], current: Blocklist | None = None) -> Blocklist:
    """Build the blocklist in a child process, leaving this process's event loop free.

    ``current`` is returned as it is when no file changed since it was built. Raises
    LoadError for a file that cannot be read."""
    try:
        files = stamp(paths)
    except OSError as exc:
        bad = unreadable(paths)
        raise LoadError(*(bad or (0, exc.strerror or str(exc)))) from None
    if current is not None and current.stamp == files:
        return current
    if not paths:
        return Blocklist()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH", "")) if p)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from rootwalk.server.blocklist import _child; _child()",
        *[str(p) for p in paths],
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        out, err = await proc.communicate()
    except BaseException:  # cancelled (shutdown): do not leave the child behind
        if proc.returncode is None:
            proc.kill()
        raise
    if proc.returncode == 3:
        index, _, reason = err.decode(errors="replace").strip().partition("\t")
        raise LoadError(int(index), reason)
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise LoadError(0, f"loader exited with status {proc.returncode}: {tail[0]}")
    blocklist = Blocklist.from_bytes(out)
    blocklist.stamp = files
    return blocklist


def _child() -> None:
    """``python -c`` entry point: parse argv's files, write the buffers to stdout."""
    names: set[str] = set()
    for i, path in enumerate(sys.argv[1:]):
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError as exc:
            sys.stderr.write(f"{i}\t{exc.strerror or exc}\n")
            raise SystemExit(3) from None
        parse_names(text, names)
    sys.stdout.buffer.write(Blocklist.from_names(names).to_bytes())
    sys.stdout.buffer.flush()
