"""Salesforce: leads, contacts, won opportunities, campaign members and tasks in (polling, the
import); bounces and follow-ups back. ``attach`` plugs it into the app when
``SALESFORCE_CLIENT_ID`` is set."""

from __future__ import annotations

from pathlib import Path

from bot.config import ConfigError
from handlers.registry import JobResult


def private_key(settings) -> str | None:
    """The connected app's private key: ``SALESFORCE_PRIVATE_KEY`` (PEM; ``\\n`` may stand for the
    line breaks, as one-line environment values have them) or the file ``SALESFORCE_PRIVATE_KEY_FILE``."""
    if settings.salesforce_private_key:
        return settings.salesforce_private_key.replace("\\n", "\n")
    if settings.salesforce_private_key_file:
        path = Path(settings.salesforce_private_key_file).expanduser()
        try:
            return path.read_text()
        except OSError as e:
            raise ConfigError(f"SALESFORCE_PRIVATE_KEY_FILE: cannot read {path}: {e.strerror}") from None
    return None


def make_api(settings, metrics=None, api_share: float = 0.8):
    from bot.connectors.salesforce.api import SalesforceApi, SalesforceAuth

    try:
        auth = SalesforceAuth(
            login_url=settings.salesforce_login_url,
            client_id=settings.salesforce_client_id,
            username=settings.salesforce_username,
            private_key=private_key(settings),
            client_secret=settings.salesforce_client_secret,
        )
    except ValueError as e:
        raise ConfigError(f"SALESFORCE_CLIENT_ID is set, but: {e}") from None
    return SalesforceApi(auth, version=settings.salesforce_api_version, api_share=api_share, metrics=metrics)


def attach(container):
    """Build the connector and wire it in: its jobs, its deliverer for ``webhook:crm``."""
    from bot.connectors.salesforce.connector import SalesforceConnector
    from bot.connectors.salesforce.writeback import SalesforceDeliverer

    c, s = container, container.settings
    if not c.config.qualified.statuses:
        raise ConfigError(
            "config error: qualified.statuses: name at least one status; Salesforce leads that are "
            "qualified are marked with the first"
        )
    api = make_api(s, c.metrics, c.config.salesforce.api_share)
    connector = SalesforceConnector(
        api=api, settings=s, uow_factory=c.uow_factory, registry=c.registry, deps=c.deps, metrics=c.metrics, wake=c.wake
    )
    c.connectors.append(connector)
    c.extras["salesforce"] = connector
    c.deps.crm_writeback = True
    c.dispatcher.deliverers["salesforce"] = SalesforceDeliverer(api, connector)
    c.dispatcher.router.crm_platform = "salesforce"
    c.registry.jobs["salesforce_poll"] = lambda uow_factory, deps: JobResult(
        "salesforce_poll", connector.poll_if_due(), "records read from Salesforce"
    )

    def people_job(uow_factory, deps):
        from bot.slack.directory import claim_day

        if not claim_day(uow_factory, deps, "directory:salesforce"):
            return JobResult("salesforce_people", 0, "not due")
        return JobResult("salesforce_people", connector.sync_people(), "people changed from Salesforce users")

    c.registry.jobs["salesforce_people"] = people_job
    return connector
