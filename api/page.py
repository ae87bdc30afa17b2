"""What the services serve to browsers, outside their JSON APIs: the live trends page (one
static HTML file with plain JS, no build step), the icon, and the OpenAPI pages ``/docs``
(Swagger UI) and ``/redoc`` (ReDoc).

Everything is served from the package: both OpenAPI pages use vendored copies
(``static/swagger/``, ``static/redoc/``) instead of FastAPI's defaults, which load them from
a CDN (and ReDoc's fonts from Google Fonts), so they work without internet access, and
their Content-Security-Policy keeps them from fetching anything from another host. The
API and the ingest service both get them through :func:`add_docs`.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from starlette.responses import Response

STATIC_DIR = Path(__file__).resolve().parent / "static"
#: Where ``create_app`` mounts ``STATIC_DIR``.
STATIC_URL = "/static"
#: The vendored OpenAPI page assets, each a folder of ``STATIC_DIR``.
DOCS_ASSETS = ("swagger", "redoc")
FAVICON = (STATIC_DIR / "favicon.svg").read_bytes()
#: The icon changes only with a release; a day keeps browsers from asking on every visit.
FAVICON_HEADERS = {"Cache-Control": "public, max-age=86400"}

#: What the OpenAPI pages may fetch: from their own host only. ReDoc 2 shows its maker's logo
#: from a CDN in the menu, unconditionally; blocked here, the image is left out (ReDoc drops
#: it on error), and nothing leaves the host, whatever a later version adds.
DOCS_CSP = "connect-src 'self'; img-src 'self' data:; font-src 'self' data:"

#: The trends page (the API only).
router = APIRouter(include_in_schema=False)
#: The icon and the OpenAPI pages (the API and the ingest service).
docs_router = APIRouter(include_in_schema=False)


@router.get("/", response_class=HTMLResponse)
async def page() -> HTMLResponse:
    """The live top-k page."""
    return HTMLResponse((STATIC_DIR / "index.html").read_bytes())


@docs_router.get("/favicon.ico")
async def favicon() -> Response:
    """The icon (SVG), at the path browsers ask for by default."""
    return Response(FAVICON, media_type="image/svg+xml", headers=FAVICON_HEADERS)


def _root(request: Request) -> str:
    return request.scope.get("root_path", "").rstrip("/")


@docs_router.get("/docs", response_class=HTMLResponse)
async def docs(request: Request) -> HTMLResponse:
    """Swagger UI over the app's OpenAPI schema, its script and styles served by the app."""
    app, root = request.app, _root(request)
    assets = f"{root}{STATIC_URL}/swagger"
    response = get_swagger_ui_html(
        openapi_url=root + app.openapi_url, title=f"{app.title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{root}/favicon.ico",
        # No badge image fetched from validator.swagger.io: nothing leaves the host.
        swagger_ui_parameters={"validatorUrl": None})
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


@docs_router.get("/redoc", response_class=HTMLResponse)
async def redoc(request: Request) -> HTMLResponse:
    """ReDoc over the app's OpenAPI schema, its script served by the app, system fonts."""
    app, root = request.app, _root(request)
    response = get_redoc_html(
        openapi_url=root + app.openapi_url, title=f"{app.title} - ReDoc",
        redoc_js_url=f"{root}{STATIC_URL}/redoc/redoc.standalone.js",
        redoc_favicon_url=f"{root}/favicon.ico", with_google_fonts=False)
    response.headers["Content-Security-Policy"] = DOCS_CSP
    return response


def add_docs(app: FastAPI) -> None:
    """Serve ``/docs``, ``/redoc`` and the icon from the package on ``app`` (built with
    ``docs_url=None, redoc_url=None``, so FastAPI's CDN pages are off)."""
    app.include_router(docs_router)
    for name in DOCS_ASSETS:
        app.mount(f"{STATIC_URL}/{name}", StaticFiles(directory=STATIC_DIR / name),
                  name=f"static-{name}")
