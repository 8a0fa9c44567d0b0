"""The plan checks of the screens and their REST twins (docs/ARCHITECTURE.md "Plan
enforcement"): each view names its checks in `plan_checks` (app/views/base.py runs them on
every add and update, before the other checks), each takes the row about to be written and
raises a `PlanRefusal` (app/plans.py) whose message names the plan and the limit. A screen
keeps the form with everything typed and shows the message above it; the REST twin answers 403
`{"message": …}`.

A row counts against a limit when it *arrives* in a workspace: added, or moved there by the
master admin. Editing a row that stays where it is never counts it again, so a workspace above
a limit it was lowered to can still edit what it has.
"""
from __future__ import annotations

from sqlalchemy import inspect

from app.extensions import db
from app.models import Channel
from app.plans import PlanExcludes, check_medium, check_module, check_room, module_refusal, \
    plan_of
from app.tenancy import current_scope


def arriving_workspace(row) -> int | None:
    """The id of the workspace a row arrives in: its workspace for a new row, the new one for
    a row moved to another workspace; None for a stored row that stays where it is."""
    state = inspect(row)
    with db.session.no_autoflush:  # a form may have placed the row half-made in the session
        target = row.workspace.id if row.workspace is not None else row.workspace_id
    if state.transient or state.pending:
        return target
    history = state.attrs.workspace_id.history  # the column changes only at the flush
    stored = (history.deleted or history.unchanged or [None])[0]
    return target if target != stored else None


def _changed(row, column: str) -> bool:
    state = inspect(row)
    return not (state.transient or state.pending) and state.attrs[column].history.has_changes()


def channel_fits_plan(channel) -> None:
    """A channel arriving: its medium must be in the plan and there must be room for one more
    (`max_channels`); a stored channel whose kind changes (the REST API) must change to a
    medium of the plan."""
    workspace_id = arriving_workspace(channel)
    if workspace_id is not None:
        check_medium(workspace_id, channel.kind)
        check_room(workspace_id, "max_channels")
    elif _changed(channel, "kind"):
        check_medium(channel.workspace_id, channel.kind)


def route_fits_plan(route) -> None:
    """A provider route sends through its channel: a route added, or moved to another channel,
    must use a channel whose medium the plan includes (a channel kept from a larger plan is no
    way round the plan's mediums)."""
    if route.channel is None and route.channel_id is None:
        return  # the form says the channel is required
    if arriving_workspace(route) is None and not _changed(route, "channel_id") \
            and not _changed(route, "channel"):
        return
    with db.session.no_autoflush:
        channel = route.channel or db.session.get(Channel, route.channel_id)
    if channel is not None:
        check_medium(channel.workspace_id, channel.kind)


def linked_user_fits_plan(linked_user) -> None:
    """A linked user arriving needs room (`max_linked_users`: linked users and contacts)."""
    workspace_id = arriving_workspace(linked_user)
    if workspace_id is not None:
        check_room(workspace_id, "max_linked_users")


def panel_fits_plan(connection) -> None:
    """Service rules fetched from the panel (`service_rules_mode` "cached") need the
    `service_cache` module, when a connection is set to it (a stored connection already in
    that mode stays editable)."""
    if connection.service_rules_mode != "cached":
        return
    workspace_id = arriving_workspace(connection)
    if workspace_id is None and _changed(connection, "service_rules_mode"):
        workspace_id = connection.workspace_id
    if workspace_id is not None:
        check_module(workspace_id, "service_cache")


def member_fits_plan(member) -> None:
    """A member moved to another workspace by the master admin needs room there
    (`max_team_members`); invitations check in app/members.py `invite`."""
    workspace_id = arriving_workspace(member)
    if workspace_id is not None and member.id is not None:
        check_room(workspace_id, "max_team_members")


def api_refusal() -> PlanExcludes | None:
    """The refusal of a REST call (JWT, X-API-Key or a browser session alike) by a member of a
    workspace whose plan lacks the `api` module; None when the call may go on (the master
    admin, a workspace without a plan or with the module)."""
    workspace_id = current_scope().workspace_id
    if workspace_id is None:
        return None
    return module_refusal(plan_of(workspace_id), "api")
