"""Who a chat account is: one rule for linking Slack and Teams accounts to people, used by every
adapter (the Slack app and its delivery, the Teams app and its roster sync, the config).

A person is matched to a chat account by email — the account's profile when someone writes to
the bot, the platform's directory when the bot looks a person up — or by hand (``slack_id`` /
``teams_id`` in the config). The rules:

- an account linked to a person is that person;
- an account not linked yet, whose email is a person's who has no account on that platform yet,
  is linked to them, for good (the first link sticks);
- an account whose email is a person's who is already linked to ANOTHER account on that platform
  is refused: it does not act as them (a second account showing someone's email is how one
  person would act as another). It gets ``REFUSED`` as its answer and the refusal is logged;
- an admin's link by hand always wins, and takes the account from anyone it was linked to.

Network look-ups (Slack ``users.info``, Teams' member look-up) are the adapters' and happen before
these functions open a unit of work: no transaction waits on a remote call.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Iterable

from handlers.ports import Actor, Person, UnitOfWork, UowFactory

log = logging.getLogger(__name__)

PLATFORM_NAMES = {"slack": "Slack", "teams": "Microsoft Teams"}
REFUSED = (
    "This {platform} account shows the email of someone who already uses Smarketing Bot from another "
    "{platform} account, so I won't act on it as them. If it is their new account, an admin can link it "
    "by hand ({key} in the config)."
)
_CONFIG_KEYS = {"slack": "`slack_id`", "teams": "`teams_id`"}


@dataclass(frozen=True)
class Identity:
    """The person behind an account (None: unknown), or why the account was refused."""

    person_id: int | None = None
    name: str | None = None
    refused: str | None = None

    def actor(self, platform: str, account_id: str | None, display_name: str | None = None) -> Actor:
        return Actor(self.person_id, platform, account_id, self.name or display_name, refused=self.refused)


def _identity(person) -> Identity:
    return Identity(person.id, person.name) if person is not None else Identity()


def known(uow: UnitOfWork, platform: str, *account_ids: str | None) -> Identity | None:
    """The person already linked to one of the account's ids; None when it is not linked."""
    person = uow.people.by_account(platform, *account_ids)
    return _identity(person) if person is not None else None


def link_by_email(uow: UnitOfWork, platform: str, account_id: str, email: str | None) -> Identity:
    """The account that wrote to the bot, by the email of its profile (the caller commits)."""
    linked = known(uow, platform, account_id)
    if linked is not None:
        return linked
    person = uow.people.by_email(email) if email else None
    if person is None:
        return Identity()
    if uow.people.claim_account(person.id, platform, account_id):
        log.info("%s account %s linked to %s by email", PLATFORM_NAMES[platform], account_id, person.key)
        return _identity(person)
    log.warning(
        "refused %s account %s: its email %s is %s's, who is linked to another account",
        PLATFORM_NAMES[platform],
        account_id,
        email,
        person.key,
    )
    return Identity(refused=REFUSED.format(platform=PLATFORM_NAMES[platform], key=_CONFIG_KEYS[platform]))


def link_person(uow: UnitOfWork, platform: str, person_id: int, account_id: str) -> bool:
    """The platform's directory says ``account_id`` has this person's email: link them, unless
    either is linked otherwise already. Whether the person is now linked to that account."""
    holder = uow.people.by_account(platform, account_id)
    if holder is not None and holder.id != person_id:
        log.warning(
            "%s account %s has the email of person %s but is linked to %s: left as it is",
            PLATFORM_NAMES[platform],
            account_id,
            person_id,
            holder.key,
        )
        return False
    if uow.people.claim_account(person_id, platform, account_id):
        return True
    log.warning(
        "%s account %s has the email of person %s, who is linked to another account: left as it is",
        PLATFORM_NAMES[platform],
        account_id,
        person_id,
    )
    return False


def link_directory(uow: UnitOfWork, platform: str, pairs: list[tuple[Person, str]], holders: dict[str, Person]) -> int:
    """A directory sync's matches (person, account id) by email, linked by ``link_person``'s rule
    in one statement: an account already someone else's, or a person already linked, is left as
    it is (logged). ``holders``: account id -> the person linked to it now. Returns how many."""
    column = uow.people.ACCOUNT_COLUMNS[platform]
    wanted: dict[int, str] = {}
    taken = set()
    for person, account_id in pairs:
        holder = holders.get(account_id)
        if (holder is not None and holder.id != person.id) or account_id in taken:
            log.warning(
                "%s account %s has the email of %s but is linked to someone else: left as it is",
                PLATFORM_NAMES[platform],
                account_id,
                person.key,
            )
            continue
        current = getattr(person, column)
        if current == account_id or person.id in wanted:
            continue
        if current is not None:
            log.warning(
                "%s account %s has the email of %s, who is linked to another account: left as it is",
                PLATFORM_NAMES[platform],
                account_id,
                person.key,
            )
            continue
        wanted[person.id] = account_id
        taken.add(account_id)
    return uow.people.claim_accounts(platform, wanted)


def link_by_email_many(uow: UnitOfWork, platform: str, accounts: dict[str, str]) -> dict[str, int]:
    """A directory's accounts by email (Teams' roster): each linked by ``link_person``. Returns
    email -> person id of the accounts that are now their person's."""
    ids = uow.people.ids_by_email(accounts)
    return {email: pid for email, pid in ids.items() if link_person(uow, platform, pid, accounts[email])}


def link_by_hand(uow: UnitOfWork, platform: str, person, account_id: str) -> None:
    """An admin's link (the config): it wins over one made by email, and over anyone else's."""
    released = uow.people.release_account(platform, account_id, keep_person_id=person.id)
    if released:
        log.warning(
            "%s account %s was linked to person(s) %s: the config gives it to %s",
            PLATFORM_NAMES[platform],
            account_id,
            released,
            person.key,
        )
    setattr(person, uow.people.ACCOUNT_COLUMNS[platform], account_id)


def resolve(
    uow_factory: UowFactory,
    platform: str,
    account_id: str | None,
    email_of: Callable[[str], str | None],
    display_name: str | None = None,
    other_ids: Iterable[str | None] = (),
) -> Actor:
    """The actor behind an account: linked already, else matched by the email ``email_of`` looks
    up (outside any unit of work), else unknown (handlers answer "who are you")."""
    if not account_id:
        return Actor(None, platform)
    with getattr(uow_factory, "read", uow_factory)() as uow:  # reads only: no write lock
        linked = known(uow, platform, account_id, *other_ids)
    if linked is not None:
        return linked.actor(platform, account_id, display_name)
    email = email_of(account_id)
    if not email:
        return Identity().actor(platform, account_id, display_name)
    with uow_factory() as uow:
        found = link_by_email(uow, platform, account_id, email)
        uow.commit()
    return found.actor(platform, account_id, display_name)
