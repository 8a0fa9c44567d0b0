"""Platform identifiers have one owner (issue 10, "Platform identifiers can be squatted").

A Green API instance id, a Telegram bot id (from the bot token), a Meta phone number id and a Meta
WhatsApp Business account (WABA) id belong to at most one channel of the whole platform. Another
workspace ("the squatter") trying to claim one that "the victim" owns is refused through every
write path — the screen (an error beside the field), the REST API (422 naming the field) and the
workspace file (on its line, nothing written) — with a message that names the field and nothing
of the victim, the same message a duplicate inside one's own workspace gets. Two saves racing
past the check (two sessions, the second blocked on the UNIQUE index until the first commits)
end in the same message, never a 500.
"""
from __future__ import annotations

import itertools
import threading
import time
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import Channel, Workspace
from app.models.base import utcnow
from app.ownership import identifier_in_violation, taken_message
from app.views.workspace import ChannelView
from app.workspace_file.errors import WorkspaceFileInvalid
from app.workspace_file.importer import import_text
from tests.form_errors import field_error, field_value

_n = itertools.count(1)

VICTIM_SLUG, VICTIM_NAME = "victim-holdings", "Victim Holdings Ltd"
VICTIM_CHANNELS = {"greenapi": "Victim Green Line", "telegram": "Victim Support Bot",
                   "meta": "Victim Cloud Number"}
OWNED = {"id_instance": "1101000777", "bot_token": "700777:AAvictim-own-bot-token",
         "phone_number_id": "106540350000777", "waba_id": "102290120000777"}
COLUMN = {"id_instance": "id_instance", "bot_token": "bot_id",
          "phone_number_id": "phone_number_id", "waba_id": "waba_id"}

# A new channel claiming one of the victim's identifiers, every other value its own.
CLAIMS = {
    "id_instance": {"kind": "greenapi", "api_url": "https://7103.api.greenapi.com",
                    "id_instance": OWNED["id_instance"], "api_token": "squatter-green-token"},
    # another token of the same bot (bot id 700777): a bot id comes from the token
    "bot_token": {"kind": "telegram", "bot_token": "700777:AAsquatter-other-token"},
    "phone_number_id": {"kind": "meta", "phone_number_id": OWNED["phone_number_id"],
                        "waba_id": "102290129999001", "access_token": "squatter-meta-token"},
    "waba_id": {"kind": "meta", "phone_number_id": "106540359999002",
                "waba_id": OWNED["waba_id"], "access_token": "squatter-meta-token"},
}
FIELDS = list(CLAIMS)


@pytest.fixture
def victim(factory):
    ws = factory.workspace(VICTIM_SLUG, VICTIM_NAME)
    factory.channel(ws, name=VICTIM_CHANNELS["greenapi"], kind="greenapi",
                    id_instance=OWNED["id_instance"])
    factory.channel(ws, name=VICTIM_CHANNELS["telegram"], kind="telegram",
                    bot_token=OWNED["bot_token"])
    factory.channel(ws, name=VICTIM_CHANNELS["meta"], kind="meta",
                    phone_number_id=OWNED["phone_number_id"], waba_id=OWNED["waba_id"])
    factory.member(ws, "victim-manager")
    return ws


@pytest.fixture
def squatter(factory, victim):
    ws = factory.workspace("acme", "Acme SMM")
    factory.member(ws, "acme-manager")
    return ws


def channel_count() -> int:
    db.session.expire_all()
    return db.session.query(Channel).count()


def assert_reveals_nothing(text: str) -> None:
    for secret in (VICTIM_SLUG, VICTIM_NAME, *VICTIM_CHANNELS.values(), "another workspace",
                   "of this workspace"):
        assert secret not in text, secret


def form(name: str, values: dict) -> dict:
    """What a browser posts from the add form: every field, blanks included."""
    data = {c: "" for c in ChannelView.add_columns if c != "enabled"}
    data.update(name=name, enabled="y", **values)
    return data


def add_through_screen(client, values: dict, name: str | None = None):
    return client.post("/channelview/add", data=form(name or f"Claim {next(_n)}", values))


def add_through_api(client, values: dict, name: str | None = None):
    return client.post("/api/v1/channel/", json={"name": name or f"Claim {next(_n)}", **values})


def workspace_file(slug: str, values: dict, name: str = "Claimed channel") -> str:
    pairs = ", ".join(f'{k}: "{v}"' for k, v in values.items())
    return (f"workspace: {{slug: {slug}, name: {slug.title()}}}\n"
            "channels:\n"
            f"  - {{name: {name}, {pairs}}}\n")


def import_refused(text: str) -> str:
    with pytest.raises(WorkspaceFileInvalid) as refused:
        import_text(text, "claim.yaml")
    return str(refused.value)


# --- another workspace cannot claim what one owns ------------------------------------------------

@pytest.mark.parametrize("field", FIELDS)
def test_screen_refuses_an_identifier_of_another_workspace_beside_the_field(
        client, auth, squatter, field):
    auth.login("acme-manager")
    before = channel_count()
    response = add_through_screen(client, CLAIMS[field])
    assert response.status_code == 200  # the form again, with the input kept
    html = response.get_data(as_text=True)
    assert field_error(html, field) == taken_message(COLUMN[field])
    assert_reveals_nothing(html)
    assert channel_count() == before


@pytest.mark.parametrize("field", FIELDS)
def test_api_refuses_an_identifier_of_another_workspace_naming_the_field(
        client, auth, squatter, field):
    auth.login("acme-manager")
    before = channel_count()
    response = add_through_api(client, CLAIMS[field])
    assert response.status_code == 422
    assert response.json == {"message": {field: [taken_message(COLUMN[field])]}}
    assert_reveals_nothing(response.get_data(as_text=True))
    assert channel_count() == before


@pytest.mark.parametrize("field", FIELDS)
def test_workspace_file_refuses_an_identifier_of_another_workspace_on_its_line(
        db, squatter, field):
    before = channel_count()
    stamp = db.session.get(Workspace, squatter.id).updated_at
    problems = import_refused(workspace_file("acme", CLAIMS[field]))
    assert f"claim.yaml:3: channels[0].{field}: {taken_message(COLUMN[field])}" in problems
    assert_reveals_nothing(problems)
    assert channel_count() == before
    assert db.session.get(Workspace, squatter.id).updated_at == stamp  # nothing written


@pytest.mark.parametrize("field", FIELDS)
def test_a_duplicate_in_ones_own_workspace_gets_the_same_message(client, auth, db, squatter,
                                                                 field):
    """The victim's own second channel gets word for word what the squatter got: the answer
    cannot tell "in your workspace" from "in another one"."""
    answers = {}
    for login in ("acme-manager", "victim-manager"):
        auth.login(login)
        html = add_through_screen(client, CLAIMS[field]).get_data(as_text=True)
        answers[login, "screen"] = field_error(html, field)
        answers[login, "api"] = add_through_api(client, CLAIMS[field]).json["message"]
        auth.logout()
    for slug in ("acme", VICTIM_SLUG):
        problem = import_refused(workspace_file(slug, CLAIMS[field]))
        answers[slug, "file"] = problem.split(f"channels[0].{field}: ", 1)[1].splitlines()[0]
    message = taken_message(COLUMN[field])
    assert answers["acme-manager", "screen"] == answers["victim-manager", "screen"] == message
    assert answers["acme-manager", "api"] == answers["victim-manager", "api"] == {
        field: [message]}
    assert answers["acme", "file"] == answers[VICTIM_SLUG, "file"] == message


def test_editing_ones_channel_onto_an_owned_waba_is_refused(client, auth, factory, squatter):
    own = factory.channel(squatter, name="Acme Cloud", kind="meta")
    stored = (own.phone_number_id, own.waba_id, own.verified_at)
    auth.login("acme-manager")
    data = {c: "" for c in ChannelView.edit_columns}
    data.update(name="Acme Cloud", kind="meta", enabled="y",
                phone_number_id=own.phone_number_id, waba_id=OWNED["waba_id"])
    response = client.post(f"/channelview/edit/{own.id}", data=data)
    assert response.status_code == 200
    assert field_error(response.get_data(as_text=True), "waba_id") == taken_message("waba_id")
    response = client.put(f"/api/v1/channel/{own.id}", json={"waba_id": OWNED["waba_id"]})
    assert response.status_code == 422
    assert response.json == {"message": {"waba_id": [taken_message("waba_id")]}}
    db.session.expire_all()
    row = db.session.get(Channel, own.id)
    assert (row.phone_number_id, row.waba_id, row.verified_at) == stored
    # Control: saving the channel with its own identifiers is not a conflict with itself.
    data["waba_id"] = own.waba_id
    assert client.post(f"/channelview/edit/{own.id}", data=data).status_code == 302
    assert client.put(f"/api/v1/channel/{own.id}", json={"notes": "x"}).status_code == 200
    db.session.expire_all()
    assert db.session.get(Channel, own.id).verified_at == stored[2]  # nothing to verify again


def test_blank_identifiers_are_no_identifiers(client, auth, squatter):
    """A browser posts every field; the Meta fields of two Green API channels are blank, and
    blanks never collide (they are stored as NULL)."""
    auth.login("acme-manager")
    for number in ("1101000901", "1101000902"):
        values = dict(CLAIMS["id_instance"], id_instance=number)
        assert add_through_screen(client, values).status_code == 302
    db.session.expire_all()
    rows = db.session.query(Channel).filter(Channel.id_instance.in_(["1101000901",
                                                                     "1101000902"])).all()
    assert len(rows) == 2
    assert {(r.phone_number_id, r.waba_id, r.bot_id) for r in rows} == {(None, None, None)}


# --- a race past the check ends in the same message ----------------------------------------------

@pytest.mark.parametrize("column", ["id_instance", "bot_id", "phone_number_id", "waba_id"])
def test_each_unique_constraint_maps_back_to_its_identifier(db, squatter, column):
    """The final guard on any backend: a duplicate written past the check is refused by the
    database, and the refusal names the identifier (PostgreSQL: the constraint's name; SQLite:
    the column)."""
    kind = {"id_instance": "greenapi", "bot_id": "telegram"}.get(column, "meta")
    values = {"bot_token": "700999:AAone"} if column == "bot_id" else {column: "999000111"}
    first = Channel(workspace_id=squatter.id, name="First", kind=kind, **values)
    db.session.add(first)
    db.session.commit()
    again = {"bot_token": "700999:AAtwo"} if column == "bot_id" else values
    db.session.add(Channel(workspace_id=squatter.id, name="Second", kind=kind, **again))
    with pytest.raises(sa.exc.IntegrityError) as refused:
        db.session.commit()
    db.session.rollback()
    assert identifier_in_violation(refused.value) == column
    db.session.add(Channel(workspace_id=squatter.id, name="First", kind="webchat"))
    with pytest.raises(sa.exc.IntegrityError) as other:
        db.session.commit()  # the (workspace, name) constraint: not an identifier
    db.session.rollback()
    assert identifier_in_violation(other.value) is None


@contextmanager
def claimed_by_another_session(workspace_id: int, column: str, value: str):
    """Another session inserts a channel holding `column = value` and keeps its transaction
    open: the check of a concurrent save cannot see it, the save's INSERT waits for it."""
    kind = {"id_instance": "greenapi", "bot_id": "telegram"}.get(column, "meta")
    connection = db.engine.connect()
    transaction = connection.begin()
    now = utcnow()
    connection.execute(sa.insert(Channel.__table__).values(
        workspace_id=workspace_id, name=f"racer {next(_n)}", kind=kind, enabled=True,
        status="unknown", created_at=now, updated_at=now, **{column: value}))
    try:
        yield transaction
    finally:
        if transaction.is_active:
            transaction.rollback()
        connection.close()


def run_until_blocked(target, outcome=lambda: None) -> threading.Thread:
    """Start `target` in a thread and return once it waits on a lock in PostgreSQL."""
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60  # a loaded machine can be slow to get there
    with db.engine.connect() as watcher:
        while time.monotonic() < deadline:
            waiting = watcher.execute(sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar()
            if waiting:
                return thread
            assert thread.is_alive(), f"the save finished without waiting: {outcome()}"
            time.sleep(0.02)
    raise AssertionError("the save never waited for the other session")


@pytest.fixture
def postgres_only(db):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the race needs a second session that holds a lock (PostgreSQL)")


@pytest.mark.parametrize("field", FIELDS)
def test_api_race_past_the_check_ends_in_the_same_422(app, client, auth, squatter,
                                                      postgres_only, field):
    auth.login("acme-manager")
    claim = {**CLAIMS[field], **{k: v.replace("777", "555") for k, v in CLAIMS[field].items()
                                 if k == field}}
    value = claim[field] if field != "bot_token" else claim[field].split(":")[0]
    answer = {}
    before = channel_count()
    db.session.commit()  # no transaction of ours left open meanwhile
    with claimed_by_another_session(squatter.id, COLUMN[field], value) as other:
        thread = run_until_blocked(lambda: answer.update(
            response=add_through_api(client, claim)),
            lambda: (answer["response"].status_code, answer["response"].json))
        other.commit()
        thread.join(60)
    response = answer["response"]
    assert response.status_code == 422
    assert response.json == {"message": {field: [taken_message(COLUMN[field])]}}
    assert channel_count() == before + 1  # the other session's row only


def test_screen_race_past_the_check_ends_in_the_same_message(app, client, auth, squatter,
                                                             postgres_only):
    auth.login("acme-manager")
    claim = dict(CLAIMS["waba_id"], waba_id="102290120000555")
    answer = {}
    db.session.commit()
    with claimed_by_another_session(squatter.id, "waba_id", "102290120000555") as other:
        thread = run_until_blocked(lambda: answer.update(
            response=add_through_screen(client, claim, name="Racing Cloud")))
        other.commit()
        thread.join(60)
    # the form comes back with what was typed and the message beside the field
    assert answer["response"].status_code == 200
    page = answer["response"].get_data(as_text=True)
    assert field_error(page, "waba_id") == taken_message("waba_id")
    assert field_value(page, "name") == "Racing Cloud"
    assert db.session.query(Channel).filter_by(name="Racing Cloud").count() == 0


def test_screen_edit_race_past_the_check_ends_in_the_same_message(app, client, auth, factory,
                                                                  squatter, postgres_only):
    """FAB's edit screen shows only its "database error" text when the write fails: it is the
    refusal's own message."""
    own = factory.channel(squatter, name="Acme Cloud", kind="meta")
    own_id, before = own.id, (own.waba_id, own.verified_at)
    auth.login("acme-manager")
    data = {c: "" for c in ChannelView.edit_columns}
    data.update(name="Acme Cloud", kind="meta", enabled="y", phone_number_id=own.phone_number_id,
                waba_id="102290120000555")
    answer = {}
    workspace_id = squatter.id
    db.session.commit()
    with claimed_by_another_session(workspace_id, "waba_id", "102290120000555") as other:
        thread = run_until_blocked(lambda: answer.update(
            response=client.post(f"/channelview/edit/{own_id}", data=data)))
        other.commit()
        thread.join(60)
    assert answer["response"].status_code == 200
    page = answer["response"].get_data(as_text=True)
    assert field_error(page, "waba_id") == taken_message("waba_id")
    assert field_value(page, "waba_id") == "102290120000555"
    db.session.expire_all()
    row = db.session.get(Channel, own_id)
    assert (row.waba_id, row.verified_at) == before


def test_workspace_file_race_past_the_check_is_reported_on_its_line(app, db, squatter,
                                                                    postgres_only):
    text = workspace_file("acme", dict(CLAIMS["waba_id"], waba_id="102290120000555"))
    answer = {}

    def run_import():
        with app.app_context():
            try:
                import_text(text, "claim.yaml")
            except Exception as exc:  # noqa: BLE001 - handed to the test's thread
                answer["error"] = exc

    db.session.commit()
    before = channel_count()
    db.session.commit()
    with claimed_by_another_session(squatter.id, "waba_id", "102290120000555") as other:
        thread = run_until_blocked(run_import)
        other.commit()
        thread.join(60)
    error = answer["error"]
    assert isinstance(error, WorkspaceFileInvalid)
    assert f"claim.yaml:3: channels[0].waba_id: {taken_message('waba_id')}" in str(error)
    assert channel_count() == before + 1  # the other session's row only
