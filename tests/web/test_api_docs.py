"""The API docs page is served whole by the node: its script, style and icon come from the
node's own copy of swagger-ui-dist (npm), never from another host."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin, urlsplit

import httpx
import pytest
from structlog.testing import capture_logs

from parley.testing.api import ApiServer
from parley.web.vendor import default_node_modules


class References(HTMLParser):
    """Every URL an HTML page makes the browser load: ``src`` and ``href`` attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.urls += [value for name, value in attrs if name in ("src", "href") and value]


def references(page: str) -> list[str]:
    parser = References()
    parser.feed(page)
    # the OpenAPI document the script loads: SwaggerUIBundle({url: '...'})
    return parser.urls + re.findall(r"\burl:\s*'([^']+)'", page)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ApiServer]:
    with ApiServer(f"sqlite+aiosqlite:///{tmp_path / 'parley.sqlite3'}") as server:
        yield server


def test_the_docs_page_loads_every_asset_from_the_node_itself(server: ApiServer) -> None:
    origin = urlsplit(server.url).netloc
    with httpx.Client(base_url=server.url, timeout=30) as client:
        page = client.get("/api/docs")
        assert page.status_code == 200
        urls = references(page.text)
        assert len(urls) >= 4  # style, icon, script, OpenAPI document
        assert not re.search(r"https?://|['\"]//", page.text), "the page names another host"
        for url in urls:
            assert urlsplit(urljoin(f"{server.url}/api/docs", url)).netloc == origin, url
            asset = client.get(urljoin("/api/docs", url))
            assert asset.status_code == 200, url
            assert asset.content, url
        script = client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    installed = default_node_modules() / "swagger-ui-dist" / "swagger-ui-bundle.js"
    assert script.content == installed.read_bytes()
    assert script.headers["content-type"].startswith(("text/javascript",
                                                      "application/javascript"))


def test_only_the_vendored_package_is_served_not_all_of_node_modules(
        server: ApiServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get("/static/vendor/swagger-ui/package.json").status_code == 200
        for path in ("/static/vendor/swagger-ui/../../../package.json",
                     "/static/vendor/swagger-ui/%2e%2e/%2e%2e/package-lock.json",
                     "/static/vendor/node_modules/swagger-ui-dist/index.html",
                     "/static/vendor/swagger-ui-dist/index.html"):
            assert client.get(path).status_code == 404, path


def test_without_the_npm_packages_the_docs_page_says_how_to_install_them(
        tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'parley.sqlite3'}"
    with capture_logs() as logs, \
            ApiServer(url, node_modules=tmp_path / "no-node-modules") as server, \
            httpx.Client(base_url=server.url, timeout=30) as client:
        page = client.get("/api/docs")
        assert page.status_code == 503
        assert "npm ci" in page.json()["detail"]
        assert client.get("/api/openapi.json").status_code == 200  # the API itself works
    [missing] = [line for line in logs if line["event"] == "web_assets_missing"]
    assert missing["log_level"] == "warning"
    assert missing["packages"] == ["swagger-ui-dist", "uplot", "drawflow"]  # what pages serve
    assert missing["node_modules"] == str(tmp_path / "no-node-modules")
