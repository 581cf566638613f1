"""The HTTP server: Slack, the CRM webhook, health and metrics (and the local workspace)."""

from __future__ import annotations

import logging
import time

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from bot import signing
from bot.inbound import CHAT_MAX_BYTES, Malformed, TooLarge, parse_json, read_limited
from bot.logs import new_id, request_id
from handlers.errors import UserError
from handlers.events import needs_scan, validate_events
from handlers.ingest import ingest_events
from storage.db import ping

log = logging.getLogger(__name__)


__all__ = ["create_api", "read_limited", "TooLarge"]


def create_api(container) -> FastAPI:
    c = container
    api = FastAPI(title="Smarketing Bot", docs_url=None, redoc_url=None, openapi_url=None)

    @api.middleware("http")
    async def observe(request: Request, call_next):
        token = request_id.set(request.headers.get("x-request-id") or new_id())
        started = time.perf_counter()
        route = request.url.path if request.url.path in _ROUTES else "other"
        try:
            response = await call_next(request)
        except Exception:
            log.exception("unhandled error on %s", request.url.path)
            c.metrics.errors.labels("http").inc()
            response = JSONResponse({"error": "internal error", "ref": request_id.get()}, status_code=500)
        elapsed = time.perf_counter() - started
        c.metrics.requests.labels(route, str(response.status_code)).inc()
        c.metrics.request_seconds.labels(route).observe(elapsed)
        log.info("%s %s -> %d in %.1f ms", request.method, request.url.path, response.status_code, elapsed * 1000)
        response.headers["X-Request-Id"] = request_id.get()
        request_id.reset(token)
        return response

    @api.get("/healthz")
    async def healthz():
        db = await run_in_threadpool(ping, c.engine)
        adapters = {
            "dispatcher": c.dispatcher.running,
            "scheduler": bool(c.scheduler and c.scheduler.sched.running),
            "slack": c.slack is not None,
            "teams": c.teams is not None,
            "local": "local" in c.extras,
            **{f"{k.source}_connector": k.running for k in c.connectors},
        }
        ok = db and c.dispatcher.running
        return JSONResponse({"ok": ok, "database": db, "adapters": adapters}, status_code=200 if ok else 503)

    @api.get("/metrics")
    async def metrics():
        def counts():
            with c.uow_factory() as uow:
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
            return JSONResponse({"error": f"body larger than {c.settings.webhook_max_bytes} bytes; "
                                          "send smaller batches"}, status_code=413)
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
            return JSONResponse({"error": f"{len(items)} events in one request; the limit is "
                                          f"{c.settings.webhook_max_events}"}, status_code=413)
        events, problems = validate_events(items, scan=needs_scan(body))
        if problems:
            c.metrics.webhook_events.labels("rejected").inc(len(items))
            return JSONResponse({"error": f"{len({p.index for p in problems})} of {len(items)} events are invalid; "
                                          "nothing was stored", "problems": [p.as_dict() for p in problems]},
                                status_code=400)
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
            return JSONResponse({"error": "HubSpot webhooks are not configured: set HUBSPOT_ACCESS_TOKEN and "
                                          "HUBSPOT_CLIENT_SECRET"}, status_code=503)
        limit = c.settings.hubspot_webhook_max_bytes
        try:
            body = await read_limited(request, limit)
        except TooLarge:
            return JSONResponse({"error": f"body larger than {limit} bytes"}, status_code=413)
        try:
            hw.verify(secret, method=request.method, uri=c.settings.hubspot_webhook_url or str(request.url),
                      body=body, signature=request.headers.get(hw.SIGNATURE),
                      timestamp=request.headers.get(hw.TIMESTAMP))
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
            return JSONResponse({"error": "not HubSpot notifications; nothing was stored", "problems": problems[:50]},
                                status_code=400)
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
        why = ("Slack is connected over Socket Mode" if c.slack is not None else "Slack is not configured")

        @api.post("/slack/events")
        async def slack_http_off():
            # Served only with a signing secret: nothing sent here is read, let alone processed.
            return JSONResponse({"error": f"{why}: this server takes no Slack requests over HTTP "
                                          "(set SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET to enable them)"},
                                status_code=404)

    if c.teams is not None:
        c.teams.mount(api)  # POST /api/messages, with the Teams SDK's token validation
    else:

        @api.post("/api/messages")
        async def teams_not_configured():
            # Like Slack's: not served, nothing read (404), and the answer says how to turn it on.
            return PlainTextResponse("Microsoft Teams is not configured: set TEAMS_CLIENT_ID, TEAMS_CLIENT_SECRET "
                                     "and TEAMS_TENANT_ID", status_code=404)

    return api


_ROUTES = {"/healthz", "/metrics", "/webhooks/crm", "/webhooks/hubspot", "/slack/events", "/api/messages", "/"}
