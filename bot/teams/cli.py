"""``python -m bot teams-package [--out smarketing-teams.zip]``: the Teams app package to upload."""

from __future__ import annotations

import sys
from pathlib import Path


def register(subparsers) -> dict:
    p = subparsers.add_parser("teams-package", help="write the Microsoft Teams app package (manifest and icons)")
    p.add_argument("--out", default="smarketing-teams.zip", help="where to write the zip (default: %(default)s)")
    p.add_argument(
        "--url", help="the bot's public base URL, e.g. https://bot.example.com (developer links, valid domains)"
    )
    p.add_argument("--name", default="Smarketing Bot", help="the app's name in Teams (at most 30 characters)")
    p.add_argument("--app-id", help="the Teams app id (a GUID; default: the bot's TEAMS_CLIENT_ID)")
    return {"teams-package": run}


def run(args, settings) -> int:
    from bot.config import load_config
    from bot.teams.package import build_package, manifest
    from handlers.registry import load_registry

    if not settings.teams_client_id:
        print(
            "Set TEAMS_CLIENT_ID to the Azure bot's Microsoft app id first (see the README's Microsoft Teams "
            "section): the package names the bot by it.",
            file=sys.stderr,
        )
        return 2
    if args.url and not args.url.startswith("https://"):
        print("--url must start with https:// (Teams only talks to HTTPS endpoints)", file=sys.stderr)
        return 2
    config = load_config(settings.smarketing_config)
    try:
        man = manifest(
            bot_id=settings.teams_client_id,
            registry=load_registry(),
            name=args.name,
            company=config.company,
            url=args.url,
            app_id=args.app_id,
        )
    except ValueError as e:
        print(str(e), file=sys.stderr)
        return 2
    out = Path(args.out)
    out.write_bytes(build_package(man))
    print(
        f"wrote {out} (manifest {man['manifestVersion']}, bot {man['bots'][0]['botId']}, "
        f"{len(man['bots'][0]['commandLists'][0]['commands'])} commands)"
    )
    if not args.url:
        print(
            "note: without --url the developer links point to https://example.com; pass --url "
            "https://<your host> for a package you publish to your organisation"
        )
    print("Upload it in Teams (Apps > Manage your apps > Upload an app) or the Teams admin center.")
    return 0
