"""Back to HubSpot: the neutral CRM events the flows queue for ``webhook:crm``, written on the contact.

- ``lead.bounced``: the lead status / lifecycle stage of ``hubspot.on_bounce`` (a per-reason lead
  status if given) and a note with the reason, the rep's note and who bounced it;
- ``lead.requalified``: ``hubspot.on_requalify`` and a note (marketing sent it back to sales);
- ``lead.followed_up``: a note, or a completed task (``hubspot.follow_ups``), for a follow-up
  logged in chat.

Delivered by the outbox dispatcher: failures are retried with backoff (a 429 after HubSpot's
wait), a request HubSpot rejects (a status that is not an option) is dead and counted in
``/metrics``. A retry after an uncertain failure first looks for the note it may already have
written (each carries its outbox key), so a note is never written twice.
"""

from __future__ import annotations

import html
from datetime import datetime, timedelta
import logging
from typing import Callable

from bot.connectors.hubspot.api import (
    AuthError,
    HubSpotError,
    MissingScopes,
    NotFound,
    RateLimited,
    Rejected,
    Unavailable,
)
from bot.connectors.writeback import bounce_text, follow_up_text, requalified_text, with_people
from bot.dispatch import Delivered, PermanentError, TransientError, no_begin

log = logging.getLogger(__name__)


class HubSpotDeliverer:
    platform = "hubspot"
    spacing = timedelta(0)  # HubSpot's own limits are kept by the API client's rate limiter

    def __init__(self, api, config, owner_ids=lambda email: None):
        self.api = api
        self.config = config
        self.owner_ids = owner_ids  # person email -> HubSpot owner id (the note's author)

    def post(
        self,
        destination: str,
        message,
        *,
        key: str,
        since: datetime | None,
        people,
        begin: Callable[[], None] = no_begin,
    ) -> Delivered:
        """``since``: an earlier attempt may have written already; a retry then looks for its
        marker before writing an activity again."""
        maybe_sent = since is not None
        begin()
        event = dict(message)
        kind, data = event.get("type"), with_people(event.get("data") or {}, people)
        try:
            contact = self._contact(data)
            if kind == "lead.bounced":
                self._write(contact, self.config.hubspot.on_bounce, reason=data.get("reason"))
                if self.config.hubspot.on_bounce.note:
                    self._activity("notes", contact, key, maybe_sent, bounce_text(data), data, event)
            elif kind == "lead.requalified":
                self._write(contact, self.config.hubspot.on_requalify)
                if self.config.hubspot.on_requalify.note:
                    self._activity("notes", contact, key, maybe_sent, requalified_text(data), data, event)
            elif kind == "lead.followed_up":
                mode = self.config.hubspot.follow_ups
                if mode != "off":
                    self._activity(
                        "notes" if mode == "note" else "tasks",
                        contact,
                        key,
                        maybe_sent,
                        follow_up_text(data),
                        data,
                        event,
                    )
            else:
                raise PermanentError(f"HubSpot does not take {kind!r} events")
        except RateLimited as e:
            raise TransientError(str(e), retry_after=e.retry_after) from e
        except (Unavailable, AuthError) as e:
            raise TransientError(str(e)) from e
        except (MissingScopes, Rejected, NotFound) as e:
            raise PermanentError(str(e)) from e
        return Delivered(f"contact:{contact}", key)

    def update(self, *a, **k) -> Delivered:  # pragma: no cover - CRM writes are never updated in place
        raise PermanentError("CRM writes cannot be updated")

    # -- steps -----------------------------------------------------------------------------------
    def _contact(self, data: dict) -> str:
        """The HubSpot contact of the lead: its CRM id when it came from HubSpot, else by email."""
        lead_id = str(data.get("lead_id") or "")
        if lead_id.isdigit():
            return lead_id
        email = data.get("email")
        found = self.api.contact_by_email(email) if email else None
        if not found:
            raise PermanentError(f"no HubSpot contact for lead {lead_id or email!r}")
        return found

    def _write(self, contact: str, write, reason: str | None = None) -> None:
        status = write.lead_status_by_reason.get(reason or "", write.lead_status)
        props = {"hs_lead_status": status} if status else {}
        if write.lifecycle_stage:
            # HubSpot does not move a lifecycle stage backwards: clear it, then set it.
            self.api.update_contact(contact, {"lifecyclestage": ""})
            props["lifecyclestage"] = write.lifecycle_stage
        if props:
            self.api.update_contact(contact, props)

    def _activity(
        self, kind: str, contact: str, key: str, maybe_sent: bool, text: str, data: dict, event: dict
    ) -> None:
        ref = f"Smarketing ref {key}"
        if maybe_sent and self._already_written(kind, contact, ref):
            return
        body = f"<p>{html.escape(text)}</p><p><small>{html.escape(ref)}</small></p>"
        at = event.get("occurred_at")
        owner = self.owner_ids(data.get("by_email")) if data.get("by_email") else None
        if kind == "notes":
            props = {"hs_note_body": body, "hs_timestamp": at}
        else:
            props = {
                "hs_task_subject": text[:200],
                "hs_task_body": body,
                "hs_task_status": "COMPLETED",
                "hs_task_type": "TODO",
                "hs_timestamp": at,
            }
        if owner:
            props["hubspot_owner_id"] = owner
        self.api.create_activity(kind, contact, props)

    def _already_written(self, kind: str, contact: str, ref: str) -> bool:
        try:
            ids = self.api.contact_activity_ids(contact, kind)
            if not ids:
                return False
            field = "hs_note_body" if kind == "notes" else "hs_task_body"
            for i in range(0, len(ids), 100):
                objs, _ = self.api.batch_read(kind, ids[i : i + 100], [field])
                if any(ref in ((o.get("properties") or {}).get(field) or "") for o in objs):
                    return True
        except HubSpotError as e:
            log.warning("could not look for an earlier %s on contact %s: %s", kind[:-1], contact, e)
        return False
