"""Teams' directory: who is in sales or marketing, from the members of the Teams channel or team
each team names (``teams.<team>.members.teams_channel`` / ``teams_team``), applied by
``handlers.directory`` page by page, as Slack's is (``bot/slack/directory.py``).

- A roster is read with the Bot Connector's ``GET {serviceUrl}/v3/conversations/{id}/pagedmembers``
  (the SDK's ``conversations.get_paged_members``), 200 members a page through
  ``continuationToken``, each page applied in its own short transaction: no transaction waits on
  Teams. A 429 is waited out for its ``Retry-After`` and the same page asked again.
- An account is a person's by email (the member's ``email``, else ``userPrincipalName``); its id
  is the member's Entra object id (the one a Teams message gives), and its ``29:`` id is kept to
  open a 1:1 chat with them later. Someone in two teams' rosters is in the first team listed.
- A roster Teams does not know (404), or one the bot cannot reach (the app is in no team yet),
  is a line in ``/smarketing people`` and the log; the other team's roster is still read. Only
  when every roster was read is anyone who is in none of them any more a leaver.
- ``teamMemberAdded`` / ``teamMemberRemoved`` (and a private channel's ``channelMemberAdded`` /
  ``channelMemberRemoved``) apply the accounts they carry at once: each is looked up in the
  configured rosters (``GET …/members/{id}``, before any transaction), and is then in the first
  team whose roster has them, or, in none any more, a leaver (``handlers.directory.left``).
- The nightly job (``teams_directory``) reads every roster once a day whatever replicas run
  (the same claim as ``slack_directory``).

A standard channel's members are its whole team's: two teams' rosters that are the same list
(two standard channels of one team) are a line in ``/smarketing people`` too.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta
from typing import Any, Callable, Iterable

import httpx

from bot.slack.directory import claim_day
from bot.teams.deliver import AsyncRunner, retry_after
from handlers import directory
from handlers.directory import Account, Outcome

log = logging.getLogger(__name__)

PAGE = 200  # the Bot Connector takes 50..500 a page
MAX_WAITS = 50  # 429s in a row before the sync gives up until next time
CLAIM_KEY = "directory:teams"
RETRY_UNREACHABLE = timedelta(minutes=10)  # while the app is in no team yet
MANY = 20  # members in one event looked up one by one; more: the whole rosters, in the background
WHY_LEFT = "they are no longer in the team's Microsoft Teams roster"


class RateLimited(Exception):
    pass


class Unreachable(Exception):
    """A roster that cannot be read: the line for ``/smarketing people`` says why."""


def email_of(member: Any) -> str | None:
    return getattr(member, "email", None) or getattr(member, "user_principal_name", None)


def account_of(member: Any, team: str | None, *, deleted: bool = False) -> Account:
    return Account(
        account_id=member.aad_object_id or member.id,
        email=email_of(member),
        name=member.name or "",
        team=team,
        deleted=deleted,
    )


def _status(err: BaseException) -> int | None:
    return err.response.status_code if isinstance(err, httpx.HTTPStatusError) else None


def _why(err: BaseException) -> str:
    status = _status(err)
    if status == 404:
        return "is not known to Teams (404)"
    if status in (401, 403):
        return f"cannot be read by the bot ({status}: add the app to that team)"
    return f"cannot be read ({type(err).__name__}: {str(err)[:200]})"


class TeamsDirectory:
    def __init__(self, api, runner: AsyncRunner, uow_factory, deps, *, sleep: Callable[[float], None] = time.sleep):
        """``api`` is a ``microsoft_teams.api.ApiClient`` used only from ``runner``'s loop (the
        Teams deliverer's: one connection pool)."""
        self.api = api
        self.runner = runner
        self.uow_factory = uow_factory
        self.deps = deps
        self.sleep = sleep
        self.waited: list[float] = []  # Retry-After seconds waited out (tests)
        self.calls = 0
        self.reachable = True  # whether the last sync could ask Teams about any roster
        self.background: threading.Thread | None = None  # a sync started by a big member event

    def sources(self) -> list[tuple[str, str]]:
        """(team, Teams conversation) of each team whose members come from Teams, in config order."""
        return [
            (team, tc.members.teams_conversation)
            for team, tc in self.deps.config.teams.items()
            if tc.members.teams_conversation
        ]

    # -- Teams calls -----------------------------------------------------------------------------
    def _call(self, make):
        for _ in range(MAX_WAITS):
            self.calls += 1
            try:
                return self.runner.run(make)
            except httpx.HTTPStatusError as e:
                if e.response.status_code != 429:
                    raise
                wait = retry_after(e.response.headers) or 1.0
                self.waited.append(wait)
                log.info("Teams roster read rate limited: waiting %.0f s as asked", wait)
                self.sleep(wait)
        raise RateLimited(f"Teams stayed rate limited after {MAX_WAITS} waits")

    def _reach(self, conversation_id: str):
        with self.uow_factory.read() as uow:
            row = uow.teams.reach(conversation_id)
            if row is None:
                return None
            return dict(service_url=row.service_url, tenant_id=row.tenant_id, bot_id=row.bot_id)

    def _pages(self, conversation_id: str, service_url: str) -> Iterable[list]:
        api = self.api.clone(service_url=service_url)
        token = None
        while True:
            page = self._call(lambda t=token: api.conversations.get_paged_members(conversation_id, PAGE, t))
            yield list(page.members or [])
            token = page.continuation_token
            if not token:
                return

    # -- the whole directory ---------------------------------------------------------------------
    def sync(self) -> Outcome:
        """Read every configured roster and apply it, a page per transaction. Returns what changed."""
        total, seen, failed = Outcome(), set(), []
        rosters: dict[str, set] = {}
        reachable = False
        for team, conv in self.sources():
            where = self._reach(conv)
            if where is None:
                failed.append((team, conv, "cannot be reached: the app is in no Teams team yet (add it to the team)"))
                continue
            reachable = True
            ids: set = set()
            try:
                for members in self._pages(conv, where["service_url"]):
                    accounts, users = [], {}
                    for m in members:
                        a = account_of(m, team)
                        ids.add(a.account_id)
                        if a.account_id in seen:
                            continue  # in an earlier team's roster: that team's
                        seen.add(a.account_id)
                        accounts.append(a)
                        users[a.account_id] = m
                    self._apply(accounts, users, where, total)
            except (httpx.HTTPError, RateLimited, TimeoutError) as e:
                failed.append((team, conv, _why(e)))
                continue
            rosters[team] = ids
        self._note(failed, rosters)
        if failed:
            log.warning(
                "Teams directory: %d roster(s) not read: nobody is taken for gone until every one is", len(failed)
            )
        elif self.sources():
            self._gone(seen, total)
        log.info("Teams directory: %d roster(s): %s", len(rosters), total)
        self.reachable = reachable
        return total

    def _apply(self, accounts: list[Account], users: dict, where: dict, total: Outcome, **kw) -> None:
        with self.uow_factory.read() as uow:
            accounts = directory.changed_accounts(uow, "teams", accounts)
        if not accounts:
            return
        with self.uow_factory() as uow:
            total.add(directory.sync_accounts(uow, self.deps, "teams", accounts, why_left=WHY_LEFT, **kw))
            self._remember(uow, [a for a in accounts if not a.deleted], users, where)
            uow.commit()

    def _remember(self, uow, accounts: list[Account], users: dict, where: dict) -> None:
        """How to reach each linked person later (a 1:1 chat is opened with their ``29:`` id)."""
        people = uow.people.by_accounts("teams", (a.account_id for a in accounts))
        now = self.deps.now()
        for account_id, person in people.items():
            m = users.get(account_id)
            if m is not None:
                uow.teams.save_member(
                    person_id=person.id,
                    user_id=m.id,
                    aad_object_id=m.aad_object_id,
                    service_url=where["service_url"],
                    tenant_id=where["tenant_id"],
                    bot_id=where["bot_id"],
                    at=now,
                )

    def _note(self, failed: list, rosters: dict[str, set]) -> None:
        with self.uow_factory() as uow:
            uow.directory.clear_kind("teams", "unknown_usergroup")
            uow.directory.clear_kind("teams", "same_roster")
            for team, conv, why in failed:
                directory.unknown_group(uow, self.deps, "teams", team, conv, why, what="channel or team")
            teams = list(rosters)
            for i, team in enumerate(teams):
                same = next((t for t in teams[:i] if rosters[t] and rosters[t] == rosters[team]), None)
                if same is not None:
                    detail = (
                        f"teams.{team}.members: the Microsoft Teams roster has the same members as {same}'s, "
                        f"so everyone in it is in {same} (a standard channel's members are its whole team's: "
                        "give each team a private channel, or a Teams team of its own)"
                    )
                    log.warning("people sync (teams): %s", detail)
                    uow.directory.note_problems(
                        [dict(source="teams", kind="same_roster", subject=team, detail=detail)], at=self.deps.now()
                    )
            uow.commit()

    def _gone(self, seen: set, total: Outcome) -> None:
        """Accounts synced before that are in no roster now: leavers (a ``teamMemberRemoved`` missed)."""
        with self.uow_factory.read() as uow:
            rows = [
                r for r in uow.directory.accounts("teams").values() if not r["deleted"] and r["account_id"] not in seen
            ]
        for i in range(0, len(rows), PAGE):
            accounts = [
                Account(
                    account_id=r["account_id"], email=r["email"], name=r["name"] or "", team=r["team"], deleted=True
                )
                for r in rows[i : i + PAGE]
            ]
            self._apply(accounts, {}, {}, total)

    # -- events ----------------------------------------------------------------------------------
    async def on_members(
        self, api, service_url: str, members: list, *, removed: bool, bot_id: str | None = None
    ) -> Outcome:
        """People added to or removed from a Teams team or channel (``api``: the activity's
        client, scoped to its service URL). Each is looked up in the configured rosters first
        (remote calls, no transaction open); a lookup that fails leaves that person to the
        nightly sync."""
        sources = self.sources()
        if not sources:
            return Outcome()
        if len(members) > MANY:
            # Looking each up would keep Teams waiting for the answer: read the rosters instead.
            log.info(
                "Teams: %d members %s at once: reading the teams' rosters in the background",
                len(members),
                "removed" if removed else "added",
            )
            self.background = threading.Thread(target=self._sync_quietly, name="teams-directory", daemon=True)
            self.background.start()
            return Outcome()
        found: list[tuple[Any, str | None, Any]] = []  # (event's account, team, member as the roster has it)
        for who in members:
            if not getattr(who, "id", None) or who.id == bot_id or str(who.id).startswith("28:"):
                continue  # the bot itself (its joining or leaving is an install or uninstall)
            team = member = None
            try:
                for t, conv in sources:
                    try:
                        member = await api.conversations.get_member_by_id(conv, who.id)
                    except httpx.HTTPStatusError as e:
                        if e.response.status_code == 404:
                            continue
                        raise
                    team = t
                    break
            except Exception as e:  # noqa: BLE001 - left to the nightly sync
                log.warning(
                    "Teams member %s: could not look them up in the teams' rosters (%s): left to the nightly sync",
                    who.id,
                    e,
                )
                continue
            found.append((who, team, member))
        if not found:
            return Outcome()
        from starlette.concurrency import run_in_threadpool

        return await run_in_threadpool(self._apply_event, found, service_url, removed)

    def _sync_quietly(self) -> None:
        try:
            self.sync()
        except Exception:  # noqa: BLE001 - the nightly sync tries again
            log.exception("Teams directory: reading the rosters failed")

    def _apply_event(self, found: list, service_url: str, removed: bool) -> Outcome:
        out = Outcome()
        accounts, users = [], {}
        with self.uow_factory.read() as uow:
            known = uow.directory.accounts("teams", [w.aad_object_id or w.id for w, _, _ in found])
        for who, team, member in found:
            if member is not None:
                a = account_of(member, team)
                users[a.account_id] = member
                accounts.append(a)
                continue
            account_id = who.aad_object_id or who.id
            row = known.get(account_id)
            if removed and row is not None:  # in no configured roster any more
                accounts.append(
                    Account(
                        account_id=account_id,
                        email=row["email"],
                        name=row["name"] or "",
                        team=row["team"],
                        deleted=True,
                    )
                )
        where = self._reach_by_url(service_url)
        self._apply(accounts, users, where, out)
        return out

    def _reach_by_url(self, service_url: str) -> dict:
        sources = self.sources()
        where = self._reach(sources[0][1]) if sources else None
        if where is None or where["service_url"] != service_url:
            where = dict(
                service_url=service_url, tenant_id=(where or {}).get("tenant_id"), bot_id=(where or {}).get("bot_id")
            )
        return where

    # -- the nightly job ---------------------------------------------------------------------------
    def job(self) -> tuple[int, str]:
        if not self.deps.config.directory.teams or not self.sources():
            return 0, "no Teams rosters configured"
        now = self.deps.now()
        with self.uow_factory.read() as uow:
            retry_at = (uow.kv.get(CLAIM_KEY) or {}).get("retry_at")
        if retry_at and now < datetime.fromisoformat(retry_at):
            return 0, "waiting for the app to be added to a team"
        if not claim_day(self.uow_factory, self.deps, CLAIM_KEY):
            return 0, "not due"
        out = self.sync()
        if not self.reachable:
            # The app is in no team yet: try again soon rather than tomorrow (not at every tick:
            # each try is a warning in the log).
            with self.uow_factory() as uow:
                uow.kv.set(CLAIM_KEY, {"day": None, "retry_at": (now + RETRY_UNREACHABLE).isoformat()})
                uow.commit()
        return out.writes, str(out)


def attach(container, adapter) -> TeamsDirectory:
    """The directory of the Teams adapter's app, and its nightly job."""
    from handlers.registry import JobResult

    d = TeamsDirectory(adapter.deliverer.api, adapter.deliverer.runner, container.uow_factory, container.deps)
    container.extras["teams_directory"] = d
    adapter.directory = d

    def job(uow_factory, deps):
        done, detail = d.job()
        return JobResult("teams_directory", done, detail)

    container.registry.jobs["teams_directory"] = job
    return d
