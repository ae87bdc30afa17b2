"""What the API serves to browsers, outside the JSON API: the live trends page (one static
HTML file with plain JS, no build step), its favicon, and the OpenAPI page ``/docs``.

Everything is served from the package: ``/docs`` uses a vendored Swagger UI
(``static/swagger/``), so it works without internet access.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse
from starlette.responses import Response

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Where ``create_app`` mounts ``STATIC_DIR``.
STATIC_URL = "/static"
FAVICON = (STATIC_DIR / "favicon.svg").read_bytes()
#: The icon changes only with a release; a day keeps browsers from asking on every visit.
FAVICON_HEADERS = {"Cache-Control": "public, max-age=86400"}

router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def page() -> HTMLResponse:
    """The live top-k page."""
    return HTMLResponse((STATIC_DIR / "index.html").read_bytes())


@router.get("/favicon.ico")
async def favicon() -> Response:
    """The page's icon (SVG), at the path browsers ask for by default."""
    return Response(FAVICON, media_type="image/svg+xml", headers=FAVICON_HEADERS)


@router.get("/docs", response_class=HTMLResponse)
async def docs(request: Request) -> HTMLResponse:
    """Swagger UI over the app's OpenAPI schema, its script and styles served by the app."""
    app = request.app
    root = request.scope.get("root_path", "").rstrip("/")
    assets = f"{root}{STATIC_URL}/swagger"
    return get_swagger_ui_html(
        openapi_url=root + app.openapi_url, title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{root}/favicon.ico",
        # No badge image fetched from validator.swagger.io: nothing leaves the host.
        swagger_ui_parameters={"validatorUrl": None})
