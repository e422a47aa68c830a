"""What the web server needs besides Gradio: routes for the page's own files, and a settled
garbage collector.

``asset_routes`` serves ``<root>/disguise-web/<version>/<file>`` (the ONNX decoder and
onnxruntime-web, ``disguise.serving.web_assets``), cached for good (the version is in the URL)
and compressed once. ``settle`` moves everything alive after loading out of the collector's
sweeps, so that a full collection does not stall a slider event (they cost tens of ms with torch
and gradio loaded; measured in ``bench/app_latency.py``).
"""

from __future__ import annotations

import gc

from .web_assets import IMMUTABLE, ROUTE, WebAssets, encoded


def asset_routes(assets: WebAssets, prefix: str = "") -> list:
    """Starlette routes for the page's decoder and runtime files under ``prefix``."""
    from starlette.concurrency import run_in_threadpool
    from starlette.responses import PlainTextResponse, Response
    from starlette.routing import Route

    async def serve(request):
        found = assets.find(request.path_params["version"], request.path_params["name"])
        if found is None:
            return PlainTextResponse("not found", status_code=404)
        path, media_type = found
        body, encoding = await run_in_threadpool(encoded, path, request.headers.get("accept-encoding", ""))
        headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
        if encoding:
            headers["Content-Encoding"] = encoding
        return Response(body, media_type=media_type, headers=headers)

    return [Route(f"{prefix}/{ROUTE}/{{version}}/{{name}}", serve, methods=["GET", "HEAD"])]


def settle() -> None:
    """After loading: collect once, then freeze what is alive out of later collections."""
    gc.collect()
    gc.freeze()
