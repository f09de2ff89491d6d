"""`web_router(settings)`: the page at `/` and its assets under `/web/`, served from memory.

The assets are the files in `static/` next to this module, read once when the router is built; a name
that is not one of them is a 404 (the path never reaches the file system). The page itself holds no
secret, so it is open even when an API key is configured: the browser sends the key with each API call.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter
from fastapi import Path as PathParam
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from service.settings import Settings

STATIC_DIR = Path(__file__).resolve().parent / "static"
ASSET_PREFIX = "/web"
MEDIA_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
# Everything from this origin; images and video frames also from blob: URLs (heatmaps fetched with the
# Authorization header, the user's own clip); nothing inline, nothing framed.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' blob:; media-src blob:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Cache-Control": "no-cache",
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def read_assets(folder: Path = STATIC_DIR) -> dict[str, tuple[bytes, str]]:
    """`{file name: (bytes, media type)}` for every servable file in `folder` (not recursive)."""
    return {
        path.name: (path.read_bytes(), MEDIA_TYPES[path.suffix])
        for path in sorted(folder.iterdir())
        if path.is_file() and path.suffix in MEDIA_TYPES
    }


def web_router(settings: Settings) -> APIRouter:
    """The page's routes, or an empty router when `settings.web_ui` is off."""
    router = APIRouter(include_in_schema=False)
    if not settings.web_ui:
        return router
    assets = read_assets()
    index, _ = assets["index.html"]

    @router.get("/")
    async def page() -> Response:
        return Response(index, media_type=MEDIA_TYPES[".html"], headers=HEADERS)

    @router.get(ASSET_PREFIX + "/{name}")
    async def asset(name: Annotated[str, PathParam(max_length=64)]) -> Response:
        found = assets.get(name)
        if found is None:
            raise StarletteHTTPException(404, "no such page asset")
        body, media_type = found
        return Response(body, media_type=media_type, headers=HEADERS)

    return router
