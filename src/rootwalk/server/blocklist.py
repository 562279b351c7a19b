"""Blocklists: parsed fast, held compactly, and (re)built in a child process.

A Pi-hole style list has 100,000 to 1,000,000+ names. Two costs mattered (issue #10):

* **Time.** Parsing every name with dnspython took ~10 µs a name (3 s for 300,000 lines), and
  it ran on the event loop, so a reload stopped all answering for that long. Here a name is
  checked with one regular expression and kept as bytes (~1 µs), and ``load`` runs the parse in
  a child process (``python -c ...``): the parent's event loop only reads the finished
  structure from a pipe, so cached names are answered throughout. A thread would not do: the
  sort of 300,000 names is one C call that holds the GIL for a few hundred milliseconds.
  Lists given as URLs are downloaded by that child too (server/blocklist_fetch.py), so a slow
  or dead list server never stalls DNS either (issue #13).
* **Memory.** A ``set`` of label tuples costs ~250 bytes a name. ``NameSet`` keeps three flat
  buffers, names sorted by CRC-32: the hashes (``array('I')``), the offsets of each name in one
  ``bytes`` blob, and the blob of ``name\\n`` entries: 4 + 4 + len(name) + 1 bytes a name,
  about 30 for typical ad-server names. A lookup is a binary search on the hashes (in C,
  ``bisect``), then an exact comparison with the blob, so a hash collision never blocks a
  name that is not listed.

Entries (``parse_list``), in the syntaxes of Pi-hole and AdGuard Home lists (issue #13):

* ``0.0.0.0 ads.example`` (hosts file), ``ads.example`` (domain list), ``||ads.example^``
  (adblock): the name **and every name below it** (the exact set, ``NameSet``).
* ``*.ads.example`` or ``||*.ads.example^``: the names strictly below ads.example (a second
  ``NameSet``, looked up with the same suffix walk).
* Any other ``*`` (``ads*.example``) and regular expressions: Pi-hole regex lines
  (``(^|\\.)doubleclick\\.net$``, recognised by their metacharacters) and AdGuard's ``/re/``.
  The dialect is Python's ``re`` (the common POSIX ERE forms mean the same), searched in the
  name without its final dot, case-insensitively. Their cost is bounded: they are compiled
  once, in chunks combined into one alternation each (one C call a chunk, not one a pattern),
  and only searched after the exact and wildcard lookups missed.
* ``@@`` before an entry (AdGuard's exception), or any entry of a ``server.allowlists`` list:
  allowed. An allowed name is never blocked, whatever list names it.

Names are lowercase, without the final dot, letters, digits, ``-`` and ``_`` only (a listed
name that is not a host name is skipped; non-ASCII names are converted with IDNA).

This module imports only the standard library, so the child starts in ~30 ms.
"""

from __future__ import annotations

import asyncio
import bisect
import json
import os
import re
import struct
import sys
import time
import zlib
from array import array
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import accumulate
from pathlib import Path

from rootwalk.server import blocklist_fetch as fetch

__all__ = [
    "Blocklist",
    "Entries",
    "LoadError",
    "NameSet",
    "Spec",
    "build",
    "load",
    "parse_list",
    "parse_names",
    "stamp",
    "unreadable",
]

# Hosts-file entries that are the machine itself, not something to block.
_SKIP = frozenset({"localhost", "localhost.localdomain", "local", "broadcasthost"})
_NAME = re.compile(r"(?:[a-z0-9_-]{1,63}\.)*[a-z0-9_-]{1,63}")
_GLOB = re.compile(r"[a-z0-9_*-]+(?:\.[a-z0-9_*-]+)*")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
# "#" starts a comment at the start of a line or after a blank; "example.com##.ad" (an
# adblock cosmetic rule, for browsers) is kept whole, so that it is skipped rather than read
# as "example.com".
_COMMENT = re.compile(r"(?:^|(?<=[ \t]))#[^\n]*", re.MULTILINE)
# A single-word line with one of these is a Pi-hole regex (a host name never has them).
_REGEX_CHARS = frozenset("^$()[]{}\\|+?")
_HEADER = struct.Struct("=QQ")  # name count, blob length
_PART = struct.Struct("=Q")
_MAX_NAME = 253  # RFC 1035 §2.3.4, in presentation form without the final dot
# Patterns compiled into one alternation; the parent yields to its loop between chunks.
_CHUNK = 64
_MEMO = 16_384  # names whose regex result is remembered (~1.5 MB at most)
_BACKREF = re.compile(r"\\[1-9]|\(\?P=|\(\?[aiLmsux-]+\)")

# The child imports this module from wherever this process found it.
_ROOT = str(Path(__file__).resolve().parents[2])

#: (source, device, inode, size, mtime_ns) of each file (for a URL: of its cached copy):
#: unchanged files are not read again.
Stamp = tuple[tuple[str, int, int, int, int], ...]


class NameSet:
    """An exact set of names in three flat buffers (see the module docstring)."""

    __slots__ = ("_blob", "_hashes", "_offsets")

    def __init__(
        self, hashes: array[int] | None = None, offsets: array[int] | None = None, blob: bytes = b""
    ) -> None:
        self._hashes = hashes if hashes is not None else array("I")
        self._offsets = offsets if offsets is not None else array("I", [0])
        self._blob = blob

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

    def to_bytes(self) -> bytes:
        h, o = self._hashes, self._offsets
        return _HEADER.pack(len(h), len(self._blob)) + h.tobytes() + o.tobytes() + self._blob

    @classmethod
    def from_bytes(cls, data: bytes | memoryview) -> NameSet:
        count, size = _HEADER.unpack_from(data)
        pos = _HEADER.size
        hashes, offsets = array("I"), array("I")
        hashes.frombytes(data[pos : pos + 4 * count])
        pos += 4 * count
        offsets.frombytes(data[pos : pos + 4 * (count + 1)])
        pos += 4 * (count + 1)
        blob = bytes(data[pos : pos + size])
        if len(blob) != size or len(offsets) != count + 1 or offsets[-1] != size:
            raise ValueError("truncated blocklist data")
        return cls(hashes, offsets, blob)

    @classmethod
    def from_names(cls, names: set[str]) -> NameSet:
        """From lowercase ASCII names (as ``parse_list`` makes them)."""
        # Sorted by hash only: names with equal hashes sit side by side, in any order.
        ordered = sorted((n.encode("ascii") for n in names), key=zlib.crc32)
        hashes = array("I", map(zlib.crc32, ordered))
        offsets = array("I", [0])
        offsets.extend(accumulate(len(n) + 1 for n in ordered))
        blob = b"\n".join(ordered) + b"\n" if ordered else b""
        return cls(hashes, offsets, blob)


@dataclass
class Entries:
    """What lists say about names of one kind (blocked, or allowed)."""

    names: set[str] = field(default_factory=set)  # the name and the names below it
    wild: set[str] = field(default_factory=set)  # only the names below it (``*.name``)
    regex: dict[str, None] = field(default_factory=dict)  # patterns, in order, deduplicated
    invalid: int = 0  # regex lines Python's re does not compile (skipped)

    def __len__(self) -> int:
        return len(self.names) + len(self.wild) + len(self.regex)


class _Matcher:
    """Names matched by one ``Entries``: exact sets, then regexes (see the module docstring)."""

    __slots__ = ("memo", "names", "patterns", "regex", "wild")

    def __init__(self, names: NameSet, wild: NameSet, patterns: Sequence[str]) -> None:
        self.names = names
        self.wild = wild
        self.patterns = tuple(patterns)
        self.regex: tuple[re.Pattern[str], ...] = ()
        # Regex results by name: a search costs ~0.6 µs a pattern, and clients ask the same
        # names again and again (a blocked name is looked up twice per question, too).
        self.memo: dict[str, bool] = {}

    def __len__(self) -> int:
        return len(self.names) + len(self.wild) + len(self.patterns)

    def nbytes(self) -> int:
        return self.names.nbytes() + self.wild.nbytes() + sum(len(p) for p in self.patterns)

    def compile_chunks(self) -> list[list[str]]:
        """The patterns grouped for compiling: one alternation a chunk. A pattern whose
        meaning depends on its own group numbers or global flags compiles alone."""
        out: list[list[str]] = []
        joined: list[str] = []
        for p in self.patterns:
            if _BACKREF.search(p):
                out.append([p])
                continue
            joined.append(p)
            if len(joined) == _CHUNK:
                out.append(joined)
                joined = []
        if joined:
            out.append(joined)
        return out

    def suffix(self, labels: Sequence[bytes], keep: int) -> bool:
        names = self.names
        wild = self.wild if len(self.wild) else None
        for i in range(len(labels) - keep - 1, -1, -1):
            if b"." in labels[i]:
                return False  # not a host name; neither it nor a name below it is listed
            name = b".".join(labels[i:-1])
            if name in names or (i and wild is not None and name in wild):
                return True
        return False

    def search(self, labels: Sequence[bytes]) -> bool:
        if not self.regex:
            return False
        text = b".".join(labels[:-1]).decode("latin-1")
        memo = self.memo
        found = memo.get(text)
        if found is None:
            found = any(r.search(text) for r in self.regex)
            if len(memo) >= _MEMO:
                memo.clear()  # bounded; simpler and cheaper than an LRU, names come back
            memo[text] = found
        return found


def _compile(chunk: list[str]) -> list[re.Pattern[str]]:
    if len(chunk) > 1:
        try:
            return [re.compile("|".join(f"(?:{p})" for p in chunk), re.IGNORECASE)]
        except re.error:  # e.g. two patterns naming a group alike: one by one then
            pass
    return [re.compile(p, re.IGNORECASE) for p in chunk]


class Blocklist:
    """Blocked entries, allowed entries, and what the last load had to say."""

    __slots__ = ("allow", "block", "stamp", "warnings")

    def __init__(self, block: _Matcher | None = None, allow: _Matcher | None = None) -> None:
        self.block = block or _Matcher(NameSet(), NameSet(), ())
        self.allow = allow or _Matcher(NameSet(), NameSet(), ())
        self.stamp: Stamp = ()
        self.warnings: list[str] = []

    def __len__(self) -> int:
        """Blocked names (the exact set; ``counts`` has the rest)."""
        return len(self.block.names)

    def __contains__(self, name: bytes) -> bool:
        return name in self.block.names

    def counts(self) -> dict[str, int]:
        b, a = self.block, self.allow
        return {
            "names": len(b.names),
            "wildcards": len(b.wild),
            "regexes": len(b.patterns),
            "allowed": len(a),
        }

    def nbytes(self) -> int:
        """Bytes held by the flat buffers and the pattern texts."""
        return self.block.nbytes() + self.allow.nbytes()

    async def compile(self) -> None:
        """Compile the patterns once, yielding to the event loop between chunks (``re``'s
        compiler is Python code: thousands of patterns at once would stall the loop)."""
        for m in (self.block, self.allow):
            out: list[re.Pattern[str]] = []
            for chunk in m.compile_chunks():
                out.extend(_compile(chunk))
                await asyncio.sleep(0)
            m.regex = tuple(out)

    def compile_now(self) -> None:
        for m in (self.block, self.allow):
            m.regex = tuple(r for chunk in m.compile_chunks() for r in _compile(chunk))

    def blocks(self, labels: Sequence[bytes], keep: int = 1) -> bool:
        """Whether ``labels`` is blocked: a listed name is it or above it, not counting the
        last ``keep`` labels' suffixes (``keep`` = 1: the root; more: a local zone the
        blocklist must not reach, server/local.py), or (``keep`` = 1 only: a regex cannot
        say how deep its match is) a pattern matches; and no allow entry matches it.
        ``labels``: lowercase, root (``b""``) last."""
        block = self.block
        if not (block.names or block.wild or block.regex):
            return False
        if not block.suffix(labels, keep) and (keep != 1 or not block.search(labels)):
            return False
        allow = self.allow
        return not (allow.suffix(labels, 1) or allow.search(labels))

    def to_bytes(self) -> bytes:
        meta = json.dumps(
            {
                "block": list(self.block.patterns),
                "allow": list(self.allow.patterns),
                "warnings": self.warnings,
            }
        ).encode()
        parts = [
            meta,
            self.block.names.to_bytes(),
            self.block.wild.to_bytes(),
            self.allow.names.to_bytes(),
            self.allow.wild.to_bytes(),
        ]
        return b"".join(_PART.pack(len(p)) + p for p in parts)

    @classmethod
    def from_bytes(cls, data: bytes) -> Blocklist:
        """The structure ``to_bytes`` wrote; the patterns are not compiled yet (``compile``)."""
        view = memoryview(data)
        parts: list[memoryview] = []
        pos = 0
        for _ in range(5):
            if pos + _PART.size > len(view):
                raise ValueError("truncated blocklist data")
            (size,) = _PART.unpack_from(view, pos)
            pos += _PART.size
            if pos + size > len(view):
                raise ValueError("truncated blocklist data")
            parts.append(view[pos : pos + size])
            pos += size
        meta = json.loads(bytes(parts[0]))
        sets = [NameSet.from_bytes(p) for p in parts[1:]]
        b = cls(
            _Matcher(sets[0], sets[1], meta["block"]), _Matcher(sets[2], sets[3], meta["allow"])
        )
        b.warnings = list(meta["warnings"])
        return b

    @classmethod
    def from_names(cls, names: set[str]) -> Blocklist:
        """Exact entries only, from lowercase ASCII names."""
        return cls(_Matcher(NameSet.from_names(names), NameSet(), ()))

    @classmethod
    def from_entries(cls, block: Entries, allow: Entries) -> Blocklist:
        return cls(
            _Matcher(
                NameSet.from_names(block.names), NameSet.from_names(block.wild), list(block.regex)
            ),
            _Matcher(
                NameSet.from_names(allow.names), NameSet.from_names(allow.wild), list(allow.regex)
            ),
        )


def _name(word: str) -> str | None:
    """``word`` as a lowercase host name (final dot removed, IDNA applied), or None."""
    word = word.strip(".").lower()
    if not word.isascii():
        try:
            word = word.encode("idna").decode("ascii")
        except UnicodeError:
            return None
    if _NAME.fullmatch(word) is None or len(word) > _MAX_NAME:
        return None
    return word


def _add_regex(into: Entries, pattern: str) -> None:
    try:
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        into.invalid += 1
        return
    into.regex[pattern] = None


def _glob(into: Entries, body: str, below: bool) -> None:
    """``*`` entries: ``*.name`` is the wildcard set; any other ``*`` becomes a regex (``*``:
    any characters, dots included, as AdGuard). ``below``: ``||`` form, the names under a
    match are blocked too."""
    body = body.lower().strip(".")
    if body.startswith("*.") and "*" not in body[2:]:
        name = _name(body[2:])
        if name is not None:
            into.wild.add(name)
        return
    if _GLOB.fullmatch(body) is None:
        return
    regex = ".*".join(re.escape(part) for part in body.split("*"))
    _add_regex(into, ("(^|\\.)" if below else "^") + regex + "$")


def _special(word: str, block: Entries, allow: Entries) -> None:
    """A one-word line that is not a plain host name: adblock, wildcard or regex syntax."""
    into = block
    if word.startswith("@@"):
        into, word = allow, word[2:]
    if len(word) > 2 and word[0] == "/" and word[-1] == "/":
        _add_regex(into, word[1:-1])  # AdGuard: /regex/
        return
    if word.startswith("||"):
        body, _, modifiers = word[2:].partition("$")
        # $important changes nothing here; other modifiers ($third-party, $client...) narrow
        # the rule to cases a DNS server cannot see: blocking for all would block too much.
        if modifiers and any(m != "important" for m in modifiers.lower().split(",")):
            return
        body = body.removesuffix("|").removesuffix("^")
        if not body or any(c in body for c in "^/|:"):
            return  # a URL path rule (for browsers), not a name
        if "*" in body:
            _glob(into, body, below=True)
            return
        name = _name(body)
        if name is not None and name not in _SKIP:
            into.names.add(name)
        return
    if "#" in word or ";" in word or word[0] == "|":
        return  # cosmetic rules, Pi-hole ;querytype= options, |anchored URL rules: skipped
    if not _REGEX_CHARS.isdisjoint(word):
        _add_regex(into, word)  # Pi-hole: one regex a line
        return
    if "*" in word:
        _glob(into, word, below=False)
        return
    name = _name(word)
    if name is not None and name not in _SKIP:
        into.names.add(name)


def parse_list(text: str, block: Entries, allow: Entries) -> None:
    """Add the entries of a hosts file, domain list or adblock list (the module docstring).

    ``#`` starts a comment (and ``!``, adblock's); an address in the first column is
    skipped, and so are the machine's own names (``localhost``...) and words that are none of
    the above. For an allowlist, pass its ``Entries`` as both ``block`` and ``allow``."""
    match, address = _NAME.fullmatch, _IPV4.fullmatch
    add = block.names.add
    for line in _COMMENT.sub("", text).splitlines():
        fields = line.split()
        if not fields:
            continue
        first = fields[0]
        if ":" in first or address(first):  # a host name never has ':'
            del fields[0]
        elif first[0] == "!" or (first[0] == "[" and line.rstrip()[-1] == "]"):
            continue  # adblock comment, or a "[Adblock Plus 2.0]" header
        elif len(fields) == 1 and match(first) is None and match(first.lower()) is None:
            _special(first, block, allow)
            continue
        for word in fields:
            word = word.lower()
            if match(word) is None:  # rare: a final dot, IDN, or not a name at all
                name = _name(word)
                if name is None:
                    continue
                word = name
            if len(word) <= _MAX_NAME and word not in _SKIP:
                add(word)


def parse_names(text: str, into: set[str]) -> None:
    """The exact names of ``text`` (``parse_list``'s first set) added to ``into``."""
    parse_list(text, Entries(names=into), Entries())


def build(paths: Sequence[Path | str], allow: Sequence[Path | str] = ()) -> Blocklist:
    """Read and parse every file in this process (OSError if one cannot be read)."""
    block_e, allow_e = Entries(), Entries()
    for path in paths:
        parse_list(Path(path).read_text(encoding="utf-8", errors="replace"), block_e, allow_e)
    for path in allow:
        parse_list(Path(path).read_text(encoding="utf-8", errors="replace"), allow_e, allow_e)
    b = Blocklist.from_entries(block_e, allow_e)
    b.compile_now()
    return b


@dataclass(frozen=True)
class Spec:
    """What to load: ``server.blocklists`` and ``server.allowlists`` (paths or URLs), where
    downloaded copies are kept, and when a URL is downloaded again."""

    block: tuple[str, ...] = ()
    allow: tuple[str, ...] = ()
    cache_dir: str = ""
    # At (re)load, a URL whose copy is older than this is downloaded; 0: only when there is
    # no copy. ``force``: every URL is downloaded (the refresh timer).
    max_age: float = 0.0
    force: bool = False
    timeout: float = fetch.TIMEOUT

    def sources(self) -> list[tuple[str, int, str]]:
        """(key, index, source) of every list, blocklists first."""
        return [("server.blocklists", i, s) for i, s in enumerate(self.block)] + [
            ("server.allowlists", i, s) for i, s in enumerate(self.allow)
        ]

    def local_path(self, source: str) -> str:
        return fetch.cache_path(self.cache_dir, source) if fetch.is_url(source) else source

    def wants_download(self, source: str, now: float) -> bool:
        if not fetch.is_url(source):
            return False
        if self.force:
            return True
        try:
            age = now - os.stat(self.local_path(source)).st_mtime
        except OSError:
            return True
        return self.max_age > 0 and age >= self.max_age


def stamp(paths: Sequence[Path | str]) -> Stamp:
    """What identifies the files' contents (OSError if one is missing)."""
    out = []
    for path in paths:
        st = os.stat(path)
        out.append((str(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns))
    return tuple(out)


def _spec_stamp(spec: Spec) -> Stamp:
    """The files' stamps and the URLs' copies' (zeros when a URL has none yet)."""
    out = []
    for _key, _i, source in spec.sources():
        try:
            (entry,) = stamp([spec.local_path(source)])
        except OSError:
            if not fetch.is_url(source):
                raise
            entry = (source, 0, 0, 0, 0)
        out.append((source, *entry[1:]))
    return tuple(out)


def unreadable(paths: Sequence[Path | str]) -> tuple[int, str] | None:
    """(index, reason) of the first file that cannot be opened for reading, or None. URLs
    are not opened (they are downloaded when the server starts).

    Cheap (no parsing): ``check-config`` and the start use it before anything is bound."""
    for i, path in enumerate(paths):
        if fetch.is_url(str(path)):
            continue
        try:
            with open(path, "rb") as f:
                f.read(1)
        except OSError as exc:
            return i, exc.strerror or str(exc)
    return None


class LoadError(Exception):
    """A list could not be read: (index in ``key``, reason)."""

    def __init__(self, index: int, reason: str, key: str = "server.blocklists") -> None:
        super().__init__(index, reason, key)
        self.index = index
        self.reason = reason
        self.key = key


async def load(spec: Spec | Sequence[Path | str], current: Blocklist | None = None) -> Blocklist:
    """Build the blocklist in a child process (which also downloads the URLs), leaving this
    process's event loop free; the patterns are compiled here, in small steps.

    ``current`` is returned as it is when no file changed since it was built and no URL is
    due for a download. Raises LoadError for a file that cannot be read; a URL that cannot
    be downloaded is a warning (``Blocklist.warnings``) and its last good copy is used."""
    if not isinstance(spec, Spec):
        spec = Spec(block=tuple(str(p) for p in spec))
    now = time.time()
    due = any(spec.wants_download(s, now) for _k, _i, s in spec.sources())
    try:
        files = _spec_stamp(spec)
    except OSError as exc:
        for key, paths in (("server.blocklists", spec.block), ("server.allowlists", spec.allow)):
            bad = unreadable(paths)
            if bad is not None:
                raise LoadError(*bad, key=key) from None
        raise LoadError(0, exc.strerror or str(exc)) from None
    if current is not None and current.stamp == files and not due:
        return current
    if not spec.block:
        return Blocklist()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (_ROOT, env.get("PYTHONPATH", "")) if p)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from rootwalk.server.blocklist import _child; _child()",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    request = json.dumps(
        {
            "block": spec.block,
            "allow": spec.allow,
            "cache_dir": spec.cache_dir,
            "max_age": spec.max_age,
            "force": spec.force,
            "timeout": spec.timeout,
        }
    ).encode()
    try:
        out, err = await proc.communicate(request)
    except BaseException:  # cancelled (shutdown): do not leave the child behind
        if proc.returncode is None:
            proc.kill()
        raise
    if proc.returncode == 3:
        key, _, rest = err.decode(errors="replace").strip().partition("\t")
        index, _, reason = rest.partition("\t")
        raise LoadError(int(index), reason, key)
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise LoadError(0, f"loader exited with status {proc.returncode}: {tail[0]}")
    blocklist = Blocklist.from_bytes(out)
    await blocklist.compile()
    blocklist.stamp = _spec_stamp(spec)  # after the child: the URLs' copies were rewritten
    return blocklist


def _child() -> None:
    """``python -c`` entry point: the Spec as JSON on stdin; the structure to stdout."""
    raw = json.loads(sys.stdin.buffer.read())
    spec = Spec(
        block=tuple(raw["block"]),
        allow=tuple(raw["allow"]),
        cache_dir=raw["cache_dir"],
        max_age=raw["max_age"],
        force=raw["force"],
        timeout=raw["timeout"],
    )
    block, allow = Entries(), Entries()
    warnings: list[str] = []
    now = time.time()
    for key, i, source in spec.sources():
        into = block if key == "server.blocklists" else allow
        if not fetch.is_url(source):
            try:
                text = Path(source).read_text(encoding="utf-8", errors="replace")
            except OSError as exc:
                sys.stderr.write(f"{key}\t{i}\t{exc.strerror or exc}\n")
                raise SystemExit(3) from None
            parse_list(text, into, allow)
            continue
        path = spec.local_path(source)
        if spec.wants_download(source, now):
            got = fetch.download(source, spec.timeout)
            if isinstance(got, str):
                warnings.append(f"{key}[{i}] {source}: cannot download: {got}; {_kept(path)}")
            else:
                fresh, fresh_allow = Entries(), Entries()
                text = got.decode("utf-8", errors="replace")
                parse_list(text, fresh, fresh if into is allow else fresh_allow)
                if not (len(fresh) or len(fresh_allow)) and os.path.exists(path):
                    warnings.append(f"{key}[{i}] {source}: no entries in it; {_kept(path)}")
                else:
                    try:
                        fetch.save(path, got)
                    except OSError as exc:
                        warnings.append(f"{key}[{i}] {path}: cannot keep a copy: {exc}")
                    parse_list(text, into, allow)
                    continue
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            if not any(w.startswith(f"{key}[{i}] ") for w in warnings):
                warnings.append(f"{key}[{i}] {source}: no downloaded copy yet")
            continue
        parse_list(text, into, allow)
    invalid = block.invalid + allow.invalid
    if invalid:
        warnings.append(f"{invalid} regex line(s) that Python's re does not compile: skipped")
    result = Blocklist.from_entries(block, allow)
    result.warnings = warnings
    sys.stdout.buffer.write(result.to_bytes())
    sys.stdout.buffer.flush()


def _kept(path: str) -> str:
    try:
        when = os.stat(path).st_mtime
    except OSError:
        return "no copy yet: the list is empty until a download succeeds"
    return "keeping the copy of " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


# -- which list and which line (``rootwalk ctl explain``) ------------------------------------
#
# The lookup structures keep no line numbers: 10 bytes a name for a million names is memory
# every question would pay for, while the question "which line blocks this?" is asked by an
# operator now and then. So the lines are found on demand, by reading the lists again (the
# caller runs this in a thread). One C-speed regex pass over each file finds the lines that
# mention the name or one of its parents; only those, and pattern lines when a pattern is what
# matched, are parsed one by one with ``parse_list``, so the answer uses the same syntax rules
# as the lists in force.


@dataclass(frozen=True)
class EntryLine:
    """A list line that speaks for a name: ``key`` (server.blocklists / server.allowlists),
    ``index`` in it, ``source`` (path or URL), ``path`` read, 1-based ``line``, its text, and
    whether it blocks or allows (an allowlist line, or an ``@@`` exception)."""

    key: str
    index: int
    source: str
    path: str
    line: int
    text: str
    allows: bool


def _entry_matches(entries: Entries, name: str) -> bool:
    labels = name.split(".")
    suffixes = [".".join(labels[i:]) for i in range(len(labels))]
    if any(s in entries.names for s in suffixes):
        return True
    if any(s in entries.wild for s in suffixes[1:]):
        return True
    return any(re.search(p, name, re.IGNORECASE) for p in entries.regex)


def _pattern_line(line: str) -> bool:
    return "*" in line or not _REGEX_CHARS.isdisjoint(line) or "/" in line


def find_entries(
    lists: Sequence[tuple[str, int, str, str]], name: str, *, patterns: bool, limit: int = 20
) -> list[EntryLine]:
    """The lines of ``lists`` ((key, index, source, path to read)) that block or allow
    ``name`` (lowercase, no final dot). ``patterns``: also parse every line that may be a
    wildcard or regex entry (when a pattern decided). Unreadable files are skipped."""
    labels = name.split(".")
    suffixes = [".".join(labels[i:]) for i in range(len(labels))]
    mention = re.compile(
        "(?<![a-z0-9_-])(?:" + "|".join(re.escape(s) for s in suffixes) + ")(?![a-z0-9_-])",
        re.IGNORECASE,
    )
    found: list[EntryLine] = []
    for key, index, source, path in lists:
        try:
            text = Path(path).read_text(encoding="utf-8", errors="replace")
        except OSError:
            continue
        allowlist = key == "server.allowlists"
        starts: set[int] = set()
        for m in mention.finditer(text):
            starts.add(text.rfind("\n", 0, m.start()) + 1)
        if patterns:
            pos = 0
            for line in text.splitlines(keepends=True):
                if _pattern_line(line):
                    starts.add(pos)
                pos += len(line)
        for start in sorted(starts):
            end = text.find("\n", start)
            line = text[start : end if end >= 0 else len(text)].rstrip("\r")
            block, allow = Entries(), Entries()
            parse_list(line, allow if allowlist else block, allow)
            if _entry_matches(block, name) or _entry_matches(allow, name):
                number = text.count("\n", 0, start) + 1
                allows = allowlist or not _entry_matches(block, name)
                found.append(EntryLine(key, index, source, path, number, line.strip(), allows))
                if len(found) >= limit:
                    return found
    return found
