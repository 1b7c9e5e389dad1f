"""The project's own page scripts: type-checked with ``tsc --checkJs`` (JSDoc types, strict),
and JsSIP, which npm publishes as CommonJS only, served as one ES module a browser imports."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from parley.testing.needs import NODEJS, needs, node_package
from parley.web.commonjs import ModuleError, es_module

ROOT = Path(__file__).resolve().parents[2]
NODE_MODULES = ROOT / "node_modules"


@needs(node_package("typescript", "bin/tsc"))
def test_the_page_scripts_pass_tsc_check_js() -> None:
    tsc = NODE_MODULES / ".bin" / "tsc"
    result = subprocess.run([str(tsc), "-p", str(ROOT / "tsconfig.json")], cwd=ROOT,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


@needs(node_package("jssip"), NODEJS)
def test_jssip_is_served_as_one_es_module_that_node_imports(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node is not None
    module = tmp_path / "jssip.mjs"
    module.write_text(es_module(NODE_MODULES, "jssip"))
    script = (f"import J from {str(module)!r}; "
              "console.log(J.version, typeof J.UA, typeof J.WebSocketInterface)")
    result = subprocess.run([node, "--input-type=module", "-e", script],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    version = (NODE_MODULES / "jssip" / "package.json").read_text()
    assert result.stdout.split()[1:] == ["function", "function"]
    assert f'"version": "{result.stdout.split()[0]}"' in version


def test_a_require_that_cannot_be_resolved_names_the_file(tmp_path: Path) -> None:
    package = tmp_path / "node_modules" / "broken"
    package.mkdir(parents=True)
    (package / "package.json").write_text('{"main": "index.js"}')
    (package / "index.js").write_text("module.exports = require('./missing');\n")
    with pytest.raises(ModuleError, match=r"index\.js: require\('\./missing'\)"):
        es_module(tmp_path / "node_modules", "broken")
