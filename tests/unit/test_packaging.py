"""pyproject.toml against the source: runtime dependencies are the ones src imports."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: Distribution name -> the module it provides, where the two differ.
MODULE_OF = {"dnspython": "dns"}


def _src_imports() -> set[str]:
    names: set[str] = set()
    for path in (ROOT / "src").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names.update(a.name.split(".")[0] for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def _dist(requirement: str) -> str:
    match = re.match(r"[A-Za-z0-9_.-]+", requirement)
    assert match is not None, requirement
    return match.group(0).lower()


def test_runtime_dependencies_are_what_src_imports() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    runtime = {_dist(r) for r in project["dependencies"]}
    imported = _src_imports()
    # Every runtime dependency is used by the package itself (a test-only one, such as
    # aiodns, belongs in the "test" extra: every install would carry it for nothing).
    unused = {d for d in runtime if MODULE_OF.get(d, d) not in imported}
    assert not unused, f"runtime dependencies nothing in src imports: {unused}"
    # And src imports nothing beyond the standard library, itself, the runtime dependencies
    # and the optional "fast" extra (uvloop, imported only when present).
    optional = {_dist(r) for r in project["optional-dependencies"]["fast"]}
    allowed = {MODULE_OF.get(d, d) for d in runtime | optional} | {"rootwalk"}
    foreign = {n for n in imported if n not in sys.stdlib_module_names and n not in allowed}
    assert not foreign, f"src imports packages that are not runtime dependencies: {foreign}"


def test_license_is_an_spdx_string() -> None:
    # A TOML table here makes setuptools >= 77 print a deprecation block on every install.
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["license"] == "MIT"
