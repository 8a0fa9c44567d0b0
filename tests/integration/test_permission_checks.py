"""Permission checks: a page asks the database for its reader's permissions once, not once per
menu entry and button, and a change of a role's permissions applies from the next request."""
from __future__ import annotations

from sqlalchemy import event

from app.extensions import db


class Statements:
    """The SQL statements run while it is open that read role permissions."""

    def __init__(self):
        self.seen: list[str] = []

    def __enter__(self):
        event.listen(db.engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc):
        event.remove(db.engine, "before_cursor_execute", self._record)

    def _record(self, _conn, _cursor, statement, *_args):
        if "ab_permission_view_role" in statement:
            self.seen.append(statement)


def test_a_page_reads_its_readers_permissions_once(client, auth, factory):
    ws = factory.workspace("acme")
    factory.member(ws, "ana-manager")
    auth.login("ana-manager")
    client.get("/channelview/list/")
    with Statements() as statements:
        page = client.get("/channelview/list/")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Linked users" in html and "Runners" in html  # the menu was checked entry by entry
    assert len(statements.seen) == 1, statements.seen


def test_a_role_losing_a_permission_loses_it_on_the_next_request(app, client, auth, factory):
    ws = factory.workspace("acme")
    factory.member(ws, "ana-manager")
    auth.login("ana-manager")
    assert client.get("/runnerstateview/list/").status_code == 200

    sm = app.appbuilder.sm
    role = sm.find_role("WorkspaceManager")
    pv = sm.find_permission_view_menu("can_list", "RunnerStateView")
    sm.del_permission_role(role, pv)
    try:
        answer = client.get("/runnerstateview/list/")
        assert answer.status_code in (302, 403)  # FAB sends the refused to the sign-in page
    finally:
        sm.add_permission_role(role, pv)
    assert client.get("/runnerstateview/list/").status_code == 200
