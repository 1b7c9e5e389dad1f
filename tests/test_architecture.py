"""The import graph matches DESIGN.md §2 and §3: pure cores import no I/O, the web layer is an
adapter, and nothing reaches back into the composition root."""

from __future__ import annotations

import ast
import gc
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "parley"

#: Sans-IO packages and modules: protocol and decision logic only (DESIGN.md §1.1).
PURE = ("sip", "sdp", "media", "acd", "ivr", "dialer", "kpi", "events", "ids", "numbering",
        "routes", "scripts")
#: What a pure core may never import: I/O, event loops, databases, web frameworks.
IO_MODULES = ("asyncio", "socket", "selectors", "ssl", "sqlalchemy", "aiosqlite", "asyncpg",
              "fastapi", "starlette", "uvicorn", "httpx", "subprocess", "threading",
              "parley.net", "parley.telephony", "parley.store", "parley.web", "parley.center",
              "parley.app", "parley.bus")
#: Pure modules that read files (audio prompts, flow files) but do no network or loop I/O.
PURE_EXCEPTIONS: dict[str, frozenset[str]] = {}


def modules() -> list[tuple[str, Path]]:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found.append((name, path))
    return found


def parse(path: Path) -> ast.Module:
    """``path``'s syntax tree, built with the cyclic garbage collector paused: CPython 3.11
    fails an ``ast.parse`` with "AST constructor recursion depth mismatch" when a collection
    during it runs finalizers (seen after the PostgreSQL lease tests in the same process)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(path.read_text(encoding="utf-8"))
    finally:
        if enabled:
            gc.enable()


def imports_of(path: Path, package: str | None = None) -> set[str]:
    """Every module a file imports, at any level (also inside functions and TYPE_CHECKING);
    relative imports are resolved against ``package`` (by default the file's own)."""
    tree = parse(path)
    names: set[str] = set()
    if package is None:
        package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)
    return names


def reaches(imported: set[str], forbidden: str) -> bool:
    return any(name == forbidden or name.startswith(forbidden + ".") for name in imported)


def owner(name: str) -> str:
    return name.split(".")[1] if "." in name else name


@pytest.mark.parametrize(("name", "path"), [m for m in modules()
                                             if owner(m[0]) in PURE], ids=lambda v: str(v))
def test_pure_cores_import_no_io(name: str, path: Path) -> None:
    imported = imports_of(path)
    allowed = PURE_EXCEPTIONS.get(name, frozenset())
    bad = sorted(f for f in IO_MODULES if f not in allowed and reaches(imported, f))
    assert not bad, f"{name} is a pure core but imports {bad}"


def test_the_web_layer_is_an_adapter_and_center_never_imports_it() -> None:
    offenders = []
    for name, path in modules():
        imported = imports_of(path)
        layer = owner(name)
        if layer in ("center", "telephony", "store", "acd", "ivr", "dialer", "net", "media",
                     "sip", "sdp", "bus", "webhooks") and reaches(imported, "parley.web"):
            offenders.append(f"{name} -> parley.web")
        if layer != "cli" and name != "parley.app" and reaches(imported, "parley.app") \
                and not name.startswith("parley.testing"):
            offenders.append(f"{name} -> parley.app (the composition root)")
    assert not offenders, offenders


def test_the_web_layer_owns_no_machinery() -> None:
    """Routes, schemas, templates and static files only: the bus, recorders, webhooks and the
    node are built elsewhere and handed in."""
    web = SRC / "web"
    names = {path.stem for path in web.glob("*.py")}
    assert not names & {"bus", "recorder", "recorders", "node", "webhooks", "live"}, names


def test_telephony_never_reads_the_configuration_store_or_provisioning() -> None:
    offenders = []
    for name, path in modules():
        if owner(name) in ("telephony", "net", "sip", "sdp", "media"):
            imported = imports_of(path)
            for forbidden in ("parley.store", "parley.provisioning", "parley.center",
                              "parley.ivr.loader"):
                if reaches(imported, forbidden):
                    offenders.append(f"{name} -> {forbidden}")
    assert not offenders, offenders


def test_the_checker_sees_imports_in_functions_and_relative_ones(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    import asyncio\n    from ..web import app\n")
    imported = imports_of(sample, package="parley.acd")
    assert reaches(imported, "asyncio")
    assert reaches(imported, "parley.web")
    assert not reaches(imported, "parley.webhooks")


def test_the_command_line_and_the_store_load_without_the_shell_or_telephony() -> None:
    """``parley user add``, ``import``, ``export`` and ``migrate`` use the store only: they
    must not load the contact-center shell, telephony or the relay behind it (importing them
    cost over half a second at every command)."""
    import subprocess
    import sys

    probe = ("import sys, parley.cli, parley.store, parley.store.campaigns; "
             "print(' '.join(sorted(sys.modules)))")
    loaded = set(subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True,
                                text=True, timeout=60).stdout.split())
    assert "parley.center.ports" in loaded  # the seams the store uses
    for heavy in ("parley.center.shell", "parley.telephony", "parley.net.relay",
                  "parley.media", "parley.web"):
        assert heavy not in loaded, f"{heavy} is loaded by the command line or the store"
