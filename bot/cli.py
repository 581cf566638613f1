"""``python -m bot``: serve (the default), and the operators' commands."""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import sys

from pydantic import ValidationError

from bot import logs
from bot.config import ConfigError
from bot.settings import Settings

log = logging.getLogger("bot")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings) -> int:
    import uvicorn

    from bot.app import build
    from bot.scheduler import Scheduler
    from bot.server import create_api

    if settings.local_enabled and not _is_loopback(settings.host) and not settings.allow_remote_local_workspace:
        print(
            f"Refusing to serve the local workspace on HOST={settings.host}: it has no login and anyone who can "
            "reach it can act as anyone. Use HOST=127.0.0.1, or set ALLOW_REMOTE_LOCAL_WORKSPACE=true "
            "if you really mean it.",
            file=sys.stderr,
        )
        return 2
    container = build(settings)
    api = create_api(container)
    if settings.local_enabled:
        import importlib.util

        if importlib.util.find_spec("bot.local.web") is not None:
            from bot.local.web import mount_local_workspace

            mount_local_workspace(api, container)
    container.dispatcher.start(poll=settings.delivery_poll)
    for connector in container.connectors:
        connector.start()
    if settings.scheduler:
        container.scheduler = Scheduler(container)
        container.scheduler.start()
    socket = None
    if container.slack is not None and settings.slack_app_token:
        socket = container.slack.start_socket_mode(settings.slack_app_token)
        log.info("Slack: Socket Mode connected")
    _banner(settings, container)
    try:
        uvicorn.run(api, host=settings.host, port=settings.port, log_level="warning")
    finally:
        if socket is not None:
            socket.close()
        container.close()
    return 0


def _banner(settings: Settings, container) -> None:
    url = f"http://{settings.host}:{settings.port}"
    lines = [f"Smarketing Bot serving on {url} (database: {settings.database_url.split('@')[-1]})"]
    if container.slack is not None:
        modes = settings.slack_modes
        http = f"HTTP at {url}/slack/events (signed requests only)"
        if modes == ["socket"]:
            lines.append("  Slack: Socket Mode (POST /slack/events is off: no SLACK_SIGNING_SECRET)")
        elif modes == ["http"]:
            lines.append(f"  Slack: {http} (no Socket Mode: no SLACK_APP_TOKEN)")
        else:
            lines.append(f"  Slack: Socket Mode, and {http}")
    if settings.local_enabled:
        lines.append(f"  Local workspace: open {url}/ in a browser")
    if getattr(container, "teams", None) is not None:
        lines.append(f"  Teams: messaging endpoint {url}/api/messages (`python -m bot teams-package` builds the app)")
    if container.slack is None:
        lines.append(
            "  Slack is not connected. To connect a workspace: `python -m bot manifest` prints the app "
            "manifest; create the app from it at api.slack.com/apps, then set SLACK_BOT_TOKEN and "
            "SLACK_SIGNING_SECRET (or SLACK_APP_TOKEN for Socket Mode). See the README."
        )
    if not settings.webhook_secret:
        lines.append("  CRM webhook: off until WEBHOOK_SECRET is set")
    for connector in container.connectors:  # HubSpot, Salesforce: their check, how changes arrive
        lines.extend("  " + line for line in connector.startup_lines(url))
    for line in lines:
        print(line, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description="Smarketing Bot")
    sub = parser.add_subparsers(dest="cmd")
    sub.add_parser("serve", help="serve everything configured (the default)")
    sub.add_parser("migrate", help="bring the database schema up to date")
    p_manifest = sub.add_parser("manifest", help="print the Slack app manifest")
    p_manifest.add_argument("--url", help="public base URL for HTTP mode (omit for Socket Mode)")
    p_manifest.add_argument("--name", default="Smarketing Bot")
    p_jobs = sub.add_parser("jobs", help="scheduled jobs")
    jobs_sub = p_jobs.add_subparsers(dest="jobs_cmd", required=True)
    jobs_sub.add_parser("list", help="list the jobs")
    p_run = jobs_sub.add_parser("run", help="run one job once, then deliver what it queued")
    p_run.add_argument("name")
    p_run.add_argument("--no-deliver", action="store_true", help="leave delivery to the serving process")
    sub.add_parser("check-config", help="validate SMARKETING_CONFIG and exit")
    given = sys.argv[1:] if argv is None else argv
    first = next((a for a in given if not a.startswith("-")), None)
    if first not in BUILT_IN or any(a in ("-h", "--help") for a in given):
        _extensions(sub)  # serving does not load the other commands' modules (start-up time, memory)
    args = parser.parse_args(argv)

    try:
        settings = Settings()
    except ValidationError as e:
        for err in e.errors():
            where = ".".join(str(p) for p in err["loc"]).upper()
            msg = err["msg"].removeprefix("Value error, ")
            print(f"error in the environment settings: {where + ': ' if where else ''}{msg}", file=sys.stderr)
        return 2
    except Exception as e:  # noqa: BLE001 - pydantic's message names the variable
        print(f"error in the environment settings: {e}", file=sys.stderr)
        return 2
    logs.setup(settings.log_level)
    from storage.schema import SchemaMismatch

    try:
        return _run(args, settings)
    except (ConfigError, SchemaMismatch) as e:
        print(str(e), file=sys.stderr)
        return 2


def _run(args, settings: Settings) -> int:
    from handlers.errors import UserError

    cmd = args.cmd or "serve"
    if cmd == "serve":
        return serve(settings)
    if cmd == "migrate":
        from storage.db import make_engine, migrate
        from storage.schema import current_revision

        engine = make_engine(settings.database_url)
        try:
            migrate(engine, thorough=True)
            with engine.connect() as conn:
                revision = current_revision(conn)
        finally:
            engine.dispose()
        print(f"database is up to date: revision {revision}, and its schema matches this version's")
        return 0
    if cmd == "manifest":
        from bot.slack.manifest import manifest

        print(json.dumps(manifest(name=args.name, url=args.url), indent=2))
        return 0
    if cmd == "check-config":
        from bot.config import load_config

        cfg = load_config(settings.smarketing_config)
        print(f"config OK: {len(cfg.people)} people, {len(cfg.channels)} channels")
        return 0
    if cmd == "jobs":
        from bot.app import build
        from bot.scheduler import run_job

        container = build(settings)
        try:
            if args.jobs_cmd == "list":
                for name in sorted(container.registry.jobs):
                    print(name)
                return 0
            try:
                result = run_job(container, args.name)
            except UserError as e:
                print(e.text, file=sys.stderr)
                return 2
            print(result)
            if not args.no_deliver:
                sent = container.dispatcher.drain()
                print(f"delivery: {sent} message(s) handled")
            return 0
        finally:
            container.close()
    handler = _EXTENSIONS.get(cmd)
    if handler:
        return handler(args, settings)
    print(f"unknown command {cmd!r}", file=sys.stderr)
    return 2


BUILT_IN = (None, "serve", "migrate", "manifest", "jobs", "check-config")

# Flow issues add CLI commands here (demo, import-ical, teams-package): name -> (setup, run).
_EXTENSIONS: dict = {}


def _extensions(sub) -> None:
    import importlib
    import importlib.util

    for module in (
        "bot.local.cli",
        "bot.schedule_cli",
        "bot.teams.cli",
        "bot.simulate",
        "bot.connectors.hubspot.cli",
        "bot.connectors.salesforce.cli",
        "bot.imports.cli",
        "bot.people_cli",
    ):
        try:
            if importlib.util.find_spec(module) is None:
                continue
        except ModuleNotFoundError:  # its package does not exist yet
            continue
        mod = importlib.import_module(module)
        for name, run in mod.register(sub).items():
            _EXTENSIONS[name] = run
