"""Prometheus metrics, served as text at ``GET /metrics``.

A registry per container (not the global one) so several apps in one test process don't clash."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("smarketing_requests", "HTTP requests", ["route", "status"], registry=r)
        self.request_seconds = Histogram("smarketing_request_seconds", "HTTP request time", ["route"], registry=r)
        self.webhook_events = Counter("smarketing_webhook_events", "CRM events", ["outcome"], registry=r)
        self.deliveries = Counter("smarketing_deliveries", "Delivery attempts", ["platform", "outcome"], registry=r)
        self.side_effects = Counter(
            "smarketing_delivery_side_effect_failures",
            "What failed around a delivery without failing it (a reaction; a search Slack refused, then posted anyway)",
            ["platform", "what"],
            registry=r,
        )
        self.outbox_depth = Gauge("smarketing_outbox_messages", "Outbox messages by status", ["status"], registry=r)
        self.jobs = Counter("smarketing_job_runs", "Scheduled job runs", ["job", "outcome"], registry=r)
        self.errors = Counter("smarketing_errors", "Unexpected errors", ["where"], registry=r)
        # CRM connectors (HubSpot, ...): API calls, events made from CRM records, objects that could
        # not be read (gone, or hidden from the token), changes waiting to be read.
        self.connector_requests = Counter(
            "smarketing_connector_requests", "CRM API requests", ["source", "outcome"], registry=r
        )
        self.connector_events = Counter(
            "smarketing_connector_events", "Events read from a CRM", ["source", "outcome"], registry=r
        )
        self.connector_unreadable = Counter(
            "smarketing_connector_unreadable",
            "CRM objects that could not be read",
            ["source", "kind", "reason"],
            registry=r,
        )
        self.connector_notifications = Counter(
            "smarketing_connector_notifications", "CRM webhook notifications", ["source", "outcome"], registry=r
        )
        self.connector_api_usage = Gauge(
            "smarketing_connector_api_usage",
            "CRM API requests used in the CRM's window (Salesforce: 24 hours) and its maximum",
            ["source", "kind"],
            registry=r,
        )
        self.connector_queue = Gauge(
            "smarketing_connector_changes", "CRM changes waiting to be read", ["source", "state"], registry=r
        )

    def set_outbox_depth(self, counts: dict[str, int]) -> None:
        """The outbox gauge from counts by status (a status with no messages reads 0)."""
        for status in ("pending", "sending", "sent", "dead", *counts):
            self.outbox_depth.labels(status).set(counts.get(status, 0))

    def render(self) -> bytes:
        return generate_latest(self.registry)
