"""What every CRM writeback says: the texts of the notes and tasks written on a lead, and the
marker that lets a retried write find what an earlier attempt may already have written."""

from __future__ import annotations

import hashlib


def by(data: dict) -> str:
    return data.get("by_name") or data.get("by_email") or "someone"


def bounce_text(data: dict) -> str:
    reason = data.get("reason_label") or data.get("reason") or "no reason given"
    text = f"Bounced back to marketing by {by(data)} in Smarketing: {reason}."
    if data.get("note"):
        text += f" Note: {data['note']}"
    if data.get("bounce_count") and int(data["bounce_count"]) > 1:
        text += f" (bounce #{data['bounce_count']})"
    return text


def requalified_text(data: dict) -> str:
    return f"Sent back to sales by {by(data)} in Smarketing."


def follow_up_text(data: dict) -> str:
    text = f"Follow-up logged by {by(data)} in Smarketing"
    return text + (f": {data['note']}" if data.get("note") else ".")


def short_ref(key: str) -> str:
    """A short, stable marker of an outbox key (``smk-1a2b3c4d5e``), to be searched for where a
    CRM cannot search long text (a Salesforce Task's subject, not its description)."""
    return "smk-" + hashlib.sha256(key.encode()).hexdigest()[:10]


def with_people(data: dict, people) -> dict:
    """The event's data with the actor's name filled in from the people we know."""
    data = dict(data)
    if data.get("by_email") and not data.get("by_name"):
        data["by_name"] = next((p.name for p in people.values() if p.email == data["by_email"]), None)
    return data
