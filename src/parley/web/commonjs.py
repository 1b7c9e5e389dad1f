"""One ES module made, in memory, from an npm package published as CommonJS only (JsSIP).

Pages load the project's ES modules without a bundler, but JsSIP ships CommonJS files
(``require``/``module.exports``) and no browser build. :func:`es_module` reads the package and
every file it ``require``s with a string literal, from ``node_modules`` as npm installed it,
wraps each in a function, and adds a 20-line ``require`` over that table; the result is served
as one ES module whose default export is the package's ``module.exports``. Nothing is copied
into the repository and nothing is rewritten inside the files. Resolution follows Node's for
what such packages use: relative files (``.js``, ``.json``, ``index.js``), and packages by
their ``browser`` field (a string), else ``main``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

REQUIRE = re.compile(r"""\brequire\(\s*(['"])([^'"]+)\1\s*\)""")


class ModuleError(ValueError):
    """A ``require`` that cannot be resolved; the message names the file and the name."""


def _file(candidate: Path) -> Path | None:
    for path in (candidate, candidate.with_name(candidate.name + ".js"),
                 candidate.with_name(candidate.name + ".json"), candidate / "index.js"):
        if path.is_file():
            return path.resolve()
    return None


def _package_entry(folder: Path) -> Path | None:
    manifest = folder / "package.json"
    if not manifest.is_file():
        return None
    data = json.loads(manifest.read_text(encoding="utf-8"))
    entry = data.get("browser") if isinstance(data.get("browser"), str) else data.get("main")
    return _file(folder / (entry or "index.js"))


def _resolve(name: str, importer: Path, node_modules: Path) -> Path:
    if name.startswith(("./", "../")):
        found = _file(importer.parent / name)
    else:
        found = None
        for folder in (*importer.parents, node_modules.parent):  # nearest node_modules first
            candidate = folder / "node_modules" / name
            if candidate.is_dir():
                found = _package_entry(candidate)
            elif candidate.parent.is_dir():
                found = _file(candidate)
            if found is not None:
                break
    if found is None:
        raise ModuleError(f"{importer}: require({name!r}) cannot be resolved under "
                          f"{node_modules}")
    return found


LOADER = """
const cache = new Map();
function load(id) {
  if (cache.has(id)) return cache.get(id).exports;
  const module = { exports: {} };
  cache.set(id, module);
  const [factory, names] = modules[id];
  factory.call(module.exports, module, module.exports, (name) => load(names[name]));
  return module.exports;
}
"""


def es_module(node_modules: Path, package: str) -> str:
    """The ES module text for ``package`` (default export: its ``module.exports``)."""
    entry = _package_entry(node_modules / package)
    if entry is None:
        raise ModuleError(f"{node_modules / package}: not installed (run npm ci)")
    ids: dict[Path, int] = {}
    order: list[Path] = []
    pending = [entry]
    links: dict[Path, dict[str, Path]] = {}
    while pending:
        path = pending.pop()
        if path in ids:
            continue
        ids[path] = len(order)
        order.append(path)
        text = path.read_text(encoding="utf-8")
        names: dict[str, Path] = {}
        if path.suffix != ".json":
            for match in REQUIRE.finditer(text):
                names[match.group(2)] = _resolve(match.group(2), path, node_modules)
        links[path] = names
        pending.extend(names.values())
    parts = [f"// {package}, served from npm's node_modules as one ES module "
             "(parley.web.commonjs)", "const modules = {};"]
    for path in order:
        text = path.read_text(encoding="utf-8")
        body = f"module.exports = {text};" if path.suffix == ".json" else text
        table = json.dumps({name: ids[target] for name, target in links[path].items()})
        where = path.relative_to(node_modules.resolve()).as_posix() \
            if path.is_relative_to(node_modules.resolve()) else path.name
        parts.append(f"// {where}\nmodules[{ids[path]}] = [function (module, exports, "
                     f"require) {{\n{body}\n}}, {table}];")
    parts.append(LOADER)
    parts.append("export default load(0);")
    return "\n".join(parts) + "\n"
