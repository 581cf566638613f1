"""HubSpot: contacts, deals, owners and campaigns in (webhooks, polling, import); bounces and
follow-ups back. ``attach`` plugs it into the app when ``HUBSPOT_ACCESS_TOKEN`` is set."""

from __future__ import annotations

from bot.config import ConfigError
from handlers.registry import JobResult


def attach(container):
    """Build the connector and wire it in: its jobs, its deliverer for ``webhook:crm``."""
    from bot.connectors.hubspot.api import HubSpotApi
    from bot.connectors.hubspot.connector import HubSpotConnector
    from bot.connectors.hubspot.writeback import HubSpotDeliverer

    c, s = container, container.settings
    if not c.config.qualified.statuses:
        raise ConfigError(
            "config error: qualified.statuses: name at least one status; HubSpot contacts that "
            "reach a qualified stage are marked with the first"
        )
    api = HubSpotApi(
        s.hubspot_access_token,
        s.hubspot_api_url,
        burst=s.hubspot_burst_limit,
        search_per_second=s.hubspot_search_limit,
        metrics=c.metrics,
    )
    connector = HubSpotConnector(
        api=api, settings=s, uow_factory=c.uow_factory, registry=c.registry, deps=c.deps, metrics=c.metrics, wake=c.wake
    )
    c.connectors.append(connector)
    c.extras["hubspot"] = connector
    c.deps.crm_writeback = True
    c.dispatcher.deliverers["hubspot"] = HubSpotDeliverer(api, c.config, owner_ids=connector.owner_id_for)
    c.dispatcher.router.crm_platform = "hubspot"
    c.registry.jobs["hubspot_sync"] = lambda uow_factory, deps: JobResult(
        "hubspot_sync", connector.sync(), "changes read from HubSpot"
    )
    c.registry.jobs["hubspot_poll"] = lambda uow_factory, deps: JobResult(
        "hubspot_poll", connector.poll_if_due(), "records read by polling"
    )
    return connector
