"""Back to Salesforce: the neutral CRM events the flows queue for ``webhook:crm``.

- ``lead.bounced``: ``Lead.Status`` set to ``salesforce.on_bounce.lead_status`` (or the reason's
  own, ``lead_status_by_reason``), the reason written to ``on_bounce.reason_field`` when one is
  configured, and a completed Task on the lead saying why, who and when (``on_bounce.task``);
- ``lead.requalified``: ``salesforce.on_requalify`` (marketing sent it back to sales);
- ``lead.followed_up``: a completed Task for a follow-up logged in chat (``follow_ups: task``),
  owned by the rep's Salesforce user when there is one.

A lead that came from elsewhere (a spreadsheet, the webhook) is found by email. A contact (a lead
converted in Salesforce) has no status: it gets the Task. Delivered by the outbox dispatcher:
retried with backoff (``REQUEST_LIMIT_EXCEEDED`` after ``limit_wait``), dead and counted in
``/metrics`` when Salesforce refuses the write (a status that is not a picklist value). A Task's
subject ends with a marker of its outbox key (``[smk-…]``); a retry looks for it first, so a Task
is never written twice.
"""

from __future__ import annotations

import logging
from typing import Callable
from datetime import datetime, timedelta

from bot.connectors.salesforce.api import (
    AuthError,
    Forbidden,
    InvalidField,
    LimitExceeded,
    NotFound,
    Rejected,
    SalesforceError,
    Unavailable,
    parse_time,
    soql_quote,
)
from bot.connectors.salesforce.translate import who
from bot.connectors.writeback import bounce_text, follow_up_text, requalified_text, short_ref, with_people
from bot.dispatch import Delivered, PermanentError, TransientError, no_begin

log = logging.getLogger(__name__)


class SalesforceDeliverer:
    platform = "salesforce"
    spacing = timedelta(0)

    def __init__(self, api, connector):
        self.api = api
        self.connector = connector  # field look-ups (describe), users by email

    @property
    def config(self):
        return self.connector.config

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
        sf = self.config.salesforce
        try:
            record = self._record(data)
            if kind == "lead.bounced":
                self._write(
                    record,
                    sf.on_bounce,
                    reason=data.get("reason"),
                    reason_label=data.get("reason_label") or data.get("reason"),
                )
                if sf.on_bounce.task:
                    reason = data.get("reason_label") or data.get("reason") or "no reason given"
                    self._task(
                        record, key, maybe_sent, f"Bounced back to marketing: {reason}", bounce_text(data), data, event
                    )
            elif kind == "lead.requalified":
                self._write(record, sf.on_requalify)
                if sf.on_requalify.task:
                    self._task(record, key, maybe_sent, "Sent back to sales", requalified_text(data), data, event)
            elif kind == "lead.followed_up":
                if sf.follow_ups == "task":
                    note = data.get("note")
                    self._task(
                        record,
                        key,
                        maybe_sent,
                        f"Follow-up: {note}" if note else "Follow-up",
                        follow_up_text(data),
                        data,
                        event,
                    )
            else:
                raise PermanentError(f"Salesforce does not take {kind!r} events")
        except LimitExceeded as e:
            raise TransientError(str(e), retry_after=e.retry_after) from e
        except (Unavailable, AuthError) as e:
            raise TransientError(str(e)) from e
        except (Rejected, NotFound, Forbidden, InvalidField) as e:
            raise PermanentError(str(e)) from e
        return Delivered(f"{who(record) or 'record'}:{record}", key)

    def update(self, *a, **k) -> Delivered:  # pragma: no cover - CRM writes are never updated in place
        raise PermanentError("CRM writes cannot be updated")

    # -- steps -----------------------------------------------------------------------------------
    def _record(self, data: dict) -> str:
        """The Salesforce Lead (or Contact) of the lead: its id when it came from Salesforce, else
        the unconverted lead with its email."""
        lead_id = str(data.get("lead_id") or "")
        if who(lead_id) and len(lead_id) in (15, 18):
            return lead_id
        email = data.get("email")
        if email:
            page = self.api.query(
                f"SELECT Id FROM Lead WHERE Email = {soql_quote(email)} AND IsConverted = false "
                "ORDER BY CreatedDate DESC LIMIT 1",
                "a look-up of a lead by email",
            )
            if page.records:
                return str(page.records[0]["Id"])
        raise PermanentError(f"no Salesforce lead for {lead_id or email!r}")

    def _write(self, record: str, write, reason: str | None = None, reason_label: str | None = None) -> None:
        if who(record) != "Lead":
            return  # a contact has no status; its Task says what happened
        fields = {}
        status = write.lead_status_by_reason.get(reason or "", write.lead_status)
        if status:
            fields["Status"] = status
        if write.reason_field and reason_label:
            if self.connector.has_field("Lead", write.reason_field):
                fields[write.reason_field] = reason_label[:255]
            else:
                log.warning(
                    "Salesforce: Lead.%s (salesforce.on_bounce.reason_field) does not exist; the reason is "
                    "only in the Task",
                    write.reason_field,
                )
        if fields:
            self.api.update("Lead", record, fields)

    def _task(self, record: str, key: str, maybe_sent: bool, subject: str, text: str, data: dict, event: dict) -> None:
        marker = f"[{short_ref(key)}]"
        if maybe_sent and self._already_written(record, marker):
            return
        at = parse_time(event.get("occurred_at"))
        fields = {
            "WhoId": record,
            "Subject": f"{subject[: 255 - len(marker) - 1]} {marker}",
            "Description": f"{text}\n\nSmarketing ref {key}",
            "Status": "Completed",
            "Priority": "Normal",
        }
        if at:
            fields["ActivityDate"] = at.date().isoformat()
        owner = self._owner(data.get("by_email"))
        if owner:
            fields["OwnerId"] = owner
        self.api.create("Task", fields)

    def _owner(self, email: str | None) -> str | None:
        try:
            return self.connector.owner_user_id(email)
        except SalesforceError as e:  # the Task is still worth writing, as the integration user
            log.warning("could not find the Salesforce user %s: %s", email, e)
            return None

    def _already_written(self, record: str, marker: str) -> bool:
        like = marker.replace("_", "\\_").replace("%", "\\%")
        try:
            page = self.api.query(
                f"SELECT Id FROM Task WHERE WhoId = {soql_quote(record)} AND Subject LIKE "
                f"{soql_quote('%' + like)} LIMIT 1",
                "a look-up of an earlier task",
            )
            return bool(page.records)
        except SalesforceError as e:
            if isinstance(e, (LimitExceeded, AuthError, Unavailable)):
                raise
            log.warning("could not look for an earlier task on %s: %s", record, e)
            return False
