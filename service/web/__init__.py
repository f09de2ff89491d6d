"""The web page at `/`: plain HTML, CSS and JavaScript modules (no build step, no CDN, works offline)."""

from service.web.router import web_router

__all__ = ["web_router"]
