"""Slack's directory: who is in the workspace (``users.list``) and who is in sales or marketing
(``usergroups.users.list`` of ``teams.<team>.members.slack_usergroup``), applied by
``handlers.directory`` page by page.

- ``users.list`` is read 200 users at a time through ``cursor`` / ``response_metadata.next_cursor``
  (Slack advises no more than 200), each page applied in its own short transaction: memory stays
  flat whatever the workspace's size, and no transaction waits on Slack.
- Both methods are Tier 2 (20+ calls a minute, with bursts): a 429 is waited out for its
  ``Retry-After`` and the same page asked again; nothing else is retried here.
- A user group Slack does not know (``no_such_subteam``, ``invalid_usergroup``…) is a line in
  ``/smarketing people`` and the log; the rest of the sync goes on.
- ``user_change`` and ``team_join`` events apply the one user they carry;
  ``subteam_members_changed`` (a team's user group gained or lost people) re-reads the teams'
  user groups and applies the users it names with their team now; the nightly job
  (``slack_directory``) reads everything once a day whatever replicas run (a claim in the
  database: the first replica past ``directory.sync_at`` on a new day does it).
"""

from __future__ import annotations

import logging
import time
from datetime import timezone
from typing import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, ServerErrorRetryHandler

from handlers import directory
from handlers.directory import Account, Outcome

log = logging.getLogger(__name__)

PAGE = 200
MAX_WAITS = 50  # 429s in a row before the sync gives up until next time
EVENT_LOOKUPS = 10  # users.info calls one subteam_members_changed event may make
CLAIM_KEY = "directory:slack"


def claim_day(uow_factory, deps, key: str) -> bool:
    """Whether this replica syncs now: past ``directory.sync_at`` (UTC) on a day not synced yet
    (or never synced), claimed in the database (of replicas ticking at once, one wins)."""
    now = deps.now().astimezone(timezone.utc)
    at = deps.config.directory.sync_at
    day = now.date() if now.time() >= at else None
    with uow_factory() as uow:
        state = uow.kv.get_for_update(key, {"day": None})
        if state.get("day") is None or (day is not None and state["day"] < day.isoformat()):
            uow.kv.set(key, {"day": (day or now.date()).isoformat(), "claimed_at": now.isoformat()})
            uow.commit()
            return True
    return False


def directory_client(token: str | None, base_url: str, *, timeout: int = 30) -> WebClient:
    """A client that retries dropped connections and server errors but leaves rate limits to
    ``SlackDirectory`` (which waits them out and asks for the same page again)."""
    return WebClient(
        token=token,
        base_url=base_url if base_url.endswith("/") else base_url + "/",
        timeout=timeout,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2), ServerErrorRetryHandler(max_retry_count=2)],
    )


class RateLimited(Exception):
    pass


def account_of(user: dict, team: str | None) -> Account:
    profile = user.get("profile") or {}
    return Account(
        account_id=str(user.get("id")),
        email=profile.get("email"),
        name=str(user.get("real_name") or profile.get("real_name") or user.get("name") or "")[:300],
        deleted=bool(user.get("deleted")),
        bot=bool(user.get("is_bot")) or user.get("id") == "USLACKBOT",
        team=team,
    )


class SlackDirectory:
    def __init__(self, client: WebClient, uow_factory, deps, *, sleep: Callable[[float], None] = time.sleep):
        self.client = client
        self.uow_factory = uow_factory
        self.deps = deps
        self.sleep = sleep
        self.waited: list[float] = []  # Retry-After seconds waited out (tests, the benchmark)
        self.calls = 0
        self.unread: list[str] = []  # user groups the last read could not read

    # -- Slack calls ---------------------------------------------------------------------------
    def _call(self, method: str, *, _waits: int = MAX_WAITS, **params) -> dict:
        """``_waits`` 0: a 429 is not waited out (an event's answer cannot wait) but raised."""
        for _ in range(max(_waits, 1)):
            self.calls += 1
            try:
                return self.client.api_call(method, http_verb="GET", params=params).data  # type: ignore[return-value]
            except SlackApiError as e:
                if e.response.status_code != 429:
                    raise
                if not _waits:
                    break
                wait = float(e.response.headers.get("Retry-After", e.response.headers.get("retry-after", 1)) or 1)
                self.waited.append(wait)
                log.info("Slack %s rate limited: waiting %.0f s as asked", method, wait)
                self.sleep(wait)
        raise RateLimited(f"Slack {method} stayed rate limited after {_waits} waits")

    def team_members(self, *, _waits: int = MAX_WAITS) -> dict[str, str]:
        """Slack user id -> team, from each team's user group (the first team listed wins). The
        user group lines of ``/smarketing people`` are replaced by this read's (``unread``: the
        groups that could not be read)."""
        out: dict[str, str] = {}
        unknown: list[tuple[str, str, str]] = []
        self.unread: list[str] = []
        for team, tc in self.deps.config.teams.items():
            group = tc.members.slack_usergroup
            if not group:
                continue
            try:
                users = self._call("usergroups.users.list", usergroup=group, _waits=_waits).get("users") or []
            except SlackApiError as e:
                self.unread.append(group)
                error = e.response.get("error") if isinstance(e.response.data, dict) else str(e)
                why = {"no_such_subteam": "does not exist in this workspace"}.get(error, f"cannot be read ({error})")
                unknown.append((team, group, why))
                continue
            for uid in users:
                out.setdefault(str(uid), team)
        with self.uow_factory() as uow:
            uow.directory.clear_kind("slack", "unknown_usergroup")
            for team, group, why in unknown:
                directory.unknown_group(uow, self.deps, "slack", team, group, why)
            uow.commit()
        return out

    # -- the whole directory ---------------------------------------------------------------------
    def sync(self) -> Outcome:
        """Read the whole directory and apply it, a page per transaction. Returns what changed."""
        teams = self.team_members()
        total, cursor, pages = Outcome(), "", 0
        while True:
            params = {"limit": PAGE}
            if cursor:
                params["cursor"] = cursor
            data = self._call("users.list", **params)
            members = data.get("members") or []
            pages += 1
            accounts = [account_of(u, teams.get(str(u.get("id")))) for u in members]
            with self.uow_factory.read() as uow:
                accounts = directory.changed_accounts(uow, "slack", accounts)
            if accounts:
                with self.uow_factory() as uow:
                    total.add(directory.sync_accounts(uow, self.deps, "slack", accounts))
                    uow.commit()
            cursor = (data.get("response_metadata") or {}).get("next_cursor") or ""
            if not cursor:
                break
        log.info("Slack directory: %d page(s): %s", pages, total)
        return total

    # -- events ----------------------------------------------------------------------------------
    def on_user(self, user: dict) -> Outcome:
        """A ``user_change`` or ``team_join`` event's user: applied alone (its team is the one
        last synced; user groups change with the nightly sync)."""
        if not isinstance(user, dict) or not user.get("id"):
            return Outcome()
        with self.uow_factory() as uow:
            out = directory.sync_accounts(uow, self.deps, "slack", [account_of(user, None)], teams_known=False)
            uow.commit()
        return out

    def on_group_change(self, event: dict) -> Outcome:
        """A ``subteam_members_changed`` event: if the group is a team's, the users it adds and
        removes are applied with their team as the teams' user groups now say (re-read: someone
        in two groups is in the first team listed, as in the nightly sync). Someone taken out of
        every team's group is in no team from now on (a person already made keeps their team,
        as with the nightly sync). Other user groups are none of the bot's business."""
        if not isinstance(event, dict):
            return Outcome()
        groups = {tc.members.slack_usergroup for tc in self.deps.config.teams.values() if tc.members.slack_usergroup}
        if event.get("subteam_id") not in groups:
            return Outcome()
        ids = list(
            dict.fromkeys(str(u) for key in ("added_users", "removed_users") for u in (event.get(key) or []) if u)
        )
        if not ids:
            return Outcome()
        # Slack waits for the event's answer: no rate limit is waited out here, and the users
        # Slack must be asked about are few; anything else is left to the nightly sync.
        try:
            teams = self.team_members(_waits=0)
        except RateLimited:
            log.info("Slack user group %s changed while rate limited: left to the nightly sync", event["subteam_id"])
            return Outcome()
        if self.unread:
            log.warning(
                "Slack user group %s changed but %s could not be read: left to the nightly sync",
                event["subteam_id"],
                ", ".join(self.unread),
            )
            return Outcome()
        with self.uow_factory.read() as uow:
            known = uow.directory.accounts("slack", ids)
        accounts, asked = [], 0
        for uid in ids:
            row = known.get(uid)
            if row is not None:
                accounts.append(
                    Account(
                        account_id=uid,
                        email=row["email"],
                        name=row["name"] or "",
                        deleted=row["deleted"],
                        team=teams.get(uid),
                    )
                )
                continue
            if asked >= EVENT_LOOKUPS:
                continue
            asked += 1
            try:  # not synced yet: Slack says who they are
                user = self._call("users.info", user=uid, _waits=0).get("user") or {}
            except (SlackApiError, RateLimited) as e:
                log.warning(
                    "Slack user %s of user group %s: users.info failed (%s): left to the nightly sync",
                    uid,
                    event.get("subteam_id"),
                    e,
                )
                continue
            accounts.append(account_of(user, teams.get(uid)))
        if len(ids) - len(known) > EVENT_LOOKUPS:
            log.info(
                "Slack user group %s: %d users not synced yet; %d looked up, the rest at the nightly sync",
                event["subteam_id"],
                len(ids) - len(known),
                EVENT_LOOKUPS,
            )
        out = Outcome()
        if accounts:
            with self.uow_factory() as uow:
                out = directory.sync_accounts(uow, self.deps, "slack", accounts)
                uow.commit()
        return out

    # -- the nightly job ---------------------------------------------------------------------------
    def claim_tonight(self) -> bool:
        return claim_day(self.uow_factory, self.deps, CLAIM_KEY)

    def job(self) -> tuple[int, str]:
        if not self.deps.config.directory.slack or not self.claim_tonight():
            return 0, "not due"
        out = self.sync()
        return out.writes, str(out)


def attach(container, token: str, base_url: str) -> SlackDirectory:
    from handlers.registry import JobResult

    d = SlackDirectory(directory_client(token, base_url), container.uow_factory, container.deps)
    container.extras["slack_directory"] = d

    def job(uow_factory, deps):
        done, detail = d.job()
        return JobResult("slack_directory", done, detail)

    container.registry.jobs["slack_directory"] = job
    return d
