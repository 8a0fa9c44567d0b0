"""Contact import: a CSV or Excel (.xlsx) file, its columns mapped, imported by an RQ job.

* Upload (`read_upload`): `.csv` (UTF-8, with or without BOM; comma, semicolon or tab, sniffed)
  or `.xlsx` (the first sheet, values not formulas), at most `MAX_BYTES` and `MAX_ROWS` rows,
  a header row first. Anything else is refused with a sentence (`UploadRefused`).
* The upload lives in Redis (`relaydesk:contact_import:<token>`, a day): the file, who and which
  workspace, the mapping, the state and the counts. No table: an import is a job, its report a
  download of the day; the contacts are the lasting result.
* Mapping: each column → `name`, `phone`, `email`, `username`, `language`, `tags`, `opted_out`,
  `custom:<key>` or `ignore` (guessed from the header: `guess_target`).
* Duplicates are matched on the phone, then the email, within the workspace (and within the
  file): `skip` leaves the contact as it is, `update` writes the row's non-empty values (tags
  joined, custom fields added), `create` makes another contact anyway.
* The job (`run_import`) reads the file as a stream and works in chunks of `CHUNK` rows with
  set-based SQL (one SELECT of the matches, one multi-row INSERT, one multi-row UPDATE per
  chunk), commits each chunk and publishes the progress. Rows beyond the plan's
  `max_linked_users` fail with that reason. The error report is a CSV of (row, column,
  reason), at most `MAX_ERRORS` lines, text cells a spreadsheet would run as a formula
  prefixed with an apostrophe.
"""
from __future__ import annotations

import csv
import io
import json
import re
import secrets
import time
from collections.abc import Iterator

from flask_babel import force_locale, get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy import func, insert, or_, select

from app.contacts import (CUSTOM_FIELD_KEY, BadPhone, join_tags, normalise_phone, room_left,
                          tag_list)
from app.extensions import db, redis_connection
from app.jobs.bulk import update_rows
from app.models import LinkedUser
from app.models.base import utcnow
from app.validation import language_problem

MAX_BYTES = 20 * 1024 * 1024
MAX_ROWS = 200_000
MAX_COLUMNS = 100
# an .xlsx is a zip: what it may hold once unpacked (its XML is parsed in the web process)
MAX_UNPACKED_BYTES = 200 * 1024 * 1024
# imports a workspace may have stored at once (each keeps its file in Redis until done)
MAX_PENDING = 5
CHUNK = 2000
MAX_ERRORS = 10_000
TTL = 86400
KEY = "relaydesk:contact_import:{token}"
PENDING = "relaydesk:contact_import:pending:{workspace_id}"  # sorted set: token → stored at
IMPORT_JOB = "app.contact_import.run_import"
FIELDS = ("name", "phone", "email", "username", "language", "tags", "opted_out")
MODES = ("skip", "update", "create")
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TRUE_WORDS = {"1", "true", "yes", "y", "x", "si", "sí", "sim", "evet", "ya", "да", "نعم"}
FALSE_WORDS = {"", "0", "false", "no", "n", "não", "nao", "hayır", "hayir", "tidak", "нет",
               "لا"}
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
HEADER_WORDS = {
    "name": ("name", "full name", "fullname", "contact", "nombre", "nome", "имя", "isim", "ad",
             "nama", "الاسم"),
    "phone": ("phone", "phone number", "mobile", "whatsapp", "tel", "telephone", "number",
              "teléfono", "telefono", "telefone", "телефон", "telefon", "nomor", "هاتف"),
    "email": ("email", "e-mail", "mail", "correo", "почта", "e-posta", "البريد"),
    "username": ("username", "user", "login", "panel username", "usuario", "usuário",
                 "логин", "kullanıcı adı", "pengguna"),
    "language": ("language", "lang", "idioma", "язык", "dil", "bahasa", "اللغة"),
    "tags": ("tags", "tag", "labels", "etiquetas", "теги", "etiketler", "label"),
    "opted_out": ("opted out", "opted_out", "optout", "opt-out", "unsubscribed", "stop"),
}


class UploadRefused(ValueError):
    """A file that cannot be imported; `str()` says why, for the person."""


def defuse(value: str) -> str:
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def slug_key(header: str) -> str:
    key = re.sub(r"[^a-z0-9_]+", "_", header.strip().lower()).strip("_")
    if not key or not key[0].isalpha():
        key = "field_" + key
    return key[:40]


def guess_target(header: str) -> str:
    """The field a header names; another named column is kept as a custom field (its key
    made from the header), an unnamed one ignored."""
    words = header.strip().lower().replace("_", " ")
    for field, names in HEADER_WORDS.items():
        if words in names:
            return field
    return "custom" if words else "ignore"


# --- reading ----------------------------------------------------------------------------------

def _kind(filename: str) -> str:
    lower = (filename or "").lower()
    if lower.endswith(".csv") or lower.endswith(".txt"):
        return "csv"
    if lower.endswith(".xlsx"):
        return "xlsx"
    raise UploadRefused(_l("Choose a .csv or .xlsx file (Excel: File › Save as › Excel "
                           "workbook or CSV UTF-8)."))


def _csv_rows(data: bytes) -> Iterator[list[str]]:
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise UploadRefused(_l("The file is not UTF-8 text. Save it as \"CSV UTF-8\" and "
                               "upload it again.")) from None
    if "\x00" in text[:4096]:
        raise UploadRefused(_l("The file is not UTF-8 text. Save it as \"CSV UTF-8\" and "
                               "upload it again."))
    sample = text[:8192]
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters=",;\t")
    except csv.Error:
        dialect = csv.excel
    try:
        yield from csv.reader(io.StringIO(text), dialect)
    except csv.Error:  # a cell longer than the csv module takes, a stray NUL further down
        raise UploadRefused(_l("A line of the file cannot be read as CSV (a cell is too long "
                               "or the file is not text).")) from None


def _xlsx_rows(data: bytes) -> Iterator[list[str]]:
    from xml.etree.ElementTree import ParseError
    from zipfile import BadZipFile, ZipFile

    from openpyxl import load_workbook

    unreadable = UploadRefused(_l("The file is not an Excel workbook (.xlsx) that can be "
                                  "read."))
    try:
        with ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
    except (BadZipFile, OSError, ValueError):
        raise unreadable from None
    if unpacked > MAX_UNPACKED_BYTES:  # a "zip bomb": small file, gigabytes of XML inside
        raise UploadRefused(_l("The workbook is too large once unpacked (more than %(mb)s MB): "
                               "save it as CSV UTF-8 or split it.",
                               mb=MAX_UNPACKED_BYTES // (1024 * 1024)))
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (BadZipFile, KeyError, OSError, ValueError, ParseError):
        raise unreadable from None
    try:
        sheet = book.worksheets[0]
        for row in sheet.iter_rows(values_only=True):
            yield ["" if v is None else (str(int(v)) if isinstance(v, float) and v.is_integer()
                                         else str(v)) for v in row]
    except (KeyError, ValueError, TypeError, ParseError):
        raise unreadable from None
    finally:
        book.close()


def rows_of(data: bytes, kind: str) -> Iterator[list[str]]:
    return _csv_rows(data) if kind == "csv" else _xlsx_rows(data)


def read_upload(filename: str, data: bytes) -> tuple[str, list[str], list[list[str]]]:
    """(kind, headers, up to 5 sample rows) of an uploaded file. :raise UploadRefused:"""
    kind = _kind(filename)
    if not data:
        raise UploadRefused(_l("The file is empty."))
    if len(data) > MAX_BYTES:
        raise UploadRefused(_l("The file is larger than %(mb)s MB: split it into smaller files.",
                               mb=MAX_BYTES // (1024 * 1024)))
    rows = rows_of(data, kind)
    headers = next((r for r in rows if any(c.strip() for c in r)), None)
    if headers is None:
        raise UploadRefused(_l("The file is empty."))
    headers = [h.strip() for h in headers]
    while headers and not headers[-1]:
        headers.pop()
    if len(headers) > MAX_COLUMNS:
        raise UploadRefused(_l("The file has more than %(n)s columns.", n=MAX_COLUMNS))
    samples = []
    for row in rows:
        if len(samples) == 5:
            break
        if any(c.strip() for c in row):
            samples.append(row[:len(headers)])
    if not samples:
        raise UploadRefused(_l("The file has a header row but no contacts."))
    return kind, headers, samples


# --- the stored import ------------------------------------------------------------------------

def _key(token: str) -> str:
    return KEY.format(token=token)


def create(workspace_id: int, user_id: int | None, filename: str, kind: str, data: bytes,
           headers: list[str]) -> str:
    """Store an upload for its mapping and import; :raise UploadRefused: when the workspace
    already has MAX_PENDING imports stored (each holds its file in Redis for up to a day)."""
    token = secrets.token_urlsafe(16)
    redis = redis_connection()
    key = _key(token)
    pending = PENDING.format(workspace_id=workspace_id)
    now = time.time()
    redis.zremrangebyscore(pending, "-inf", now - TTL)
    for stored in redis.zrange(pending, 0, -1):  # ended or expired imports leave the count
        name = stored.decode() if isinstance(stored, bytes) else stored
        if not redis.exists(_key(name) + ":file"):
            redis.zrem(pending, name)
    if redis.zcard(pending) >= MAX_PENDING:
        raise UploadRefused(_l("%(n)s imports of this workspace are waiting to be mapped or "
                               "running. Finish or wait for them, then upload again.",
                               n=MAX_PENDING))
    redis.zadd(pending, {token: now})
    redis.expire(pending, TTL)
    redis.hset(key, mapping={
        "workspace_id": workspace_id, "user_id": user_id or 0, "filename": filename[:200],
        "kind": kind, "headers": json.dumps(headers), "state": "mapping", "total": 0,
        "language": str(get_locale() or "en"),  # the error report's language
        "done": 0, "created": 0, "updated": 0, "skipped": 0, "failed": 0, "error": ""})
    redis.set(key + ":file", data, ex=TTL)
    redis.expire(key, TTL)
    return token


def load(token: str, workspace_id: int | None) -> dict | None:
    """The import `token` of the workspace (None: unknown, expired or another workspace's;
    `workspace_id` None: the master admin's, any workspace)."""
    if not re.fullmatch(r"[A-Za-z0-9_-]{10,40}", token or ""):
        return None
    raw = redis_connection().hgetall(_key(token))
    if not raw:
        return None
    info = {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v
            for k, v in raw.items()}
    if workspace_id is not None and int(info["workspace_id"]) != workspace_id:
        return None
    for name in ("workspace_id", "user_id", "total", "done", "created", "updated", "skipped",
                 "failed"):
        info[name] = int(info.get(name) or 0)
    info["headers"] = json.loads(info.get("headers") or "[]")
    info["mapping"] = json.loads(info.get("mapping") or "[]")
    info["token"] = token
    return info


def progress(info: dict) -> dict:
    total = info["total"]
    return {"state": info["state"], "total": total, "done": info["done"],
            "created": info["created"], "updated": info["updated"],
            "skipped": info["skipped"], "failed": info["failed"],
            "percent": 100 if info["state"] == "done" else
            (int(100 * info["done"] / total) if total else 0),
            "error": info.get("error") or ""}


def check_mapping(headers: list[str], mapping: list[str]) -> list[str]:
    """Problems of a mapping (sentences): each field once, custom keys valid, something to
    match or name a contact."""
    problems = []
    used = [m for m in mapping if m != "ignore"]
    for field in FIELDS:
        if used.count(field) > 1:
            problems.append(str(_l("%(field)s is chosen for more than one column.",
                                   field=FIELD_LABELS[field])))
    customs = [m for m in used if m.startswith("custom:")]
    for target in customs:
        if not CUSTOM_FIELD_KEY.match(target[len("custom:"):]):
            problems.append(str(_l("%(key)s is not a custom field key: small letters, digits "
                                   "and _, starting with a letter.",
                                   key=target[len("custom:"):] or "?")))
        elif customs.count(target) > 1:
            problems.append(str(_l("The custom field %(key)s is chosen for more than one "
                                   "column.", key=target[len("custom:"):])))
    if not any(f in used for f in ("name", "phone", "email", "username")):
        problems.append(str(_l("Map at least one column to the name, phone, email or "
                               "username.")))
    if len(mapping) != len(headers):
        problems.append(str(_l("Choose what each column is.")))
    return problems


FIELD_LABELS = {"name": _l("Name"), "phone": _l("Phone"), "email": _l("Email"),
                "username": _l("Panel username"), "language": _l("Language"),
                "tags": _l("Tags"), "opted_out": _l("Opted out")}


def start(token: str, mapping: list[str], mode: str) -> bool:
    """Store the mapping and queue the job; False when Redis refused (nothing queued)."""
    from app.jobs.queues import _queue

    redis = redis_connection()
    redis.hset(_key(token), mapping={"mapping": json.dumps(mapping), "mode": mode,
                                     "state": "queued"})
    try:
        _queue("low").enqueue(IMPORT_JOB, token, job_id=f"contact-import-{token}",
                              job_timeout=1800, result_ttl=300, failure_ttl=86400)
    except Exception:  # noqa: BLE001 - Redis down: the page says so
        redis.hset(_key(token), mapping={"state": "mapping"})
        return False
    return True


def error_rows(token: str) -> list[list[str]]:
    raw = redis_connection().lrange(_key(token) + ":errors", 0, MAX_ERRORS)
    return [json.loads(r) for r in raw]


def error_report(token: str) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["row", "column", "reason"])
    for row_number, column, reason in error_rows(token):
        writer.writerow([row_number, defuse(str(column)), defuse(str(reason))])
    return out.getvalue()


# --- the job ----------------------------------------------------------------------------------

class _Row:
    __slots__ = ("number", "values", "custom", "tags")

    def __init__(self, number, values, custom, tags):
        self.number, self.values, self.custom, self.tags = number, values, custom, tags


def _truth(value: str) -> bool | None:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    return None


def parse_row(number: int, cells: list[str], mapping: list[str], headers: list[str],
              errors: list) -> _Row | None:
    """A file row as contact values, or None (its problems appended to `errors`)."""
    values: dict = {}
    custom: dict = {}
    tags: list[str] = []
    bad = False
    for index, target in enumerate(mapping):
        if target == "ignore":
            continue
        value = (cells[index] if index < len(cells) else "").strip()
        column = headers[index]
        if target.startswith("custom:"):
            if value:
                custom[target[len("custom:"):]] = value[:500]
            continue
        if not value:
            continue
        if target == "phone":
            try:
                values["phone"] = normalise_phone(value)
            except BadPhone:
                errors.append([number, column, _("Not a phone number: digits, 6 to 15 of them.")])
                bad = True
        elif target == "email":
            if len(value) > 254 or not EMAIL.match(value):
                errors.append([number, column, _("Not an email address.")])
                bad = True
            else:
                values["email"] = value.lower()
        elif target == "language":
            if language_problem(value) is not None:
                errors.append([number, column, _("Not a language code (en, es, pt_BR…).")])
                bad = True
            else:
                values["language"] = value
        elif target == "opted_out":
            truth = _truth(value)
            if truth is None:
                errors.append([number, column, _("Not yes or no.")])
                bad = True
            else:
                values["opted_out"] = truth
        elif target == "tags":
            tags = tag_list(value)
        elif target == "name":
            values["name"] = value[:255]
        elif target == "username":
            if len(value) > 120:
                errors.append([number, column, _("Longer than 120 characters.")])
                bad = True
            else:
                values["username"] = value
    if bad:
        return None
    if not (values.keys() & {"name", "phone", "email", "username"}):
        errors.append([number, "", _("No name, phone, email or username.")])
        return None
    return _Row(number, values, custom, tags)


def _publish(redis, key: str, counts: dict, errors: list) -> None:
    pipe = redis.pipeline()
    if errors:
        pipe.rpush(key + ":errors", *[json.dumps(e, ensure_ascii=False) for e in errors])
        pipe.ltrim(key + ":errors", 0, MAX_ERRORS - 1)
        pipe.expire(key + ":errors", TTL)
    pipe.hset(key, mapping=counts)
    pipe.execute()


def run_import(token: str) -> dict:
    """The RQ job: import the stored file of `token` with its mapping (module docstring)."""
    redis = redis_connection()
    key = _key(token)
    info = load(token, None)
    if info is None or info["state"] not in ("queued", "running"):
        return {}
    data = redis.get(key + ":file")
    if data is None:
        redis.hset(key, mapping={"state": "failed", "error": "expired"})
        return {}
    redis.delete(key + ":errors")
    importer = Importer(info["workspace_id"], info["headers"], info["mapping"],
                        info.get("mode") or "skip")
    total = sum(1 for _ in rows_of(data, info["kind"])) - 1
    redis.hset(key, mapping={"state": "running", "total": max(0, min(total, MAX_ROWS))})
    try:
        with force_locale(info.get("language") or "en"):
            for counts, errors in importer.run(rows_of(data, info["kind"])):
                _publish(redis, key, counts, errors)
    except Exception as exc:
        db.session.rollback()
        redis.hset(key, mapping={"state": "failed", "error": type(exc).__name__})
        raise
    redis.hset(key, mapping={"state": "done"})
    redis.delete(key + ":file")
    return importer.counts()


class Importer:
    """Imports rows in chunks into one workspace (usable without Redis: the benchmark)."""

    def __init__(self, workspace_id: int, headers: list[str], mapping: list[str], mode: str):
        self.workspace_id, self.headers, self.mapping = workspace_id, headers, mapping
        self.mode = mode if mode in MODES else "skip"
        self.created = self.updated = self.skipped = self.failed = self.done = 0
        self.room = room_left(workspace_id)

    def counts(self) -> dict:
        return {"done": self.done, "created": self.created, "updated": self.updated,
                "skipped": self.skipped, "failed": self.failed}

    def run(self, rows: Iterator[list[str]]) -> Iterator[tuple[dict, list]]:
        next(rows, None)  # the header row
        chunk: list[tuple[int, list[str]]] = []
        for number, cells in enumerate(rows, start=2):
            if number - 1 > MAX_ROWS:
                yield self.counts(), [[number, "", _(
                    "More than %(n)s rows: the rest is not imported.", n=MAX_ROWS)]]
                break
            if not any(c.strip() for c in cells):
                continue
            chunk.append((number, cells))
            if len(chunk) >= CHUNK:
                yield self.chunk(chunk)
                chunk = []
        if chunk:
            yield self.chunk(chunk)

    def chunk(self, chunk: list[tuple[int, list[str]]]) -> tuple[dict, list]:
        errors: list = []
        rows = [r for r in (parse_row(n, c, self.mapping, self.headers, errors)
                            for n, c in chunk) if r is not None]
        self.failed += len(chunk) - len(rows)
        self.done += len(chunk)
        table = LinkedUser.__table__
        phones = {r.values["phone"] for r in rows if "phone" in r.values}
        emails = {r.values["email"] for r in rows if "email" in r.values}
        names = {r.values["username"] for r in rows if "username" in r.values}
        found = db.session.execute(
            select(table.c.id, table.c.phone, func.lower(table.c.email), table.c.username,
                   table.c.tags, table.c.custom_fields)
            .where(table.c.workspace_id == self.workspace_id,
                   or_(table.c.phone.in_(phones) if phones else False,
                       func.lower(table.c.email).in_(emails) if emails else False,
                       table.c.username.in_(names) if names else False))).all()
        by_phone, by_email, by_username, existing = {}, {}, {}, {}
        for contact_id, phone, email, username, tags, custom in found:
            existing[contact_id] = {"tags": tags, "custom_fields": custom or {}}
            if phone:
                by_phone.setdefault(phone, contact_id)
            if email:
                by_email.setdefault(email, contact_id)
            if username:
                by_username[username] = contact_id
        creates: list[dict] = []
        pending: dict[tuple, dict] = {}  # this chunk's new contacts by phone / email
        updates: dict[int, dict] = {}
        now = utcnow()
        for row in rows:
            values = row.values
            match = (by_phone.get(values.get("phone")) or by_email.get(values.get("email"))
                     if self.mode != "create" else None)
            new_twin = None if self.mode == "create" else (
                pending.get(("p", values.get("phone"))) or pending.get(("e", values.get("email"))))
            username = values.get("username")
            owner = by_username.get(username) if username else None
            if match is not None or new_twin is not None:
                if self.mode == "skip":
                    self.skipped += 1
                    continue
                if owner is not None and owner != match:
                    errors.append([row.number, self._column("username"),
                                   _("This username belongs to another contact.")])
                    self.failed += 1
                    continue
                if new_twin is not None:
                    self._fold(new_twin, row)
                else:
                    update = updates.get(match)
                    if update is None:
                        base = existing[match]
                        update = updates[match] = {
                            "id": match, "tags": base["tags"],
                            "custom_fields": dict(base["custom_fields"]), "values": {}}
                    update["values"].update(values)
                    update["tags"] = join_tags(tag_list(update["tags"]), row.tags)
                    update["custom_fields"].update(row.custom)
                    if username:
                        by_username[username] = match
                self.updated += 1
                continue
            if owner is not None:
                errors.append([row.number, self._column("username"),
                               _("This username belongs to another contact.")])
                self.failed += 1
                continue
            if self.room is not None:
                if self.room <= 0:
                    errors.append([row.number, "", _(
                        "The plan's limit of linked users and contacts is reached.")])
                    self.failed += 1
                    continue
                self.room -= 1
            record = {"workspace_id": self.workspace_id, "username": username,
                      "name": values.get("name"), "phone": values.get("phone"),
                      "email": values.get("email"), "language": values.get("language", "en"),
                      "tags": join_tags(row.tags), "custom_fields": dict(row.custom),
                      "opted_out": bool(values.get("opted_out", False)),
                      "opted_out_at": now if values.get("opted_out") else None,
                      "source": "import", "created_at": now, "updated_at": now}
            creates.append(record)
            if username:
                by_username[username] = -1
            if record["phone"]:
                pending[("p", record["phone"])] = record
            if record["email"]:
                pending[("e", record["email"])] = record
            self.created += 1
        if creates:
            db.session.execute(insert(LinkedUser.__table__), creates)
        self._write_updates(list(updates.values()), now)
        db.session.commit()
        return self.counts(), errors

    def _column(self, field: str) -> str:
        return self.headers[self.mapping.index(field)] if field in self.mapping else ""

    @staticmethod
    def _fold(record: dict, row: _Row) -> None:
        for name, value in row.values.items():
            if name == "opted_out":
                record["opted_out"] = value
            elif value is not None and (name != "username" or not record.get("username")):
                record[name] = value
        record["tags"] = join_tags(tag_list(record["tags"]), row.tags)
        record["custom_fields"].update(row.custom)

    def _write_updates(self, updates: list[dict], now) -> None:
        if not updates:
            return
        columns = ("name", "phone", "email", "username", "language", "tags", "custom_fields",
                   "opted_out", "updated_at")
        rows = []
        for update in sorted(updates, key=lambda u: u["id"]):
            values = update["values"]
            rows.append({"id": update["id"], "name": values.get("name"),
                         "phone": values.get("phone"), "email": values.get("email"),
                         "username": values.get("username"),
                         "language": values.get("language"), "tags": update["tags"],
                         "custom_fields": update["custom_fields"],
                         "opted_out": values.get("opted_out"), "updated_at": now})
        keep = "COALESCE({new}, t.%s)"
        update_rows(LinkedUser.__table__, columns, rows,
                    merge={c: keep % c for c in ("name", "phone", "email", "username",
                                                  "language", "opted_out")})


def wait_until_done(token: str, timeout: float = 30.0) -> dict | None:
    """For tests and the CLI: poll until the import is done or failed."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        info = load(token, None)
        if info is None or info["state"] in ("done", "failed"):
            return info
        time.sleep(0.1)
    return load(token, None)
