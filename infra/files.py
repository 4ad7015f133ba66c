"""The file server of ``snowdays up`` on 127.0.0.1: the catalog folder, and the viewer under ``/viewer/``.

Files are served with HTTP range requests (206 Partial Content: the viewer reads the COGs block by
block) and CORS headers (a page of another origin reads them too); ``/viewer/config.json`` tells the
viewer where the STAC API and the catalog are; ``/point?lon=&lat=&season=[&as_of=]`` answers a point's
season out of the tile stores (``snowdays point --json``). Run as ``python -m infra.files``, settings from the
environment.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp

from snowdays.errors import UsageError
from snowdays.point import point_season
from snowdays.settings import Settings, get_settings
from snowdays.storage import is_s3
from stac.catalog import absolute
from stac.search import api_url

log = logging.getLogger(__name__)
LOCAL = "127.0.0.1"
WEB_DIST = Path(__file__).resolve().parent.parent / "web" / "dist"
"""The built viewer (``make web``)."""
VIEWER = "/viewer"
POINT = "/point"
_EXPOSED = ["Accept-Ranges", "Content-Length", "Content-Range", "Content-Encoding", "ETag", "Last-Modified"]


class _Revalidated(StaticFiles):
    """Files a browser asks again about before using its copy: a republished map replaces its file."""

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "no-cache"
        return response


def viewer_config(settings: Settings) -> dict[str, str]:
    """What the viewer reads in ``config.json``: the STAC API, the catalog's URL and its root (asset
    hrefs under the root are read under the URL), and the day seasons start."""
    return {"stac_api": api_url(settings), "catalog_url": settings.files_url or "/",
            "catalog_root": absolute(settings.stac_catalog), "season_start": settings.season_start,
            "point_url": POINT}


async def point_json(request: Request, settings: Settings) -> Response:
    """A point's season as JSON: 400 for a malformed question, 404 where no stored season answers."""
    query = request.query_params
    try:
        lon, lat = float(query["lon"]), float(query["lat"])
        as_of = date.fromisoformat(query["as_of"]) if query.get("as_of") else None
        label = query["season"]
        settings.season(label)  # a label not written YYYY-YYYY is the asker's mistake
    except (KeyError, ValueError, UsageError) as e:
        return JSONResponse({"error": f"ask for {POINT}?lon=..&lat=..&season=YYYY-YYYY[&as_of=YYYY-MM-DD]"
                                      f" ({e})"}, status_code=400)
    try:
        found = await run_in_threadpool(point_season, settings.store, lon, lat, label, settings, None, as_of)
    except UsageError as e:
        return JSONResponse({"error": str(e)}, status_code=404)
    return JSONResponse(found.to_json(), headers={"Cache-Control": "no-cache"})


def _viewer_files(web: Path) -> ASGIApp:
    if (web / "index.html").is_file():
        return _Revalidated(directory=web, html=True)
    return PlainTextResponse(f"the viewer is not built in {web}: run `make web`", status_code=404)


def make_app(settings: Settings, web: Path = WEB_DIST) -> Starlette:
    """The catalog folder at ``/`` (unless the catalog is on S3), the viewer under ``/viewer/``."""
    config = viewer_config(settings)

    async def config_json(request: Request) -> Response:
        return JSONResponse(config, headers={"Cache-Control": "no-cache"})

    async def to_viewer(request: Request) -> Response:
        return RedirectResponse(f"{VIEWER}/")

    async def point(request: Request) -> Response:
        return await point_json(request, settings)

    routes = [Route(f"{VIEWER}/config.json", config_json), Route(VIEWER, to_viewer), Route(POINT, point),
              Mount(VIEWER, app=_viewer_files(web))]
    if is_s3(settings.stac_catalog):
        if not settings.files_url:
            log.warning("the catalog is on S3: the viewer reads it only once SNOWDAYS_FILES_URL gives "
                        "its HTTP URL (with CORS allowed on the bucket)")
    else:
        routes.append(Mount("/", app=_Revalidated(directory=Path(settings.stac_catalog).resolve())))
    cors = Middleware(CORSMiddleware, allow_origins=["*"], allow_methods=["GET", "HEAD"],
                      allow_headers=["Range", "If-Range", "If-None-Match", "If-Modified-Since"],
                      expose_headers=_EXPOSED)
    return Starlette(routes=routes, middleware=[cors])


def serve(settings: Settings) -> None:
    """Serve until interrupted (SIGINT or SIGTERM)."""
    uvicorn.run(make_app(settings), host=LOCAL, port=settings.files_port, log_level="info")


if __name__ == "__main__":
    serve(get_settings())
