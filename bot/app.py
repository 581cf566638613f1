"""The composition root: settings -> config -> storage -> handlers -> adapters -> scheduler."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Engine

from bot.config import Config, ConfigError, load_config
from bot.dispatch import Dispatcher, PeopleSnapshot
from bot.metrics import Metrics
from bot.settings import Settings
from handlers.core import sync_people
from handlers.ports import Clock, Deps, OffsetClock
from handlers.registry import Registry, load_registry
from storage.db import UowFactory, make_engine, migrate, uow_factory
from storage.models import Person

log = logging.getLogger(__name__)


class ConfigRouter:
    """Which platform a destination is on: the channel's or person's ``platform`` in the config,
    else the deployment's default."""

    def __init__(self, config: Config, default: str):
        self.config = config
        self.default = default
        self.crm_platform = "webhook"  # who delivers ``webhook:crm``: a CRM connector once one is attached
        self._person_platform = {p.email: p.platform for p in config.people if p.platform}

    def platform_for(self, destination: str, people: dict[int, Person]) -> str:
        kind, _, name = destination.partition(":")
        if kind == "webhook":
            return self.crm_platform if name == "crm" else "webhook"
        if kind in ("slack", "teams"):  # a platform's own conversation id
            return kind
        if kind == "channel":
            ch = self.config.channels.get(name)
            return (ch.platform if ch and ch.platform else None) or self.default
        if kind in ("dm", "home"):  # a person's DM or their Home
            person = people.get(int(name)) if name.isdigit() else None
            return (self._person_platform.get(person.email) if person else None) or self.default
        return self.default


@dataclass
class Container:
    settings: Settings
    config: Config
    engine: Engine
    uow_factory: UowFactory
    deps: Deps
    registry: Registry
    metrics: Metrics
    dispatcher: Dispatcher
    default_platform: str
    slack: Any = None  # bot.slack.app.SlackAdapter
    teams: Any = None  # bot.teams.app.TeamsAdapter
    scheduler: Any = None  # bot.scheduler.Scheduler
    extras: dict[str, Any] = field(default_factory=dict)
    connectors: list[Any] = field(default_factory=list)  # bot.connectors.base.Connector (HubSpot, ...)
    people: Any = None  # bot.dispatch.PeopleSnapshot: everyone, read at most every 2 s

    def wake(self) -> None:
        """Something was enqueued: deliver it now rather than at the next poll."""
        self.dispatcher.wake()

    def close(self) -> None:
        for connector in self.connectors:
            connector.stop()
        self.dispatcher.stop()
        if self.teams:
            self.teams.close()
        if self.scheduler:
            self.scheduler.shutdown()
        self.engine.dispose()


def _nothing() -> None:
    return None


def default_platform(settings: Settings, config: Config) -> str:
    if config.platform:
        return config.platform
    if settings.local_enabled:
        return "local"
    if settings.slack_enabled:
        return "slack"
    return "teams"


def build(
    settings: Settings | None = None,
    *,
    config: Config | None = None,
    clock: Clock | None = None,
    do_migrate: bool = True,
) -> Container:
    settings = settings or Settings()
    if settings.hubspot_access_token and settings.salesforce_client_id:
        raise ConfigError(
            "HubSpot and Salesforce are both configured (HUBSPOT_ACCESS_TOKEN and SALESFORCE_CLIENT_ID): "
            "connect one CRM at a time (lead changes are written back to one CRM); unset one of them"
        )
    config = config or load_config(settings.smarketing_config)
    engine = make_engine(
        settings.database_url,
        connect_timeout=settings.db_connect_timeout,
        statement_timeout=settings.db_statement_timeout,
    )
    if do_migrate:
        migrate(engine)
    # A commit that queued messages wakes the dispatcher; one that changed people has everyone
    # read again (both set once they exist).
    hooks: dict = {}
    uowf = uow_factory(
        engine,
        on_enqueue=lambda: hooks.get("wake", _nothing)(),
        on_people_change=lambda: hooks.get("people", _nothing)(),
    )
    with uowf() as uow:
        sync_people(uow, config)
        uow.commit()
    clock = clock or OffsetClock()
    registry = load_registry()
    deps = Deps(config=config, clock=clock, help=registry.help_lines())
    metrics = Metrics()
    platform = default_platform(settings, config)
    router = ConfigRouter(config, platform)
    people = PeopleSnapshot(uowf)
    dispatcher = Dispatcher(
        uowf,
        clock,
        router,
        {},
        metrics=metrics,
        channel_interval=settings.delivery_channel_interval,
        retry_base=settings.delivery_retry_base,
        retry_max=settings.delivery_retry_max,
        max_attempts=settings.delivery_max_attempts,
        lease=settings.delivery_lease,
        workers=settings.delivery_workers,
        people=people,
    )
    hooks.update(wake=dispatcher.wake, people=people.invalidate)
    c = Container(settings, config, engine, uowf, deps, registry, metrics, dispatcher, platform, people=people)

    from bot.local.deliver import LocalDeliverer

    dispatcher.deliverers["local"] = LocalDeliverer()
    if config.outbound_webhook:
        from bot.outbound import WebhookDeliverer

        dispatcher.deliverers["webhook"] = WebhookDeliverer(config.outbound_webhook.url, config.outbound_webhook.secret)
    if settings.slack_bot_token:
        from bot.slack.app import SlackAdapter
        from bot.slack.client import make_client
        from bot.slack.deliver import SlackDeliverer, SlackPeople

        client = make_client(settings.slack_bot_token, settings.slack_api_url)
        c.slack = SlackAdapter(c, signing_secret=settings.slack_signing_secret, client=client)
        # A post in flight must end before its claim's lease can run out (then nobody else can
        # try the message while Slack may still be acting on it).
        timeout = max(1, min(10, int(settings.delivery_lease / 3)))
        poster = make_client(settings.slack_bot_token, settings.slack_api_url, timeout=timeout, retries="none")
        reader = make_client(settings.slack_bot_token, settings.slack_api_url, timeout=timeout, retries="idempotent")
        dispatcher.deliverers["slack"] = SlackDeliverer(
            poster, config, SlackPeople(reader, uowf, clock), reader=reader, metrics=metrics
        )
        from bot.slack.directory import attach as attach_directory

        c.slack.directory = attach_directory(c, settings.slack_bot_token, settings.slack_api_url)
    if settings.hubspot_access_token:
        from bot.connectors.hubspot import attach

        attach(c)
        if config.outbound_webhook:
            log.warning(
                "outbound_webhook is set but HubSpot is connected: lead changes are written to HubSpot, "
                "not posted to %s",
                config.outbound_webhook.url,
            )
    if settings.salesforce_client_id:
        from bot.connectors.salesforce import attach as attach_salesforce

        attach_salesforce(c)
        if config.outbound_webhook:
            log.warning(
                "outbound_webhook is set but Salesforce is connected: lead changes are written to Salesforce, "
                "not posted to %s",
                config.outbound_webhook.url,
            )
    if settings.teams_client_id:
        from bot.teams.app import TeamsAdapter

        c.teams = TeamsAdapter(
            c,
            client_id=settings.teams_client_id,
            client_secret=settings.teams_client_secret,
            tenant_id=settings.teams_tenant_id,
            allow_unauthenticated=settings.dangerously_allow_unauthenticated_requests,
        )
        dispatcher.deliverers["teams"] = c.teams.deliverer
        from bot.teams.directory import attach as attach_teams_directory

        attach_teams_directory(c, c.teams)
    return c
