"""A spreadsheet dropped on the local workspace: ``POST /local/api/import`` through the real HTTP
server runs the same importer as ``python -m bot import`` and answers the summary and the rows'
problems; bad requests get a 4xx with a sentence, never a 500."""

from __future__ import annotations

from sqlmodel import Session, select

from storage.models import Lead, Outbox, Person
from tests.test_local_web import wait_for

LEADS = """\
Lead ID,First Name,Last Name,Email,Company / Account,Lead Status,Lead Owner,Rating
00Q1,Olivia,Smith,olivia@acme.example,Acme Logistics,SQL,Chloe Martin,Hot
00Q2,Kenji,Tanaka,kenji@bluebird.example,Bluebird Health,Open - Not Contacted,Ana Torres,Warm
00Q3,Bad,Email,not-an-email,Nowhere Inc,Open - Not Contacted,Ana Torres,Cold
"""


def upload(server, body: bytes, **params):
    params.setdefault("filename", "leads.csv")
    with server.client() as client:
        return client.post(
            "/local/api/import",
            params=params,
            content=body,
            headers={"Content-Type": "application/octet-stream", "Origin": server.url},
        )


def test_a_dropped_csv_is_imported_with_its_problems_listed_and_the_handoff_delivered(
    make_container, live_server, engine
):
    c = make_container(local_workspace=True, demo_data=False)
    server = live_server(c, local=True)
    check = upload(server, LEADS.encode(), dry_run="1")
    assert check.status_code == 200
    assert check.json()["summary"] == "leads: would create 2, update 0, unchanged 0; errors 1"
    with Session(engine) as s:
        assert s.exec(select(Lead)).all() == []
    r = upload(server, LEADS.encode())
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["summary"] == "leads: created 2, updated 0, unchanged 0; errors 1"
    assert (body["kind"], body["guessed_by"], body["rows"]) == ("leads", "from the file name 'leads.csv'", 3)
    assert body["errors"] == [
        {"row": 4, "id": "00Q3", "column": "Email", "value": "not-an-email", "problem": "not an email address"}
    ]
    assert body["errors_total"] == 1
    with Session(engine) as s:
        chloe = s.exec(select(Person).where(Person.key == "chloe")).one()
        olivia = s.exec(select(Lead).where(Lead.crm_id == "00Q1")).one()
    assert (olivia.status, olivia.tier, olivia.owner_id) == ("qualified", "hot", chloe.id)

    def delivered():
        with Session(engine) as s:
            return s.exec(select(Outbox).where(Outbox.destination == f"dm:{chloe.id}", Outbox.status == "sent")).all()

    assert "Olivia Smith" in wait_for(delivered)[0].payload["text"]  # the server woke its dispatcher


def test_bad_uploads_are_refused_with_a_sentence(make_container, live_server):
    c = make_container(local_workspace=True, demo_data=False, import_max_bytes=1000)
    server = live_server(c, local=True)
    cases = [
        (
            dict(),
            b"x" * 1001,
            413,
            "The file is larger than 1000 bytes: import it with `python -m bot import FILE` instead.",
        ),
        (dict(), b"", 400, "The file is empty."),
        (dict(filename=""), LEADS.encode(), 400, "Give the file's name (filename=leads.csv), without folders."),
        (dict(filename="../etc/leads.csv"), LEADS.encode(), 400, "Give the file's name"),
        (
            dict(kind="opportunities"),
            LEADS.encode(),
            400,
            "kind must be one of leads, deals, campaigns, touches, schedule",
        ),
        (dict(dry_run="maybe"), LEADS.encode(), 400, "dry_run must be 0 or 1."),
        (
            dict(filename="old.xls"),
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
            400,
            "old.xls: this is an old Excel .xls workbook: save it as .xlsx or .csv and import that. Nothing was imported.",
        ),
        (dict(filename="export.csv"), b"Foo,Bar\n1,2\n", 400, "export.csv: cannot tell what this file holds"),
    ]
    for params, body, status, error in cases:
        r = upload(server, body, **params)
        assert (r.status_code, r.json()["error"][: len(error)]) == (status, error), (params, r.text)
    with server.client() as client:
        r = client.post(
            "/local/api/import",
            params={"filename": "leads.csv"},
            content=LEADS.encode(),
            headers={"Origin": "https://evil.example"},
        )
        assert (r.status_code, r.json()["error"]) == (403, "Cross-site requests are refused.")
        r = client.post(
            "/local/api/import",
            params={"filename": "leads.csv"},
            content=LEADS.encode(),
            headers={"Host": "smarketing.evil.example"},
        )
        assert r.status_code == 403
