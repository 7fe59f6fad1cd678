"""The dashboard's web app (FastAPI) and its server (uvicorn).

Only ``GET`` routes exist: the dashboard reads and never writes. Every
response carries a Content-Security-Policy that allows no inline script and
nothing from another origin; plotly.js is served from the installed
``plotly`` package, so the pages work without a network.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import plotly
import plotly.offline
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response

from mlops.config import validate_project_name
from mlops.dashboard import pages, views
from mlops.dashboard.data import DashboardData, ProjectData
from mlops.dashboard.security import (
    COOKIE,
    check_bind,
    host_allowed,
    is_loopback,
    presented_token,
    token_matches,
)
from mlops.errors import InvalidInputError, NotFoundError

__all__ = ["create_app", "serve"]

logger = logging.getLogger("mlops.dashboard")
_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": _CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}
# Draws every chart fragment (see charts.py) once plotly.js has loaded.
_DASHBOARD_JS = """
document.querySelectorAll("div.chart[data-figure]").forEach(function (div) {
  var fig = JSON.parse(document.getElementById(div.dataset.figure).textContent);
  Plotly.newPlot(div, fig.data, fig.layout, {responsive: true, displaylogo: false});
});
"""
Handler = Callable[[Request], Awaitable[Response]]


def create_app(
    root: Path, project: str | None = None, token: str | None = None, host: str = "127.0.0.1"
) -> FastAPI:
    """The dashboard of the projects under ``root`` (or of ``project`` only).

    Args:
        root: Repository root holding ``.mlops/``.
        project: Serve this project only; None serves every project found.
        token: Required on every request when set (see :mod:`mlops.dashboard.security`).
        host: The address the server binds; off loopback a token is required.

    Raises:
        ConfigurationError: ``host`` is not loopback and ``token`` is None.
    """
    check_bind(host, token)
    data = DashboardData(root, project)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        data.close()

    app = FastAPI(
        title="mlops dashboard", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan
    )
    app.state.data = data
    app.middleware("http")(_guard(token, loopback_only=is_loopback(host)))
    _static_routes(app)
    _page_routes(app, data)
    return app


def _guard(token: str | None, loopback_only: bool) -> Callable[[Request, Handler], Any]:
    async def guard(request: Request, call_next: Handler) -> Response:
        if token is None and loopback_only and not host_allowed(request.headers.get("host")):
            # DNS rebinding: a page from elsewhere reaching 127.0.0.1 under its own name.
            return PlainTextResponse("forbidden host", status_code=403, headers=_HEADERS)
        if token is not None:
            refused = _check_token(request, token)
            if refused is not None:
                return refused
        response = await call_next(request)
        response.headers.update(_HEADERS)
        return response

    return guard


def _check_token(request: Request, token: str) -> Response | None:
    given = presented_token(request.query_params, request.headers, request.cookies)
    if given is None:
        return PlainTextResponse(
            "a token is required: open this page with ?token=<token>",
            status_code=401,
            headers={**_HEADERS, "WWW-Authenticate": "Bearer"},
        )
    if not token_matches(given, token):
        return PlainTextResponse("wrong token", status_code=403, headers=_HEADERS)
    if request.query_params.get("token"):
        # Keep the token out of the address bar and history: set the cookie, drop the query.
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        target = request.url.path + (f"?{urlencode(rest)}" if rest else "")
        redirect = RedirectResponse(target, status_code=303, headers=_HEADERS)
        redirect.set_cookie(COOKIE, token, httponly=True, samesite="strict", path="/")
        return redirect
    return None


def _static_routes(app: FastAPI) -> None:
    plotly_js = plotly.offline.get_plotlyjs().encode()
    cache = {"Cache-Control": "private, max-age=86400"}

    @app.get("/static/plotly.min.js", include_in_schema=False)
    def plotly_bundle() -> Response:
        return Response(plotly_js, media_type="text/javascript", headers=cache)

    @app.get("/static/dashboard.js", include_in_schema=False)
    def dashboard_js() -> Response:
        return Response(_DASHBOARD_JS, media_type="text/javascript", headers=cache)

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> PlainTextResponse:
        return PlainTextResponse(f"ok plotly {plotly.__version__}")


def _page_routes(app: FastAPI, data: DashboardData) -> None:
    @app.exception_handler(NotFoundError)
    async def not_found(request: Request, exc: NotFoundError) -> HTMLResponse:
        body = pages.layout("Not found", f"<p>{pages.e(exc.message)}</p>")
        return HTMLResponse(body, status_code=404)

    @app.get("/", response_class=HTMLResponse)
    def index() -> str:
        if data.only is not None:
            return views.overview_page(data.project_data(data.only))
        return views.index_page(data)

    @app.get("/p/{project}", response_class=HTMLResponse)
    def overview(project: str) -> str:
        return views.overview_page(_project(data, project))

    @app.get("/p/{project}/runs", response_class=HTMLResponse)
    def runs(project: str) -> str:
        return views.runs_page(_project(data, project))

    @app.get("/p/{project}/runs/{run_id}", response_class=HTMLResponse)
    def run(project: str, run_id: str) -> str:
        return views.run_page(_project(data, project), run_id)

    @app.get("/p/{project}/data", response_class=HTMLResponse)
    def data_versions(project: str) -> str:
        return views.data_page(_project(data, project))

    @app.get("/p/{project}/models", response_class=HTMLResponse)
    def models(project: str) -> str:
        return views.models_page(_project(data, project))

    @app.get("/p/{project}/monitoring", response_class=HTMLResponse)
    def monitoring(project: str) -> str:
        return views.monitoring_page(_project(data, project))

    @app.get("/p/{project}/lineage", response_class=HTMLResponse)
    def lineage(project: str, model: str | None = None, version: str | None = None) -> str:
        return views.lineage_page(_project(data, project), model, version)


def _project(data: DashboardData, name: str) -> ProjectData:
    try:
        validate_project_name(name)
    except InvalidInputError as exc:
        raise NotFoundError(f"no project called {name!r}") from exc
    if data.only is None and name not in data.projects():
        raise NotFoundError(f"no project called {name!r} under {data.root}")
    return data.project_data(name)


def serve(
    root: Path,
    *,
    project: str | None,
    host: str,
    port: int,
    token: str | None,
    log_level: str = "warning",
) -> None:
    """Build the app and run it with uvicorn until Ctrl-C or SIGTERM."""
    app = create_app(root, project, token, host)
    config = uvicorn.Config(
        app, host=host, port=port, log_level=log_level, access_log=False, server_header=False
    )
    try:
        uvicorn.Server(config).run()
    except KeyboardInterrupt:
        # uvicorn shut down gracefully, then re-raised the Ctrl-C it caught: a normal end.
        logger.debug("dashboard stopped")
