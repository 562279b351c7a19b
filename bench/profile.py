"""Where a server's time goes: ``py-spy record`` on a running rootwalk, summarised as text.

py-spy samples the process from outside. The cache-hit profile has native frames, so that time
inside uvloop and the system calls shows up too; native stacks need the process paused for each
sample, so that profile is taken in a run of its own. The cold-path profile is Python frames
only, read without pausing, during the measured cold run. The summary lists functions by self
time and by inclusive time, as shares of all samples.
"""

from __future__ import annotations

import collections
import shutil
import subprocess
import sys
from pathlib import Path


def available() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")  # installed in the same venv
    return str(beside) if beside.exists() else shutil.which("py-spy")


def record(pid: int, seconds: float, raw: Path, *, native: bool, rate: int = 250) -> str | None:
    """Sample ``pid`` for ``seconds``; returns None on success, else why not.

    ``native`` adds C frames (uvloop, system calls) but pauses the process at each sample, so
    it is only for runs that measure nothing; without it py-spy reads the process's memory
    while it runs (``--nonblocking``).
    """
    exe = available()
    if exe is None:
        return "py-spy is not installed (pip install py-spy)"
    argv = [exe, "record", "--pid", str(pid), "--duration", f"{max(1, int(seconds))}"]
    argv += ["--rate", str(rate), "--format", "raw", "--output", str(raw)]
    argv += ["--native"] if native else ["--nonblocking"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + 60, check=False)
    if proc.returncode != 0 or not raw.exists():
        return f"py-spy failed ({proc.returncode}): {proc.stderr.strip()[-500:]}"
    return None


def _short(frame: str) -> str:
    # "func (path/to/module.py:123)" -> "func (module.py)"; native frames keep their name.
    name, _, where = frame.partition(" (")
    if not where:
        return name
    path = where.rstrip(")").rsplit(":", 1)[0]
    return f"{name} ({path.rsplit('/', 1)[-1]})"


def _modules(frame: str) -> set[str]:
    """ "f (rootwalk/dnssec/crypto.py:12)" -> {"rootwalk/dnssec/crypto.py", "rootwalk/dnssec/"}.

    Empty for frames outside rootwalk; a module of a subpackage also counts for the package.
    """
    _, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    i = path.find("rootwalk/")
    if i < 0:
        return set()
    path = path[i:]
    parts = path.split("/")
    return {path} | ({"/".join(parts[:2]) + "/"} if len(parts) > 2 else set())


def summarise(raw: Path, top: int = 40) -> str:
    """Self and inclusive time per function from py-spy's collapsed stacks."""
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    # Inclusive time per rootwalk module and package (rootwalk/dnssec/ is validation), so a
    # profile tells how much of the cold path one part of the engine takes, callees included.
    modules: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";")]
        total += n
        own[frames[-1]] += n
        for f in set(frames[1:]):  # the first frame is the process/thread name
            inclusive[f] += n
        for m in set().union(*(_modules(f) for f in stack.split(";"))):
            modules[m] += n
    if total == 0:
        return "no samples (the process was idle?)\n"
    out = [
        f"{total} samples (epoll_pwait as the leaf: the loop waiting for packets)\n",
        "self time:",
    ]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in own.most_common(top)]
    out += ["", "inclusive time:"]
    out += [f"  {100 * n / total:5.1f}%  {f}" for f, n in inclusive.most_common(top)]
    out += ["", "inclusive time by rootwalk package/ and module (callees included):"]
    out += [f"  {100 * n / total:5.1f}%  {m}" for m, n in modules.most_common(top)]
    return "\n".join(out) + "\n"
