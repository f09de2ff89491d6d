"""The page and its assets over HTTP (no browser): what is served, with which headers, and the switch."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from service.app import create_app
from service.settings import Settings
from service.web.router import CONTENT_SECURITY_POLICY, STATIC_DIR, read_assets


@pytest.fixture()
def client() -> TestClient:
    # no lifespan: the page needs no model, so nothing is loaded
    return TestClient(create_app(Settings(models=["unused"], api_key="s3cret")))


def test_the_page_and_every_asset_it_names_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert page.headers["x-content-type-options"] == "nosniff"
    named = set(re.findall(r'(?:href|src)="(/web/[^"]+)"', page.text))
    assert {"/web/app.js", "/web/style.css"} <= named
    for path in sorted(named):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert client.get("/web/app.js").headers["content-type"] == "text/javascript; charset=utf-8"


def test_module_imports_resolve_and_nothing_comes_from_another_origin() -> None:
    assets = read_assets()
    for name, (body, _) in assets.items():
        text = body.decode("utf-8")
        for imported in re.findall(r'from\s+"\./([^"]+)"', text):
            assert imported in assets, f"{name} imports ./{imported}, which is not served"
        # works offline: no CDN, no font service; the only absolute URL is the SVG namespace
        urls = set(re.findall(r"https?://[^\s\"')]+", text)) - {"http://www.w3.org/2000/svg"}
        assert urls == set(), f"{name} refers to {urls}"
    assert {path.name for path in STATIC_DIR.iterdir() if path.suffix in (".js", ".css", ".html")} <= set(
        assets
    )


def test_unknown_assets_are_404_in_the_error_envelope(client: TestClient) -> None:
    for path in ("/web/nope.js", "/web/..%2Frouter.py", "/web/%2e%2e%2fsettings.py", "/web/"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.json()["error"]["code"] == "not_found"


def test_the_page_is_open_while_the_api_needs_the_key(client: TestClient) -> None:
    assert client.get("/").status_code == 200
    assert client.get("/v1/models").status_code == 401
    paths = client.get("/openapi.json").json()["paths"]
    assert "/" not in paths and not any(path.startswith("/web") for path in paths)


def test_the_setting_turns_the_page_off() -> None:
    client = TestClient(create_app(Settings(models=["unused"], web_ui=False)))
    for path in ("/", "/web/app.js"):
        response = client.get(path)
        assert response.status_code == 404 and response.json()["error"]["code"] == "not_found"
