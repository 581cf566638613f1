"""HTTP for the local workspace: the page at ``/`` and the small JSON API its script calls.

Server-rendered HTML plus one vanilla script (``static/app.js``): no build step. Every POST takes
JSON, is validated, and answers 4xx with a sentence saying what was wrong. The workspace has no
login (anyone who can reach it can act as anyone), so it answers only on a loopback host name
unless ALLOW_REMOTE_LOCAL_WORKSPACE is set, and refuses cross-site posts.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from string import Template
from typing import Literal
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from bot.local import clock, demo_data
from bot.local.render import esc
from bot.local.workspace import BadInput, LocalWorkspace
from bot.logs import request_id
from bot.inbound import Malformed, TooLarge, parse_json, read_limited

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
MAX_BODY = 64 * 1024
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


# -- request bodies ------------------------------------------------------------------------
class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_max_length=10_000)


class CommandIn(Body):
    person_id: int = Field(gt=0)
    text: str = Field(max_length=4000)


class ActionIn(Body):
    person_id: int = Field(gt=0)
    key: str | None = Field(default=None, min_length=1, max_length=300)  # None: an ephemeral answer's button
    action: str = Field(min_length=1, max_length=255)
    value: str = Field(default="", max_length=2000)


class FormIn(Body):
    person_id: int = Field(gt=0)
    action: str = Field(min_length=1, max_length=255)
    state: str = Field(default="", max_length=3000)
    values: dict[str, str | None] = Field(default_factory=dict, max_length=100)
    datetimes: list[str] = Field(default_factory=list, max_length=100)

    @field_validator("values")
    @classmethod
    def _names(cls, v: dict) -> dict:
        for name in v:
            if not name or len(name) > 255:
                raise ValueError("each input name must be 1..255 characters")
        return v


class ClockIn(Body):
    to: Literal["hour", "day", "monday"] | None = None
    hours: float | None = Field(default=None, gt=0, le=24 * 62)


class SimulateIn(Body):
    what: Literal["deal", "lead"]


def _problem(err: ValidationError) -> str:
    parts = []
    for e in err.errors()[:5]:
        where = ".".join(str(p) for p in e["loc"]) or "body"
        msg = e["msg"].removeprefix("Value error, ")
        parts.append(f"{where}: {msg}")
    return "; ".join(parts)


async def _parse(request: Request, model: type[Body]) -> Body:
    ctype = request.headers.get("content-type", "")
    if not ctype.split(";")[0].strip().lower() == "application/json":
        raise BadInput("Send the request as JSON (Content-Type: application/json).", 415)
    try:
        raw = await read_limited(request, MAX_BODY)
    except TooLarge:
        raise BadInput(f"The request is larger than {MAX_BODY // 1024} KB.", 413) from None
    try:
        data = parse_json(raw)
    except Malformed as e:
        raise BadInput(f"The request body is not usable: {e}.") from None
    if not isinstance(data, dict):
        raise BadInput("The request body must be a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as e:
        raise BadInput(f"Bad request: {_problem(e)}.") from None


@dataclass
class ImportIn:
    filename: str
    kind: str | None
    dry_run: bool
    order: str | None


def _import_options(request: Request) -> ImportIn:
    from bot.imports.headers import KINDS

    q = request.query_params
    filename = (q.get("filename") or "").strip()
    if not filename or len(filename) > 255 or any(c in filename for c in "/\\\0"):
        raise BadInput("Give the file's name (filename=leads.csv), without folders.")
    kind = q.get("kind") or None
    if kind is not None and kind not in KINDS:
        raise BadInput(f"kind must be one of {', '.join(KINDS)} (or left out to guess).")
    dry = (q.get("dry_run") or "0").lower()
    if dry not in ("0", "1", "true", "false"):
        raise BadInput("dry_run must be 0 or 1.")
    order = q.get("order") or None
    if order not in (None, "dmy", "mdy"):
        raise BadInput("order must be dmy (day first) or mdy (month first).")
    return ImportIn(filename, kind, dry in ("1", "true"), order)


def _size(n: int) -> str:
    return f"{n / 1048576:g} MB" if n >= 1048576 else f"{n / 1024:g} KB" if n >= 1024 else f"{n} bytes"


async def _spool(request: Request, limit: int) -> Path:
    """The request body into a temporary file, refusing (413) past ``limit`` bytes."""
    too_large = BadInput(
        f"The file is larger than {_size(limit)}: import it with `python -m bot import FILE` instead.", 413
    )
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise too_large
    fd, name = tempfile.mkstemp(prefix="smarketing-import-")
    path = Path(name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_large
                f.write(chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    if size == 0:
        path.unlink(missing_ok=True)
        raise BadInput("The file is empty.")
    return path


def _int_param(
    request: Request, name: str, *, default: int | None = None, low: int = 0, high: int = 2**62
) -> int | None:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or not (low <= int(raw) <= high):
        raise BadInput(f"{name} must be a whole number from {low} to {high}.")
    return int(raw)


# -- the page ------------------------------------------------------------------------------
def _asset_version() -> str:
    h = hashlib.sha1()
    for f in sorted(STATIC.iterdir()):
        h.update(f.read_bytes())
    return h.hexdigest()[:10]


def _state_json(state: dict) -> str:
    # Inside <script type="application/json">: only "</" could end it early.
    return json.dumps(state, separators=(",", ":")).replace("<", "\\u003c").replace(">", "\\u003e")


def mount_local_workspace(api: FastAPI, container) -> LocalWorkspace:
    """Add the local workspace to ``api``: restore the simulated clock, load the demo company
    into an empty database (``DEMO_DATA``), and serve the page and its API."""
    ws = LocalWorkspace(container)
    container.extras["local"] = ws
    clock.restore(container)
    try:
        demo_data.ensure(container)
    except Exception:  # noqa: BLE001 - a flow in progress must not keep the page from serving
        log.exception("loading the demo data failed; the workspace starts without it")
    page = Template((TEMPLATES / "page.html").read_text(encoding="utf-8"))
    version = _asset_version()
    settings = container.settings

    def host_ok(request: Request) -> bool:
        if settings.allow_remote_local_workspace:
            return True
        host = urlsplit("//" + request.headers.get("host", "")).hostname or ""
        return host in LOOPBACK or host == settings.host

    def origin_ok(request: Request) -> bool:
        origin = request.headers.get("origin")
        return origin is None or urlsplit(origin).netloc == request.headers.get("host", "")

    async def call(request: Request, fn, *args, **kwargs):
        """Run ``fn`` off the event loop; input problems become 4xx with their sentence."""
        if not host_ok(request):
            return JSONResponse(
                {"error": "The local workspace answers only on 127.0.0.1 or localhost."}, status_code=403
            )
        if request.method == "POST" and not origin_ok(request):
            return JSONResponse({"error": "Cross-site requests are refused."}, status_code=403)
        try:
            if request.method == "POST" and "model" in kwargs:
                body = await _parse(request, kwargs.pop("model"))
                args = (body, *args)
            return JSONResponse(await run_in_threadpool(fn, *args, **kwargs))
        except BadInput as e:
            return JSONResponse({"error": e.text}, status_code=e.status)
        except Exception:  # noqa: BLE001 - the person gets a short answer, the log the rest
            log.exception("local workspace request failed")
            container.metrics.errors.labels("local").inc()
            return JSONResponse(
                {"error": f"Something went wrong on our side (ref {request_id.get()}); it has been logged."},
                status_code=500,
            )

    @api.get("/", response_class=HTMLResponse)
    async def index(request: Request):
        if not host_ok(request):
            return HTMLResponse("The local workspace answers only on 127.0.0.1 or localhost.", status_code=403)
        state = await run_in_threadpool(ws.initial_state)
        html = page.substitute(company=esc(state["company"]), state=_state_json(state), v=version)
        return HTMLResponse(
            html,
            headers={
                "Content-Security-Policy": CSP,
                "Cache-Control": "no-store",
                "X-Content-Type-Options": "nosniff",
                "Referrer-Policy": "no-referrer",
            },
        )

    @api.get("/local/api/state")
    async def state(request: Request):
        return await call(request, ws.initial_state)

    @api.get("/local/api/messages")
    async def messages(request: Request):
        def run():
            conv = request.query_params.get("conversation", "")
            before = _int_param(request, "before", low=1)
            limit = _int_param(request, "limit", default=50, low=1, high=200)
            return ws.history(conv, before=before, limit=limit)

        return await call(request, run)

    @api.get("/local/api/home")
    async def home(request: Request):
        return await call(request, lambda: ws.home(_int_param(request, "person_id", low=1) or 0))

    @api.get("/local/api/changes")
    async def changes(request: Request):
        def run():
            after = _int_param(request, "after", default=0)
            return ws.changes(after, request.query_params.get("conversation") or None)

        return await call(request, run)

    @api.post("/local/api/command")
    async def command(request: Request):
        return await call(request, lambda b: ws.command(b.person_id, b.text), model=CommandIn)

    @api.post("/local/api/action")
    async def action(request: Request):
        return await call(request, lambda b: ws.action(b.person_id, b.key, b.action, b.value), model=ActionIn)

    @api.post("/local/api/form")
    async def form(request: Request):
        return await call(
            request, lambda b: ws.submit(b.person_id, b.action, b.state, b.values, b.datetimes), model=FormIn
        )

    @api.post("/local/api/clock")
    async def move_clock(request: Request):
        return await call(request, lambda b: ws.move_clock(to=b.to, hours=b.hours), model=ClockIn)

    @api.post("/local/api/simulate")
    async def simulate(request: Request):
        return await call(request, lambda b: ws.simulate(b.what), model=SimulateIn)

    @api.post("/local/api/import")
    async def import_file(request: Request):
        """A spreadsheet dropped on the page: the raw file as the body (streamed to a temporary
        file, up to IMPORT_MAX_BYTES), its name and the options in the query string."""
        if not host_ok(request):
            return JSONResponse(
                {"error": "The local workspace answers only on 127.0.0.1 or localhost."}, status_code=403
            )
        if not origin_ok(request):
            return JSONResponse({"error": "Cross-site requests are refused."}, status_code=403)
        try:
            opts = _import_options(request)
            path = await _spool(request, settings.import_max_bytes)
        except BadInput as e:
            return JSONResponse({"error": e.text}, status_code=e.status)
        try:
            return await call(request, ws.import_file, path, opts)
        finally:
            path.unlink(missing_ok=True)

    @api.get("/local/images/{key:path}")
    async def image(request: Request, key: str):
        """A stored chart, shown inline in the workspace's messages."""
        if not host_ok(request):
            return Response("The local workspace answers only on 127.0.0.1 or localhost.", status_code=403)
        if len(key) > 300:
            return Response("No such image.", status_code=404, media_type="text/plain")

        def load():
            from storage.db import read_uow

            with read_uow(container.uow_factory) as uow:
                return uow.scoreboard.image(key)

        found = await run_in_threadpool(load)
        if found is None:
            return Response("No such image.", status_code=404, media_type="text/plain")
        return Response(
            found.data,
            media_type=found.content_type,
            headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
        )

    api.mount("/local/static", StaticFiles(directory=STATIC), name="local-static")
    return ws
