"""A local HTTPS server that speaks (enough of) Salesforce's REST API, for tests and benchmarks.

Salesforce cannot be reached from the test machines, so the connector (``simple-salesforce`` and
our token request) is pointed at this server. It serves TLS with a certificate it makes for
127.0.0.1 (``ca_file``: trust it with ``REQUESTS_CA_BUNDLE``), because simple-salesforce always
speaks ``https://`` to the instance. Shapes follow Salesforce's documentation:

* ``POST /services/oauth2/token``: the OAuth 2.0 JWT bearer grant
  (``urn:ietf:params:oauth:grant-type:jwt-bearer``: the assertion's RS256 signature is verified
  with the connected app's certificate, ``aud`` must be ``https://login.salesforce.com`` or
  ``https://test.salesforce.com``, ``exp`` at most 3 minutes ahead, ``sub`` a pre-authorised user)
  and ``client_credentials`` (consumer key and secret, HTTP Basic or in the form). Errors:
  ``400 {"error": "invalid_grant", "error_description": ...}``, ``invalid_client_id``,
  ``invalid_client``.
* ``GET /services/data/vXX.X/query?q=SOQL`` with ``nextRecordsUrl`` paging (``queryMore``:
  ``GET /services/data/vXX.X/query/<locator>-<offset>``), batches of ``Sforce-Query-Options:
  batchSize=N`` (200 to 2,000; default 2,000). SOQL subset: ``SELECT f, Rel.f | COUNT() FROM o
  [WHERE …] [ORDER BY f [ASC|DESC], …] [LIMIT n]``, conditions with ``= != < <= > >= LIKE IN
  NOT IN``, ``AND``, ``OR``, ``NOT``, parentheses, string/number/boolean/null/date/datetime
  literals; relationship fields through lookups (``Owner.Email``, ``Contact.Email``,
  ``Campaign.Name``, ``Account.Name``).
* ``GET /sobjects/<Object>/describe``, ``GET|PATCH /sobjects/<Object>/<id>``,
  ``POST /sobjects/<Object>`` (Task), ``GET /limits``.
* Bulk API 2.0 query: ``POST /jobs/query``, ``GET /jobs/query/<id>`` (``UploadComplete`` →
  ``InProgress`` → ``JobComplete``), ``GET /jobs/query/<id>/results?locator=&maxRecords=`` (CSV,
  ``Sforce-Locator``, ``Sforce-NumberOfRecords``); ``DELETE``.
* Errors as Salesforce sends them: ``[{"message": ..., "errorCode": ...}]`` with
  ``INVALID_SESSION_ID`` (401), ``REQUEST_LIMIT_EXCEEDED`` (403, past the daily requests),
  ``INVALID_FIELD``, ``INVALID_TYPE``, ``MALFORMED_QUERY``, ``INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST``,
  ``CANNOT_UPDATE_CONVERTED_LEAD`` (400), ``NOT_FOUND`` (404). Every API answer carries
  ``Sforce-Limit-Info: api-usage=used/max``.

Test helpers: ``add_app``, ``add_user``, ``add(object, **fields)``, ``update``, ``get``,
``tasks_of``, ``hide_field`` (field-level security), ``deny`` (object permissions),
``add_field`` (a custom field), ``expire_tokens``, ``set_usage``, ``fail_next``, ``drop_jobs``.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import itertools
import json
import re
import ssl
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Callable
from urllib.parse import parse_qs, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

UTC = dt.timezone.utc
ORG_ID = "00D000000000001EAA"
AUDIENCES = ("https://login.salesforce.com", "https://test.salesforce.com")
PREFIX = {
    "Lead": "00Q",
    "Contact": "003",
    "Opportunity": "006",
    "Campaign": "701",
    "CampaignMember": "00v",
    "Task": "00T",
    "User": "005",
    "Group": "00G",
    "Account": "001",
}
BY_PREFIX = {v: k for k, v in PREFIX.items()}
LEAD_STATUSES = ["New", "Working", "Nurturing", "Qualified", "Unqualified"]

# Object -> field -> (type, updateable/createable, relationship name, referenced objects)
S, B, D, T, N, R = "string", "boolean", "date", "datetime", "currency", "reference"


def _f(type_: str, edit: bool = True, rel: str | None = None, to: tuple[str, ...] = ()) -> dict:
    return {"type": type_, "edit": edit, "rel": rel, "to": to}


COMMON = {
    "Id": _f("id", False),
    "CreatedDate": _f(T, False),
    "LastModifiedDate": _f(T, False),
    "SystemModstamp": _f(T, False),
    "OwnerId": _f(R, True, "Owner", ("User", "Group")),
}
SCHEMA: dict[str, dict[str, dict]] = {
    "User": {
        "Id": _f("id", False),
        "Email": _f("email"),
        "FirstName": _f(S),
        "LastName": _f(S),
        "Name": _f(S, False),
        "IsActive": _f(B),
        "SystemModstamp": _f(T, False),
        "ManagerId": _f(R, True, "Manager", ("User",)),
        "Department": _f(S),
    },
    "Group": {"Id": _f("id", False), "Name": _f(S), "Email": _f("email"), "Type": _f(S)},
    "Account": {**COMMON, "Name": _f(S)},
    "Lead": {
        **COMMON,
        "FirstName": _f(S),
        "LastName": _f(S),
        "Name": _f(S, False),
        "Email": _f("email"),
        "Company": _f(S),
        "Title": _f(S),
        "Status": _f("picklist"),
        "Rating": _f("picklist"),
        "LeadSource": _f("picklist"),
        "IsConverted": _f(B, False),
        "ConvertedDate": _f(D, False),
        "ConvertedContactId": _f(R, False, "ConvertedContact", ("Contact",)),
        "ConvertedOpportunityId": _f(R, False, "ConvertedOpportunity", ("Opportunity",)),
    },
    "Contact": {
        **COMMON,
        "FirstName": _f(S),
        "LastName": _f(S),
        "Name": _f(S, False),
        "Email": _f("email"),
        "Title": _f(S),
        "AccountId": _f(R, True, "Account", ("Account",)),
    },
    "Opportunity": {
        **COMMON,
        "Name": _f(S),
        "Amount": _f(N),
        "CloseDate": _f(D),
        "StageName": _f("picklist"),
        "IsWon": _f(B, False),
        "IsClosed": _f(B, False),
        "CampaignId": _f(R, True, "Campaign", ("Campaign",)),
        "ContactId": _f(R, True, "Contact", ("Contact",)),
        "AccountId": _f(R, True, "Account", ("Account",)),
    },
    "Campaign": {**COMMON, "Name": _f(S), "Type": _f("picklist"), "IsActive": _f(B)},
    "CampaignMember": {
        **{k: v for k, v in COMMON.items() if k != "OwnerId"},
        "CampaignId": _f(R, True, "Campaign", ("Campaign",)),
        "LeadId": _f(R, True, "Lead", ("Lead",)),
        "ContactId": _f(R, True, "Contact", ("Contact",)),
        "Email": _f("email", False),
        "Status": _f("picklist"),
        "HasResponded": _f(B, False),
        "FirstRespondedDate": _f(D, False),
    },
    "Task": {
        **COMMON,
        "WhoId": _f(R, True, "Who", ("Lead", "Contact")),
        "Subject": _f("combobox"),
        "Description": _f("textarea"),
        "Status": _f("picklist"),
        "Priority": _f("picklist"),
        "IsClosed": _f(B, False),
        "Type": _f("picklist"),
        "TaskSubtype": _f("picklist"),
        "ActivityDate": _f(D),
        "CompletedDateTime": _f(T, False),
    },
}
WON_STAGES = {"Closed Won"}
CLOSED_STAGES = {"Closed Won", "Closed Lost"}


class Problem(Exception):
    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None):
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields


# -- SOQL ------------------------------------------------------------------------------------------

TOKEN = re.compile(
    r"""\s*(?:
    (?P<str>'(?:[^'\\]|\\.)*')
  | (?P<dtm>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d))
  | (?P<date>\d{4}-\d\d-\d\d)
  | (?P<num>-?\d+(?:\.\d+)?)
  | (?P<op>!=|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<word>[A-Za-z_][A-Za-z0-9_.]*(?:\(\))?)
)""",
    re.X,
)


def tokenize(q: str) -> list[tuple[str, Any]]:
    out, pos = [], 0
    q = q.strip()
    while pos < len(q):
        m = TOKEN.match(q, pos)
        if not m or m.end() == pos:
            raise Problem(400, "MALFORMED_QUERY", f"unexpected token: '{q[pos : pos + 20]}'")
        pos = m.end()
        kind = m.lastgroup
        text = m.group(kind)
        if kind == "str":
            out.append(("val", re.sub(r"\\(.)", r"\1", text[1:-1])))
        elif kind == "dtm":
            out.append(
                ("val", dt.datetime.fromisoformat(re.sub(r"([+-]\d\d)(\d\d)$", r"\1:\2", text.replace("Z", "+00:00"))))
            )
        elif kind == "date":
            out.append(("val", dt.date.fromisoformat(text)))
        elif kind == "num":
            out.append(("val", float(text)))
        elif kind == "word" and text.lower() in ("true", "false", "null"):
            out.append(("val", {"true": True, "false": False, "null": None}[text.lower()]))
        else:
            out.append((kind if kind in ("op", "punct") else "word", text))
    return out


class Parser:
    def __init__(self, q: str):
        self.q = q
        self.toks = tokenize(q)
        self.i = 0

    def peek(self, n: int = 0):
        return self.toks[self.i + n] if self.i + n < len(self.toks) else (None, None)

    def kw(self, word: str) -> bool:
        k, v = self.peek()
        if k == "word" and str(v).upper() == word:
            self.i += 1
            return True
        return False

    def take(self):
        tok = self.peek()
        if tok[0] is None:
            raise Problem(400, "MALFORMED_QUERY", "unexpected end of query")
        self.i += 1
        return tok

    def parse(self) -> dict:
        if not self.kw("SELECT"):
            raise Problem(400, "MALFORMED_QUERY", "expecting SELECT")
        fields = []
        while True:
            k, v = self.take()
            if k != "word":
                raise Problem(400, "MALFORMED_QUERY", f"unexpected token: '{v}'")
            fields.append(v)
            if self.peek() == ("punct", ","):
                self.i += 1
                continue
            break
        if not self.kw("FROM"):
            raise Problem(400, "MALFORMED_QUERY", "expecting FROM")
        obj = self.take()[1]
        where = order = limit = None
        if self.kw("WHERE"):
            where = self.expr()
        if self.kw("ORDER"):
            if not self.kw("BY"):
                raise Problem(400, "MALFORMED_QUERY", "expecting BY")
            order = []
            while True:
                f = self.take()[1]
                desc = self.kw("DESC")
                if not desc:
                    self.kw("ASC")
                order.append((f, desc))
                if self.peek() == ("punct", ","):
                    self.i += 1
                    continue
                break
        if self.kw("LIMIT"):
            limit = int(self.take()[1])
        if self.peek()[0] is not None:
            raise Problem(400, "MALFORMED_QUERY", f"unexpected token: '{self.peek()[1]}'")
        return {"fields": fields, "object": obj, "where": where, "order": order or [], "limit": limit}

    def expr(self):
        left = self.term()
        while self.kw("OR"):
            left = ("or", left, self.term())
        return left

    def term(self):
        left = self.factor()
        while self.kw("AND"):
            left = ("and", left, self.factor())
        return left

    def factor(self):
        if self.kw("NOT"):
            return ("not", self.factor())
        if self.peek() == ("punct", "("):
            self.i += 1
            e = self.expr()
            if self.take() != ("punct", ")"):
                raise Problem(400, "MALFORMED_QUERY", "expecting )")
            return e
        k, field = self.take()
        if k != "word":
            raise Problem(400, "MALFORMED_QUERY", f"unexpected token: '{field}'")
        negate = self.kw("NOT")
        if self.kw("IN"):
            if self.take() != ("punct", "("):
                raise Problem(400, "MALFORMED_QUERY", "expecting (")
            values = []
            while True:
                values.append(self.take()[1])
                k2, v2 = self.take()
                if v2 == ")":
                    break
            return ("nin" if negate else "in", field, values)
        if self.kw("LIKE"):
            return ("like", field, self.take()[1])
        k, op = self.take()
        if k != "op":
            raise Problem(400, "MALFORMED_QUERY", f"unexpected token: '{op}'")
        return (op, field, self.take()[1])


def _cmp_value(a, b):
    """Values made comparable: datetimes, dates, numbers, case-insensitive text."""
    if isinstance(a, str) and isinstance(b, str):
        return a.lower(), b.lower()
    if isinstance(a, dt.datetime) and isinstance(b, dt.date) and not isinstance(b, dt.datetime):
        b = dt.datetime.combine(b, dt.time(0), tzinfo=UTC)
    return a, b


def _like(value, pattern: str) -> bool:
    if value is None:
        return False
    rx = ""
    i = 0
    while i < len(pattern):
        c = pattern[i]
        if c == "\\" and i + 1 < len(pattern):
            rx += re.escape(pattern[i + 1])
            i += 2
            continue
        rx += ".*" if c == "%" else "." if c == "_" else re.escape(c)
        i += 1
    return re.fullmatch(rx, str(value), re.I | re.S) is not None


# -- the server ------------------------------------------------------------------------------------


def _tls(tmp: Path) -> tuple[ssl.SSLContext, Path]:
    """A certificate for 127.0.0.1 and localhost, self-signed; the context and the file to trust."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "salesforce-standin.local")])
    import ipaddress

    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp / "standin.crt", tmp / "standin.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx, cert_file


def make_key_pair() -> tuple[str, str]:
    """(private key PEM, self-signed certificate PEM): what an admin makes for a connected app."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smarketing-bot")])
    now = dt.datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return (
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()
        ).decode(),
        cert.public_bytes(serialization.Encoding.PEM).decode(),
    )


class SalesforceStandIn:
    def __init__(self, *, daily_max: int = 100_000, now: Callable[[], dt.datetime] | None = None):
        self.lock = threading.RLock()
        self.daily_max = daily_max
        self.now = now or (lambda: dt.datetime.now(UTC))
        self._tmp = tempfile.TemporaryDirectory(prefix="sf-standin-")
        self.ssl_context, self.ca_file = _tls(Path(self._tmp.name))
        self.server: ThreadingHTTPServer | None = None
        self.reset()

    # -- lifecycle ---------------------------------------------------------------------------
    def reset(self) -> None:
        with self.lock:
            self.schema = {o: {f: dict(v) for f, v in fields.items()} for o, fields in SCHEMA.items()}
            self.picklists = {("Lead", "Status"): list(LEAD_STATUSES)}
            self.hidden: set[tuple[str, str]] = set()
            self.denied: set[tuple[str, str]] = set()  # (object, read|edit|create)
            self.records: dict[str, dict[str, dict]] = {o: {} for o in SCHEMA}
            self.apps: dict[str, dict] = {}
            self.tokens: dict[str, str] = {}  # access token -> user id
            self.used = 0
            self.requests: list[dict] = []
            self.cursors: dict[str, tuple[list[dict], int]] = {}
            self.jobs: dict[str, dict] = {}
            self._fail: list[list] = []
            self._ids = itertools.count(1)
            self._index: dict[tuple[str, str], dict] = {}
            self.version = 0
            self.integration_user = self.add_user("integration@northwind.example", "Integration", "User")

    def start(self) -> "SalesforceStandIn":
        standin = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                status, raw, headers = standin.handle(self.command, self.path, dict(self.headers), body)
                self.send_response(status)
                headers.setdefault("Content-Type", "application/json;charset=UTF-8")
                self.send_header("Content-Length", str(len(raw)))
                for k, v in headers.items():
                    self.send_header(k, str(v))
                self.end_headers()
                self.wfile.write(raw)

            do_GET = do_POST = do_PATCH = do_DELETE = _serve

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.server.socket = self.ssl_context.wrap_socket(self.server.socket, server_side=True)
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
        self._tmp.cleanup()

    def __enter__(self) -> "SalesforceStandIn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"https://127.0.0.1:{self.server.server_address[1]}"

    # -- helpers for tests -------------------------------------------------------------------
    def new_id(self, sobject: str) -> str:
        return f"{PREFIX[sobject]}{next(self._ids):012d}AAA"

    def add_app(
        self,
        consumer_key: str,
        *,
        certificate: str | None = None,
        secret: str | None = None,
        users: tuple[str, ...] = (),
        run_as: str | None = None,
    ) -> None:
        """A connected app: its certificate (JWT bearer), secret and Run As user (client
        credentials), and the usernames pre-authorised for it."""
        with self.lock:
            self.apps[consumer_key] = {
                "certificate": certificate,
                "secret": secret,
                "users": set(users),
                "run_as": run_as,
            }

    def add_user(
        self,
        email: str,
        first: str,
        last: str,
        *,
        active: bool = True,
        manager: str | None = None,
        department: str | None = None,
    ) -> str:
        return self.add(
            "User",
            Email=email,
            FirstName=first,
            LastName=last,
            IsActive=active,
            ManagerId=manager,
            Department=department,
        )

    def add_field(self, sobject: str, name: str, type_: str = S) -> None:
        with self.lock:
            self.schema[sobject][name] = _f(type_)

    def hide_field(self, sobject: str, name: str) -> None:
        with self.lock:
            self.hidden.add((sobject, name))

    def deny(self, sobject: str, what: str) -> None:
        """Take a permission away from the integration user: ``read``, ``edit`` or ``create``."""
        with self.lock:
            self.denied.add((sobject, what))

    def set_usage(self, used: int, daily_max: int | None = None) -> None:
        with self.lock:
            self.used = used
            if daily_max is not None:
                self.daily_max = daily_max

    def expire_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def fail_next(self, n: int, *, status: int = 503, path: str = "", after: int = 0) -> None:
        """The next ``n`` API requests whose path contains ``path`` (after letting ``after``
        through) answer ``status``."""
        with self.lock:
            self._fail.append([path, status, n, after])

    def drop_jobs(self) -> None:
        with self.lock:
            self.jobs.clear()

    def add(self, sobject: str, *, at: dt.datetime | None = None, **fields) -> str:
        with self.lock:
            rid = fields.pop("Id", None) or self.new_id(sobject)
            t = at or self.now()
            rec = {f: (False if spec["type"] == B else None) for f, spec in self.schema[sobject].items()}
            rec.update(Id=rid, CreatedDate=t, LastModifiedDate=t, SystemModstamp=t)
            if "OwnerId" in self.schema[sobject]:
                rec["OwnerId"] = (
                    self.integration_user if sobject != "User" and hasattr(self, "integration_user") else None
                )
            self.records[sobject][rid] = rec
            self._set(sobject, rec, fields, t)
            return rid

    def update(self, sobject: str, rid: str, *, at: dt.datetime | None = None, **fields) -> None:
        with self.lock:
            self._set(sobject, self.records[sobject][rid], fields, at or self.now())

    def get(self, sobject: str, rid: str) -> dict:
        with self.lock:
            return dict(self.records[sobject][rid])

    def tasks_of(self, who_id: str) -> list[dict]:
        with self.lock:
            return sorted(
                (dict(r) for r in self.records["Task"].values() if r["WhoId"] == who_id), key=lambda r: r["CreatedDate"]
            )

    def convert(
        self, lead_id: str, *, contact_id: str, opportunity_id: str | None = None, at: dt.datetime | None = None
    ) -> None:
        """What Salesforce's lead conversion records on the lead."""
        t = at or self.now()
        with self.lock:
            self._set(
                "Lead",
                self.records["Lead"][lead_id],
                {
                    "IsConverted": True,
                    "ConvertedContactId": contact_id,
                    "ConvertedOpportunityId": opportunity_id,
                    "ConvertedDate": t.date(),
                },
                t,
            )

    def calls(self, part: str = "") -> list[dict]:
        with self.lock:
            return [r for r in self.requests if part in r["path"]]

    # -- the records ---------------------------------------------------------------------------
    def _set(self, sobject: str, rec: dict, fields: dict, at: dt.datetime) -> None:
        schema = self.schema[sobject]
        for name, value in fields.items():
            if name not in schema:
                raise KeyError(f"{sobject} has no field {name}")
            rec[name] = self._typed(schema[name]["type"], value)
        if {"FirstName", "LastName"} <= schema.keys():
            rec["Name"] = " ".join(x for x in (rec.get("FirstName"), rec.get("LastName")) if x) or None
        if sobject == "Opportunity":
            rec["IsWon"] = rec.get("StageName") in WON_STAGES
            rec["IsClosed"] = rec.get("StageName") in CLOSED_STAGES
        if sobject == "Task":
            was_closed = rec.get("IsClosed")
            rec["IsClosed"] = rec.get("Status") == "Completed"
            if rec["IsClosed"] and not was_closed:
                rec["CompletedDateTime"] = at
        if sobject == "CampaignMember":
            who = self.records["Lead"].get(rec.get("LeadId") or "") or self.records["Contact"].get(
                rec.get("ContactId") or ""
            )
            rec["Email"] = who.get("Email") if who else None
            rec["HasResponded"] = (rec.get("Status") or "") == "Responded"
            if rec["HasResponded"] and not rec.get("FirstRespondedDate"):
                rec["FirstRespondedDate"] = at.date()
        if "LastModifiedDate" in schema:
            rec["LastModifiedDate"] = at
        rec["SystemModstamp"] = at
        self.version += 1

    @staticmethod
    def _typed(type_: str, value):
        if value is None or value == "":
            return None
        if type_ == T and isinstance(value, str):
            return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
        if type_ == T and isinstance(value, dt.datetime):
            return value.astimezone(UTC)
        if type_ == D and isinstance(value, str):
            return dt.date.fromisoformat(value[:10])
        if type_ == D and isinstance(value, dt.datetime):
            return value.date()
        if type_ == N:
            return float(value)
        if type_ == B:
            return value is True or str(value).lower() == "true"
        return value

    def _visible(self, sobject: str, name: str) -> bool:
        return name in self.schema[sobject] and (sobject, name) not in self.hidden

    def _value(self, sobject: str, rec: dict, path: str, query: str):
        """A field (or ``Rel.Field``) of a record, checking it exists as Salesforce would."""
        base, _, sub = path.partition(".")
        if not sub:
            if not self._visible(sobject, base):
                raise self._no_column(base, sobject, query)
            return rec.get(base)
        ref = next(
            (f for f, spec in self.schema[sobject].items() if spec["rel"] and spec["rel"].lower() == base.lower()), None
        )
        if ref is None or not self._visible(sobject, ref):
            raise self._no_column(path, sobject, query)
        target_id = rec.get(ref)
        if not target_id:
            return None
        target = BY_PREFIX.get(str(target_id)[:3])
        if target is None:
            return None
        allowed = set(self.schema[sobject][ref]["to"])
        if target not in allowed or (sub not in self.schema[target] and not (target == "Group" and sub == "Email")):
            if not any(sub in self.schema[t] for t in allowed):
                raise self._no_column(path, sobject, query)
            return None
        other = self.records[target].get(str(target_id))
        return other.get(sub) if other else None

    @staticmethod
    def _no_column(name: str, sobject: str, query: str) -> Problem:
        pos = query.find(name)
        return Problem(
            400,
            "INVALID_FIELD",
            f"\n{query[: pos + len(name) + 20]}\n{' ' * max(pos, 0)}^\nERROR at Row:1:Column:{pos + 1}\n"
            f"No such column '{name}' on entity '{sobject}'. If you are attempting to use a custom field, "
            "be sure to append the '__c' after the custom field name. Please reference your WSDL or the "
            "describe call for the appropriate names.",
        )

    def _matches(self, sobject: str, rec: dict, cond, query: str) -> bool:
        if cond is None:
            return True
        op = cond[0]
        if op == "and":
            return self._matches(sobject, rec, cond[1], query) and self._matches(sobject, rec, cond[2], query)
        if op == "or":
            return self._matches(sobject, rec, cond[1], query) or self._matches(sobject, rec, cond[2], query)
        if op == "not":
            return not self._matches(sobject, rec, cond[1], query)
        value = self._value(sobject, rec, cond[1], query)
        lit = cond[2]
        if op == "like":
            return _like(value, lit)
        if op in ("in", "nin"):
            found = any(value is not None and _cmp_value(value, v)[0] == _cmp_value(value, v)[1] for v in lit)
            return found if op == "in" else not found
        if lit is None or value is None:
            return (value is lit) if op == "=" else (value is not lit) if op == "!=" else False
        a, b = _cmp_value(value, lit)
        try:
            return {"=": a == b, "!=": a != b, "<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]
        except TypeError:
            raise Problem(400, "INVALID_QUERY_FILTER_OPERATOR", f"invalid operator on field {cond[1]}") from None

    def _candidates(self, sobject: str, cond) -> list[dict]:
        """Records that may match: an index on an ``=`` / ``IN`` field of the top-level AND."""
        conds, stack = [], [cond]
        while stack:
            c = stack.pop()
            if c and c[0] == "and":
                stack += [c[1], c[2]]
            elif c:
                conds.append(c)
        for c in conds:
            if c[0] in ("=", "in") and "." not in c[1] and c[1] in self.schema[sobject]:
                index = self._index.get((sobject, c[1]))
                if index is None or index["version"] != self.version:
                    by: dict = {}
                    for r in self.records[sobject].values():
                        v = r.get(c[1])
                        by.setdefault(v.lower() if isinstance(v, str) else v, []).append(r)
                    index = self._index[(sobject, c[1])] = {"version": self.version, "by": by}
                values = c[2] if c[0] == "in" else [c[2]]
                out, seen = [], set()
                for v in values:
                    for r in index["by"].get(v.lower() if isinstance(v, str) else v, []):
                        if r["Id"] not in seen:
                            seen.add(r["Id"])
                            out.append(r)
                return out
        return list(self.records[sobject].values())

    def select(self, query: str) -> tuple[dict, list[dict], bool]:
        """(parsed query, matching rows as {field path: value}, whether it was a COUNT())."""
        p = Parser(query).parse()
        sobject = next((o for o in self.schema if o.lower() == p["object"].lower()), None)
        if sobject is None or (sobject, "read") in self.denied:
            raise Problem(
                400,
                "INVALID_TYPE",
                f"\n{query[:60]}\n^\nERROR at Row:1:Column:1\nsObject type "
                f"'{p['object']}' is not supported. If you are attempting to use a "
                "custom object, be sure to append the '__c' after the entity name. "
                "Please reference your WSDL or the describe call for the appropriate "
                "names.",
            )
        counting = [f.upper() for f in p["fields"]] == ["COUNT()"]
        with self.lock:
            rows = [r for r in self._candidates(sobject, p["where"]) if self._matches(sobject, r, p["where"], query)]
            for f, desc in reversed(p["order"]):
                rows.sort(
                    key=lambda r: (
                        self._value(sobject, r, f, query) is None,
                        _sort_key(self._value(sobject, r, f, query)),
                    ),
                    reverse=desc,
                )
            if p["limit"] is not None:
                rows = rows[: p["limit"]]
            if counting:
                return {**p, "object": sobject}, rows, True
            out = [{f: self._value(sobject, r, f, query) for f in p["fields"]} | {"__id": r["Id"]} for r in rows]
        return {**p, "object": sobject}, out, False

    # -- HTTP ------------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict, body: bytes) -> tuple[int, bytes, dict]:
        parts = urlsplit(raw_path)
        path, qs = parts.path, parse_qs(parts.query)
        with self.lock:
            self.requests.append(
                {
                    "method": method,
                    "path": path,
                    "query": {k: v[0] for k, v in qs.items()},
                    "body": body.decode(errors="replace")[:2000],
                }
            )
        try:
            if path == "/services/oauth2/token" and method == "POST":
                return self._token(headers, body)
            user = self._auth(headers)
            status, data, extra = self._api(method, path, qs, headers, body, user)
            with self.lock:
                self.used += 1
                usage = {"Sforce-Limit-Info": f"api-usage={self.used}/{self.daily_max}"}
            if isinstance(data, (bytes, str)):
                raw = data.encode() if isinstance(data, str) else data
                return status, raw, {"Content-Type": "text/csv", **usage, **extra}
            return (
                status,
                (json.dumps(data, default=_json_default).encode() if data is not None else b""),
                {**usage, **extra},
            )
        except Problem as e:
            err = {"message": e.message, "errorCode": e.code}
            if e.fields is not None:
                err["fields"] = e.fields
            with self.lock:
                usage = {"Sforce-Limit-Info": f"api-usage={self.used}/{self.daily_max}"}
            return e.status, json.dumps([err]).encode(), usage if e.code != "INVALID_SESSION_ID" else {}

    def _auth(self, headers: dict) -> str:
        auth = headers.get("Authorization") or headers.get("authorization") or ""
        token = auth[7:] if auth.startswith("Bearer ") else ""
        with self.lock:
            user = self.tokens.get(token)
        if not user:
            raise Problem(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return user

    def _token(self, headers: dict, body: bytes) -> tuple[int, bytes, dict]:
        form = {k: v[0] for k, v in parse_qs(body.decode()).items()}

        def refuse(error: str, description: str, status: int = 400):
            return status, json.dumps({"error": error, "error_description": description}).encode(), {}

        grant = form.get("grant_type")
        if grant == "urn:ietf:params:oauth:grant-type:jwt-bearer":
            assertion = form.get("assertion") or ""
            try:
                unverified = jwt.decode(assertion, options={"verify_signature": False})
                header = jwt.get_unverified_header(assertion)
            except jwt.PyJWTError:
                return refuse("invalid_grant", "invalid assertion")
            app = self.apps.get(str(unverified.get("iss")))
            if app is None:
                return refuse("invalid_client_id", "client identifier invalid")
            if header.get("alg") != "RS256" or not app["certificate"]:
                return refuse("invalid_grant", "invalid assertion")
            cert = x509.load_pem_x509_certificate(app["certificate"].encode())
            try:
                claims = jwt.decode(
                    assertion,
                    cert.public_key(),
                    algorithms=["RS256"],
                    audience=list(AUDIENCES),
                    options={"require": ["exp", "iss", "sub", "aud"]},
                )
            except jwt.InvalidAudienceError:
                return refuse("invalid_grant", "audience is invalid")
            except jwt.ExpiredSignatureError:
                return refuse("invalid_grant", "expired authorization code")
            except jwt.PyJWTError:
                return refuse("invalid_grant", "invalid assertion")
            if claims["exp"] > time.time() + 300:
                return refuse("invalid_grant", "invalid assertion")
            username = claims["sub"]
            user = next(
                (r["Id"] for r in self.records["User"].values() if r["Email"] == username and r["IsActive"]), None
            )
            if user is None:
                return refuse("invalid_grant", "user hasn't approved this consumer")
            if username not in app["users"]:
                return refuse("invalid_grant", "user hasn't approved this consumer")
        elif grant == "client_credentials":
            key, secret = form.get("client_id"), form.get("client_secret")
            auth = headers.get("Authorization") or headers.get("authorization") or ""
            if auth.startswith("Basic "):
                key, _, secret = base64.b64decode(auth[6:]).decode().partition(":")
            app = self.apps.get(str(key))
            if app is None or not app["secret"] or secret != app["secret"]:
                return refuse("invalid_client", "invalid client credentials")
            if not app["run_as"]:
                return refuse("invalid_grant", "no client credentials user enabled")
            user = next((r["Id"] for r in self.records["User"].values() if r["Email"] == app["run_as"]), None)
        else:
            return refuse("unsupported_grant_type", "grant type not supported")
        token = f"{ORG_ID}!{uuid.uuid4().hex}"
        with self.lock:
            self.tokens[token] = user
        data = {
            "access_token": token,
            "scope": "api",
            "instance_url": self.url,
            "id": f"https://login.salesforce.com/id/{ORG_ID}/{user}",
            "token_type": "Bearer",
            "issued_at": str(int(time.time() * 1000)),
        }
        return 200, json.dumps(data).encode(), {}

    def _api(self, method: str, path: str, qs: dict, headers: dict, body: bytes, user: str):
        m = re.match(r"^/services/data/v(\d+\.\d)/(.*?)/?$", path)
        if not m:
            raise Problem(404, "NOT_FOUND", "The requested resource does not exist")
        version, rest = m.group(1), m.group(2)
        with self.lock:
            for rule in self._fail:
                part, status, n, after = rule
                if n > 0 and part in path:
                    if after > 0:
                        rule[3] -= 1
                        continue
                    rule[2] -= 1
                    raise Problem(
                        status, "SERVER_UNAVAILABLE" if status >= 500 else "UNKNOWN_EXCEPTION", "Service Unavailable"
                    )
            if self.used >= self.daily_max and rest != "limits":
                raise Problem(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if rest == "limits" and method == "GET":
            return 200, self._limits(), {}
        if rest == "query" and method == "GET":
            return 200, self._query(qs.get("q", [""])[0], version, headers), {}
        if rest.startswith("query/") and method == "GET":
            return 200, self._query_more(rest[len("query/") :], version), {}
        if rest.startswith("jobs/query"):
            return self._bulk(method, rest[len("jobs/query") :].strip("/"), qs, body, version, user)
        m = re.match(r"^sobjects/(\w+)(?:/(\w+))?$", rest)
        if m:
            sobject = next((o for o in self.schema if o.lower() == m.group(1).lower()), None)
            if sobject is None:
                raise Problem(404, "NOT_FOUND", "The requested resource does not exist")
            if m.group(2) == "describe" and method == "GET":
                return 200, self._describe(sobject), {}
            if m.group(2) and method == "GET":
                return 200, self._record_json(sobject, self._record(sobject, m.group(2)), version), {}
            if m.group(2) and method == "PATCH":
                self._patch(sobject, m.group(2), json.loads(body or b"{}"))
                return 204, None, {}
            if not m.group(2) and method == "POST":
                return 201, self._create(sobject, json.loads(body or b"{}"), user), {}
        raise Problem(404, "NOT_FOUND", "The requested resource does not exist")

    def _limits(self) -> dict:
        with self.lock:
            jobs = sum(1 for j in self.jobs.values())
            return {
                "DailyApiRequests": {"Max": self.daily_max, "Remaining": max(self.daily_max - self.used, 0)},
                "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000 - jobs},
                "DailyBulkV2QueryFileStorageMB": {"Max": 976562, "Remaining": 976562},
            }

    def _record(self, sobject: str, rid: str) -> dict:
        rec = self.records[sobject].get(rid)
        if rec is None:
            raise Problem(404, "NOT_FOUND", "The requested resource does not exist")
        return rec

    def _record_json(self, sobject: str, rec: dict, version: str) -> dict:
        out = {"attributes": {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{rec['Id']}"}}
        out.update({k: _rest_value(v) for k, v in rec.items() if (sobject, k) not in self.hidden})
        return out

    def _query(self, q: str, version: str, headers: dict) -> dict:
        p, rows, counting = self.select(q)
        if counting:
            return {"totalSize": len(rows), "done": True, "records": []}
        options = headers.get("Sforce-Query-Options") or headers.get("sforce-query-options") or ""
        m = re.search(r"batchSize=(\d+)", options)
        batch = max(200, min(2000, int(m.group(1)))) if m else 2000
        locator = f"01g{uuid.uuid4().hex[:12].upper()}"
        with self.lock:
            self.cursors[locator] = ([self._rest_row(p, r, version) for r in rows], batch)
        return self._cursor_page(locator, 0, version)

    def _query_more(self, ident: str, version: str) -> dict:
        locator, _, offset = ident.rpartition("-")
        if locator not in self.cursors or not offset.isdigit():
            raise Problem(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._cursor_page(locator, int(offset), version)

    def _cursor_page(self, locator: str, offset: int, version: str) -> dict:
        rows, batch = self.cursors[locator]
        page = rows[offset : offset + batch]
        done = offset + batch >= len(rows)
        data = {"totalSize": len(rows), "done": done, "records": page}
        if not done:
            data["nextRecordsUrl"] = f"/services/data/v{version}/query/{locator}-{offset + batch}"
        return data

    def _rest_row(self, p: dict, row: dict, version: str) -> dict:
        sobject = p["object"]
        out: dict = {
            "attributes": {"type": sobject, "url": f"/services/data/v{version}/sobjects/{sobject}/{row['__id']}"}
        }
        for f in p["fields"]:
            base, _, sub = f.partition(".")
            value = _rest_value(row[f])
            if not sub:
                out[base] = value
                continue
            ref = next(
                k for k, spec in self.schema[sobject].items() if spec["rel"] and spec["rel"].lower() == base.lower()
            )
            rel = self.schema[sobject][ref]["rel"]
            target_id = self.records[sobject][row["__id"]].get(ref)
            if not target_id:
                out[rel] = None
                continue
            target = BY_PREFIX.get(str(target_id)[:3], "Name")
            node = out.get(rel) or {
                "attributes": {"type": target, "url": f"/services/data/v{version}/sobjects/{target}/{target_id}"}
            }
            node[sub] = value
            out[rel] = node
        return out

    def _describe(self, sobject: str) -> dict:
        fields = []
        for name, spec in self.schema[sobject].items():
            if (sobject, name) in self.hidden:
                continue
            info = {
                "name": name,
                "label": re.sub(r"(?<!^)(?=[A-Z])", " ", name.removesuffix("__c")),
                "type": spec["type"],
                "updateable": spec["edit"] and (sobject, "edit") not in self.denied,
                "createable": spec["edit"] and (sobject, "create") not in self.denied,
                "nillable": True,
                "filterable": True,
                "custom": name.endswith("__c"),
                "relationshipName": spec["rel"],
                "referenceTo": list(spec["to"]),
                "picklistValues": [],
                "restrictedPicklist": False,
            }
            values = self.picklists.get((sobject, name))
            if values:
                info["picklistValues"] = [
                    {"value": v, "label": v, "active": True, "defaultValue": v == values[0]} for v in values
                ]
                info["restrictedPicklist"] = True
            fields.append(info)
        return {
            "name": sobject,
            "label": sobject,
            "custom": False,
            "queryable": (sobject, "read") not in self.denied,
            "updateable": (sobject, "edit") not in self.denied,
            "createable": (sobject, "create") not in self.denied,
            "fields": fields,
            "keyPrefix": PREFIX.get(sobject),
        }

    def _check_fields(self, sobject: str, data: dict) -> None:
        for name in data:
            if not self._visible(sobject, name):
                raise Problem(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject}")
            if not self.schema[sobject][name]["edit"]:
                raise Problem(
                    400,
                    "INVALID_FIELD_FOR_INSERT_UPDATE",
                    f"Unable to create/update fields: {name}. Please check the security settings of this "
                    "field and verify that it is read/write for your profile or permission set.",
                    [name],
                )
        for (obj, name), values in self.picklists.items():
            if obj == sobject and name in data and data[name] not in values:
                raise Problem(
                    400,
                    "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
                    f"{sobject} Status: bad value for restricted picklist field: {data[name]}",
                    [name],
                )

    def _patch(self, sobject: str, rid: str, data: dict) -> None:
        with self.lock:
            if (sobject, "edit") in self.denied:
                raise Problem(400, "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id")
            rec = self._record(sobject, rid)
            self._check_fields(sobject, data)
            if sobject == "Lead" and rec.get("IsConverted"):
                raise Problem(400, "CANNOT_UPDATE_CONVERTED_LEAD", "cannot reference converted lead")
            self._set(sobject, rec, data, self.now())

    def _create(self, sobject: str, data: dict, user: str) -> dict:
        with self.lock:
            if (sobject, "create") in self.denied:
                raise Problem(400, "INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id")
            self._check_fields(sobject, data)
            who = data.get("WhoId")
            if who and not (self.records["Lead"].get(who) or self.records["Contact"].get(who)):
                raise Problem(400, "FIELD_INTEGRITY_EXCEPTION", "Name ID: id value of incorrect type", ["WhoId"])
            if who and (self.records["Lead"].get(who) or {}).get("IsConverted"):
                raise Problem(400, "FIELD_INTEGRITY_EXCEPTION", "Name ID: converted lead", ["WhoId"])
            data = {"OwnerId": user, **data}
            rid = self.add(sobject, **data)
        return {"id": rid, "success": True, "errors": []}

    # -- Bulk API 2.0 ------------------------------------------------------------------------------
    def _bulk(self, method: str, rest: str, qs: dict, body: bytes, version: str, user: str):
        if not rest and method == "POST":
            spec = json.loads(body or b"{}")
            if spec.get("operation") not in ("query", "queryAll"):
                raise Problem(400, "INVALIDJOB", "InvalidJob : operation must be query or queryAll")
            p, rows, counting = self.select(spec.get("query") or "")
            if counting or p["order"] or p["limit"] is not None:
                raise Problem(
                    400,
                    "INVALIDJOB",
                    "InvalidJob : Bulk API 2.0 does not support COUNT(), ORDER BY or LIMIT in this stand-in",
                )
            job_id = f"750{next(self._ids):012d}AAA"
            now = self.now().strftime("%Y-%m-%dT%H:%M:%S.000+0000")
            with self.lock:
                self.jobs[job_id] = {
                    "id": job_id,
                    "operation": spec["operation"],
                    "object": p["object"],
                    "createdById": user,
                    "createdDate": now,
                    "systemModstamp": now,
                    "state": "UploadComplete",
                    "concurrencyMode": "Parallel",
                    "contentType": "CSV",
                    "apiVersion": float(version),
                    "lineEnding": "LF",
                    "columnDelimiter": "COMMA",
                    "_fields": p["fields"],
                    "_rows": rows,
                    "_polls": 0,
                    "_version": version,
                }
            return 200, _public(self.jobs[job_id]), {}
        job_id, _, tail = rest.partition("/")
        with self.lock:
            job = self.jobs.get(job_id)
        if job is None:
            raise Problem(404, "NOT_FOUND", "The requested resource does not exist")
        if not tail and method == "GET":
            with self.lock:
                job["_polls"] += 1
                job["state"] = "InProgress" if job["_polls"] == 1 else "JobComplete"
                if job["state"] == "JobComplete":
                    job["numberRecordsProcessed"] = len(job["_rows"])
                    job["retries"] = 0
                    job["totalProcessingTime"] = 100
            return 200, _public(job), {}
        if not tail and method == "DELETE":
            with self.lock:
                self.jobs.pop(job_id, None)
            return 204, None, {}
        if tail == "results" and method == "GET":
            if job["state"] != "JobComplete":
                raise Problem(400, "API_ERROR", "Query job is not in JobComplete state")
            if job["_version"] != version:
                raise Problem(409, "INVALIDJOB", "Use the API version the job was created with")
            start = int(qs["locator"][0], 36) if qs.get("locator") and qs["locator"][0] != "null" else 0
            size = int(qs.get("maxRecords", ["50000"])[0])
            rows = job["_rows"][start : start + size]
            buf = io.StringIO()
            w = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")
            w.writerow(job["_fields"])
            for r in rows:
                w.writerow([_csv_value(r[f]) for f in job["_fields"]])
            nxt = start + size
            locator = _b36(nxt) if nxt < len(job["_rows"]) else "null"
            return 200, buf.getvalue(), {"Sforce-Locator": locator, "Sforce-NumberOfRecords": str(len(rows))}
        raise Problem(404, "NOT_FOUND", "The requested resource does not exist")


def _public(job: dict) -> dict:
    return {k: v for k, v in job.items() if not k.startswith("_")}


def _b36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _sort_key(v):
    if isinstance(v, str):
        return (0, v.lower())
    if isinstance(v, dt.datetime):
        return (1, v.timestamp())
    if isinstance(v, dt.date):
        return (1, dt.datetime.combine(v, dt.time(0), tzinfo=UTC).timestamp())
    if isinstance(v, bool):
        return (2, int(v))
    if isinstance(v, (int, float)):
        return (3, v)
    return (4, 0)


def _rest_value(v):
    if isinstance(v, dt.datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}+0000"
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def _csv_value(v) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return v.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{v.microsecond // 1000:03d}Z"
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v)


def _json_default(v):
    return _rest_value(v) if isinstance(v, (dt.date, dt.datetime)) else str(v)
