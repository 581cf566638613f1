"""Commands that belong to no single flow (help), and keeping people in step with the config."""

from __future__ import annotations

from handlers import identity
from handlers.messages import Context, Header, Message, Reply, Section
from handlers.ports import Actor, Deps, UnitOfWork
from handlers.registry import Flow


def help_command(uow: UnitOfWork, deps: Deps, actor: Actor, args: str) -> Reply:
    lines = deps.help or _all_help()
    body = "\n".join(f"`/smarketing {usage}` — {what}" for usage, what in lines)
    text = "Smarketing Bot keeps sales and marketing in step. Commands:\n" + body
    return Reply(
        message=Message(
            text=text,
            blocks=[
                Header(text="Smarketing Bot"),
                Section(text="Keeps sales and marketing in step: wins, cooling leads, bounce-backs, the week ahead."),
                Section(text=body),
                Context(text="A <lead> is its CRM id or its email."),
            ],
        )
    )


def _all_help() -> list[tuple[str, str]]:
    """Every flow's commands, for a ``Deps`` built without them (the composition root sets
    ``Deps.help`` from the registry it serves)."""
    from handlers.registry import load_registry

    return load_registry().help_lines()


def sync_people(uow: UnitOfWork, config) -> int:
    """Create or update the people table from the config's ``people:`` (matched by key, else by
    email: someone synced from the CRM or the chat directory who is listed by hand too).

    The config overrides what is synced: name, team, role, admin, manager, backup, links. Chat ids
    found by email lookup are kept; ids given in the config win. People the CRM or the directory
    brought in are left as they are (``handlers/directory.py``)."""
    everyone = uow.people.all()
    by_key = {p.key: p for p in everyone}
    by_email = {p.email: p for p in everyone}
    for pc in config.people:
        # Someone synced from the CRM or the directory and listed by hand later: the config's now.
        person = (
            by_key.get(pc.key)
            or by_email.get(pc.email)
            or uow.people.new(key=pc.key, name=pc.name, email=pc.email, team=pc.team)
        )
        person.key, person.source = pc.key, "yaml"
        person.name, person.email, person.team, person.role = pc.name, pc.email, pc.team, pc.role
        person.is_admin = pc.admin or pc.role == "admin"
        person.timezone = config.person_timezone(pc)
        by_key[pc.key] = uow.people.add(person)
        if pc.slack_id:
            identity.link_by_hand(uow, "slack", person, pc.slack_id)
            person.linked_manually = True
        if pc.teams_id:
            identity.link_by_hand(uow, "teams", person, pc.teams_id)
        uow.people.add(person)
    for pc in config.people:
        person = by_key[pc.key]
        if pc.manager:
            person.manager_id = by_key[pc.manager].id
        else:  # the CRM's manager, if it gave one (handlers/directory.py)
            manager = by_email.get(person.manager_email) if person.manager_email else None
            person.manager_id = manager.id if manager is not None and manager.id != person.id else None
        person.backup_id = by_key[pc.backup].id if pc.backup else None
        uow.people.add(person)
    from handlers.away import sync_config_periods

    sync_config_periods(uow, config, {k: p.id for k, p in by_key.items()})
    return len(config.people)


FLOW = Flow(
    name="core",
    commands={"help": help_command},
    read_only=frozenset({"help"}),
    help=[("help", "this list")],
)
