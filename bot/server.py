"""The HTTP server: Slack, the CRM webhook, health and metrics (and the local workspace)."""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from bot import signing
from bot.inbound import CHAT_MAX_BYTES, Malformed, TooLarge, parse_json, read_limited
from bot.logs import new_id, request_id
from handlers.errors import UserError
from handlers.events import needs_scan, validate_events
from handlers.ingest import ingest_events
from storage.db import write_probe

log = logging.getLogger(__name__)


__all__ = ["create_api", "read_limited", "TooLarge"]


class HealthProbe:
    """The database write probe behind ``/healthz``, with a deadline: one probe runs at a time;
    one that has not answered within ``timeout`` (a partitioned server, a locked file) is
    reported as a failure at once, and the next check waits for it rather than piling up more."""

    def __init__(self, engine, clock, timeout: float):
        self.engine = engine
        self.clock = clock
        self.timeout = timeout
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="health-probe")
        self._future: Future | None = None
        self._lock = threading.Lock()

    def check(self) -> tuple[bool, str | None]:
        with self._lock:
            if self._future is None or self._future.done():
                self._future = self._pool.submit(write_probe, self.engine, self.clock.now())
            future = self._future
        try:
            future.result(self.timeout)
            return True, None
        except FutureTimeout:
            log.error("health: the database did not take a write within %.1fs", self.timeout)
            return False, f"the database did not take a write within {self.timeout:g}s"
        except Exception as e:  # noqa: BLE001 - reported, never raised
            log.error("health: the database cannot take a write: %s", e)
            return False, f"the database cannot take a write: {type(e).__name__}: {str(e)[:200]}"


class Observe:
    """Every request: its id (``X-Request-Id``, honoured and returned), a log line, metrics, and
    a JSON 500 with the id instead of a traceback. A plain ASGI middleware: Starlette's
    ``BaseHTTPMiddleware`` costs each request an extra task and a body stream."""

    def __init__(self, app, metrics):
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), None)
        token = request_id.set(given.decode("latin-1")[:200] if given else new_id())
        rid = request_id.get().encode("latin-1", "replace")
        path = scope["path"]
        started = time.perf_counter()
        status = 500

        done = False

        def record() -> None:
            nonlocal done
            if done:
                return
            done = True
            elapsed = time.perf_counter() - started
            route = path if path in _ROUTES else "other"
            self.metrics.requests.labels(route, str(status)).inc()
            self.metrics.request_seconds.labels(route).observe(elapsed)
            log.info("%s %s -> %d in %.1f ms", scope["method"], path, status, elapsed * 1000)

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (b"x-request-id", rid)]}
            elif message["type"] == "http.response.body" and not message.get("more_body"):
                record()  # logged before the caller has the answer
            await send(message)

        try:
            try:
                await self.app(scope, receive, send_with_id)
            except Exception:
                log.exception("unhandled error on %s", path)
                self.metrics.errors.labels("http").inc()
                status = 500
                await JSONResponse(
                    {"error": "internal error", "ref": request_id.get()},
                    status_code=500,
                    headers={"X-Request-Id": request_id.get()},
                )(scope, receive, send)
            record()
        finally:
            request_id.reset(token)


def create_api(container) -> FastAPI:
    c = container
    api = FastAPI(title="Smarketing Bot", docs_url=None, redoc_url=None, openapi_url=None)

    api.add_middleware(Observe, metrics=c.metrics)

    probe = HealthProbe(c.engine, c.deps.clock, c.settings.health_timeout)

    @api.get("/healthz")
    async def healthz():
        # 200 only when the product can write (the outbox) and deliver (the dispatcher runs and
        # its last claim reached the database); within ``HEALTH_TIMEOUT`` either way.
        db, db_error = await run_in_threadpool(probe.check)
        adapters = {
            "dispatcher": c.dispatcher.running,
            "scheduler": bool(c.scheduler and c.scheduler.sched.running),
            "slack": c.slack is not None,
            "teams": c.teams is not None,
            "local": "local" in c.extras,
            **{f"{k.source}_connector": k.running for k in c.connectors},
        }
        ok = db and c.dispatcher.running and c.dispatcher.last_error is None
        body: dict = {"ok": ok, "database": db, "adapters": adapters}
        if db_error:
            body["database_error"] = db_error
        if c.dispatcher.last_error:
            body["dispatcher_error"] = c.dispatcher.last_error
        return JSONResponse(body, status_code=200 if ok else 503)

    @api.get("/metrics")
    async def metrics():
        def counts():
            from storage.db import read_uow

            with read_uow(c.uow_factory) as uow:
                return uow.outbox.counts()

        c.metrics.set_outbox_depth(await run_in_threadpool(counts))  # read when scraped, not per delivery
        for connector in c.connectors:
            for state, n in (await run_in_threadpool(connector.queue_counts)).items():
                c.metrics.connector_queue.labels(connector.source, state).set(n)
        return Response(c.metrics.render(), media_type="text/plain; version=0.0.4; charset=utf-8")

    @api.post("/webhooks/crm")
    async def crm_webhook(request: Request):
        secret = c.settings.webhook_secret
        if not secret:
            return JSONResponse({"error": "the CRM webhook is not configured: set WEBHOOK_SECRET"}, status_code=503)
        try:
            body = await read_limited(request, c.settings.webhook_max_bytes)
        except TooLarge:
            return JSONResponse(
                {"error": f"body larger than {c.settings.webhook_max_bytes} bytes; send smaller batches"},
                status_code=413,
            )
        try:
            signing.verify(secret, request.headers.get(signing.HEADER), body)
        except signing.SignatureError as e:
            return JSONResponse({"error": str(e)}, status_code=401)
        try:
            raw = parse_json(body)
        except Malformed as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        items = raw if isinstance(raw, list) else [raw]
        if not items:
            return JSONResponse({"error": "empty batch: send one event or a non-empty array"}, status_code=400)
        if len(items) > c.settings.webhook_max_events:
            return JSONResponse(
                {"error": f"{len(items)} events in one request; the limit is {c.settings.webhook_max_events}"},
                status_code=413,
            )
        events, problems = validate_events(items, scan=needs_scan(body))
        if problems:
            c.metrics.webhook_events.labels("rejected").inc(len(items))
            return JSONResponse(
                {
                    "error": f"{len({p.index for p in problems})} of {len(items)} events are invalid; "
                    "nothing was stored",
                    "problems": [p.as_dict() for p in problems],
                },
                status_code=400,
            )
        try:
            accepted, duplicates = await run_in_threadpool(ingest_events, c.registry, c.uow_factory, c.deps, events)
        except UserError as e:
            return JSONResponse({"error": e.text + "; nothing was stored"}, status_code=400)
        c.metrics.webhook_events.labels("accepted").inc(accepted)
        c.metrics.webhook_events.labels("duplicate").inc(duplicates)
        if accepted:
            c.wake()
        return {"accepted": accepted, "duplicates": duplicates}

    @api.post("/webhooks/hubspot")
    async def hubspot_webhook(request: Request):
        """HubSpot's webhook notifications: verified (v3 signature) before parsing, queued, 200 at
        once; the connector reads the objects they name in the background."""
        from bot.connectors.hubspot import webhook as hw

        connector = c.extras.get("hubspot")
        secret = c.settings.hubspot_client_secret
        if connector is None or not secret:
            return JSONResponse(
                {"error": "HubSpot webhooks are not configured: set HUBSPOT_ACCESS_TOKEN and HUBSPOT_CLIENT_SECRET"},
                status_code=503,
            )
        limit = c.settings.hubspot_webhook_max_bytes
        try:
            body = await read_limited(request, limit)
        except TooLarge:
            return JSONResponse({"error": f"body larger than {limit} bytes"}, status_code=413)
        try:
            hw.verify(
                secret,
                method=request.method,
                uri=c.settings.hubspot_webhook_url or str(request.url),
                body=body,
                signature=request.headers.get(hw.SIGNATURE),
                timestamp=request.headers.get(hw.TIMESTAMP),
            )
        except hw.SignatureError as e:
            c.metrics.connector_notifications.labels("hubspot", "unauthorized").inc()
            return JSONResponse({"error": str(e)}, status_code=401)
        try:
            raw = parse_json(body)
        except Malformed as e:
            return JSONResponse({"error": str(e)}, status_code=400)
        problems = hw.problems_in(raw)
        if problems:
            c.metrics.connector_notifications.labels("hubspot", "rejected").inc()
            return JSONResponse(
                {"error": "not HubSpot notifications; nothing was stored", "problems": problems[:50]}, status_code=400
            )
        queued, ignored = await run_in_threadpool(connector.accept_notifications, raw)
        return {"queued": queued, "ignored": ignored}

    if c.slack is not None and c.slack.http_enabled:
        from slack_bolt.adapter.starlette.handler import to_starlette_response
        from slack_sdk.signature import SignatureVerifier

        from bot.slack.http import Refused, verified_request

        verifier = SignatureVerifier(c.settings.slack_signing_secret)

        @api.post("/slack/events")
        async def slack_events(request: Request):
            try:
                raw = await read_limited(request, CHAT_MAX_BYTES)
            except TooLarge:
                return JSONResponse({"error": f"body larger than {CHAT_MAX_BYTES} bytes"}, status_code=413)
            try:
                bolt_request = verified_request(verifier, raw, request.headers, request.query_params)
            except Refused as e:
                return JSONResponse({"error": e.reason}, status_code=e.status)
            # bolt's App is synchronous: run it off the event loop.
            resp = await run_in_threadpool(c.slack.app.dispatch, bolt_request)
            return to_starlette_response(resp)
    else:
        why = "Slack is connected over Socket Mode" if c.slack is not None else "Slack is not configured"

        @api.post("/slack/events")
        async def slack_http_off():
            # Served only with a signing secret: nothing sent here is read, let alone processed.
            return JSONResponse(
                {
                    "error": f"{why}: this server takes no Slack requests over HTTP "
                    "(set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to enable them)"
                },
                status_code=404,
            )

    if c.teams is not None:
        c.teams.mount(api)  # POST /api/messages, with the Teams SDK's token validation
    else:

        @api.post("/api/messages")
        async def teams_not_configured():
            # Like Slack's: not served, nothing read (404), and the answer says how to turn it on.
            return PlainTextResponse(
                "Microsoft Teams is not configured: set TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET and TEAMS_TENANT_ID",
                status_code=404,
            )

    return api


_ROUTES = {"/healthz", "/metrics", "/webhooks/crm", "/webhooks/hubspot", "/slack/events", "/api/messages", "/"}
