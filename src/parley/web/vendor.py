"""Third-party page assets served by the node itself, and the API docs page built on them.

Third-party JavaScript and CSS come from npm (``package.json`` and ``package-lock.json`` at the
repository root, installed by ``scripts/_setup.sh`` with ``npm ci``). The node serves each
package it needs from that ``node_modules`` folder under ``/static/vendor/<name>/``, so no page
loads anything from another host: a site without internet sees the same pages.
"""

from __future__ import annotations

from pathlib import Path

import structlog
from fastapi import FastAPI, HTTPException, status
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

VENDOR_PREFIX = "/static/vendor"
#: mount name -> npm package folder inside node_modules
PACKAGES = {"swagger-ui": "swagger-ui-dist", "uplot": "uplot", "drawflow": "drawflow"}
DOCS_URL = "/api/docs"
OAUTH2_REDIRECT_URL = "/api/docs/oauth2-redirect"


def default_node_modules() -> Path:
    """``node_modules`` at the root of the checkout this code runs from."""
    return Path(__file__).resolve().parents[3] / "node_modules"


def mount_vendor(app: FastAPI, node_modules: Path | None) -> list[str]:
    """Serve each vendored package that is installed; return the names that are missing
    (logged once, with the command that installs them)."""
    folder = node_modules if node_modules is not None else default_node_modules()
    missing: list[str] = []
    for name, package in PACKAGES.items():
        directory = folder / package
        if (directory / "package.json").is_file():
            app.mount(f"{VENDOR_PREFIX}/{name}", StaticFiles(directory=directory),
                      name=f"vendor-{name}")
        else:
            missing.append(package)
    if missing:
        structlog.get_logger("parley.web").warning(
            "web_assets_missing", node_modules=str(folder), packages=missing,
            fix="run `npm ci` at the repository root (scripts/demo and scripts/test do), or "
                "set PARLEY_NODE_MODULES_DIR to the folder holding them")
    return missing


def add_jssip(app: FastAPI, node_modules: Path | None) -> bool:
    """``/static/vendor/jssip.mjs``: npm's JsSIP (CommonJS only) as one ES module for the
    browser phone (parley.web.commonjs), made once at the first request; 503 naming the fix
    when JsSIP is not installed. Returns whether it is."""
    from fastapi.responses import Response

    from parley.web.commonjs import ModuleError, es_module

    folder = node_modules if node_modules is not None else default_node_modules()
    made: list[str] = []

    @app.get(f"{VENDOR_PREFIX}/jssip.mjs", include_in_schema=False)
    async def jssip_module() -> Response:
        if not made:
            try:
                made.append(es_module(folder, "jssip"))
            except (ModuleError, OSError) as exc:
                raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                                    f"the browser phone needs jssip: run `npm ci` at the "
                                    f"repository root, or set PARLEY_NODE_MODULES_DIR ({exc})"
                                    ) from exc
        return Response(made[0], media_type="text/javascript",
                        headers={"Cache-Control": "public, max-age=3600"})

    return (folder / "jssip" / "package.json").is_file()


def add_api_docs(app: FastAPI, *, openapi_url: str, title: str, available: bool) -> None:
    """``/api/docs``: Swagger UI over the node's own copy of swagger-ui-dist; 503 naming the
    fix when that copy is not installed."""
    base = f"{VENDOR_PREFIX}/swagger-ui"

    @app.get(DOCS_URL, include_in_schema=False)
    async def api_docs() -> HTMLResponse:
        if not available:
            raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE,
                                "the API docs page needs swagger-ui-dist: run `npm ci` at the "
                                "repository root, or set PARLEY_NODE_MODULES_DIR")
        return get_swagger_ui_html(
            openapi_url=openapi_url, title=f"{title} API", oauth2_redirect_url=OAUTH2_REDIRECT_URL,
            swagger_js_url=f"{base}/swagger-ui-bundle.js",
            swagger_css_url=f"{base}/swagger-ui.css",
            swagger_favicon_url=f"{base}/favicon-32x32.png",
            swagger_ui_parameters={"validatorUrl": None})  # no badge from validator.swagger.io

    @app.get(OAUTH2_REDIRECT_URL, include_in_schema=False)
    async def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()
