"""Real time and the team, for the people of a workspace.

* `LiveView` (`/inbox/…`): `GET /inbox/stream`, the workspace's events as Server-Sent Events
  (app/realtime.py) for its signed-in members; `POST /inbox/typing` (a teammate types in a
  conversation); `POST /inbox/availability` (the page header's online/away toggle);
  `POST /inbox/preferences` (the member's sound and browser notification on new messages).
* `TeamFiguresView` (`/team/figures/`): per-member figures over a chosen period.
* `TeamApi` (`/api/v1/team/…`): `GET`/`PUT /api/v1/team/me` (availability, preferences),
  `GET /api/v1/team/figures?from=…&to=…`.

The stream answers 401 to someone not signed in and 403 to a signed-in person who is not a
member of a workspace (the master admin reads a workspace's pages by signing in as one of its
members) or whose role lacks it. Each connection holds a web thread: a process serves at most
LIVE_STREAMS_PER_PROCESS (503 with Retry-After beyond), each ends after LIVE_STREAM_SECONDS
(the page reconnects with Last-Event-ID and misses nothing), so normal pages keep threads.
"""
from __future__ import annotations

import json
import logging
import threading
from collections import Counter
import time
from datetime import datetime, time as day_time, timedelta
from urllib.parse import urlsplit

from flask import (Response, current_app, g, jsonify, redirect, request,
                   stream_with_context, url_for)
from flask_appbuilder import BaseView, expose
from flask_appbuilder.api import BaseApi
from flask_appbuilder.api import protect, safe  # noqa: I001
from flask_appbuilder.security.decorators import has_access
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l

from app import realtime, team
from app.extensions import db
from app.models import Conversation, WorkspaceMember
from app.models.base import utcnow
from app.redaction import flash
from app.security import ROLE_AGENT, ROLE_MANAGER, WRITE
from app.tenancy import current_scope, scope_query
from app.views.plan_checks import api_refusal

log = logging.getLogger(__name__)

TYPING_EVERY = 2  # seconds: a member's typing in a conversation is published at most this often
TYPING_KEY = "relaydesk:typing:{}:{}"
BOTH_ROLES = {ROLE_MANAGER: WRITE, ROLE_AGENT: WRITE}

_open_streams = 0
_streams_by_user: Counter = Counter()  # this process's open streams per login
_streams_by_workspace: Counter = Counter()  # and per workspace
_streams_lock = threading.Lock()

NOT_SIGNED_IN = _l("Sign in to receive live updates.")
NOT_A_MEMBER = _l("Live updates are for the members of a workspace. To see a workspace's pages "
                  "live, sign in as one of its members.")


def current_member() -> WorkspaceMember | None:
    """The signed-in person's membership (None: not signed in, the master admin, or nobody's)."""
    user = g.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return None
    scope = current_scope()
    if scope.all_workspaces or scope.workspace_id is None:
        return None
    return (db.session.query(WorkspaceMember)
            .filter_by(user_id=user.id, workspace_id=scope.workspace_id).one_or_none())


def live_member() -> WorkspaceMember | None:
    """The page header's member (cached for the request; None outside a workspace)."""
    user_id = getattr(g.get("user"), "id", None)
    cached = g.get("_relaydesk_live_member")
    if cached is None or cached[0] != user_id:
        try:
            cached = (user_id, current_member())
        except Exception:  # noqa: BLE001 - the header never fails a page
            log.warning("the header could not read the membership", exc_info=True)
            cached = (user_id, None)
        g._relaydesk_live_member = cached
    return cached[1]


def _refusal(permission: str, as_json: bool = True):
    """None, or the 401/403 answer for this request."""
    user = g.get("user")
    if user is None or not getattr(user, "is_authenticated", False):
        return _plain(401, str(NOT_SIGNED_IN), as_json)
    if current_member() is None:
        return _plain(403, str(NOT_A_MEMBER), as_json)
    sm = current_app.appbuilder.sm
    if not sm.has_access(permission, "LiveView"):
        return _plain(403, _("Your role does not allow this."), as_json)
    return None


def _plain(status: int, message: str, as_json: bool):
    if as_json:
        response = jsonify(message=message)
    else:
        response = Response(message + "\n", mimetype="text/plain")
    response.status_code = status
    return response


def _safe_next(default: str) -> str:
    target = request.form.get("next") or request.referrer or ""
    if "\\" in target or any(ord(c) < 32 for c in target):  # "/\\host" is "//host" to browsers
        return default
    parts = urlsplit(target)
    if target and (not parts.netloc or parts.netloc == request.host):
        if parts.path.startswith("/") and not parts.path.startswith("//"):
            return parts.path + (f"?{parts.query}" if parts.query else "")
    return default


class LiveView(BaseView):
    """The workspace's live channel and the member's own toggles (see the module docstring)."""

    route_base = "/inbox"
    default_view = "stream"
    base_permissions = ["can_stream", "can_typing", "can_availability", "can_preferences"]
    relaydesk_roles = BOTH_ROLES

    @expose("/stream", methods=["GET"])
    def stream(self):
        """Server-Sent Events: `retry:`, then each event of the member's workspace as
        `id: <stream id>`, `event: <name>`, `data: <json>`; a `: ping` comment every
        LIVE_HEARTBEAT_SECONDS; a `reset` event when events were lost (reload what you show).
        Resumes after `Last-Event-ID` (header, or `?last_event_id=`)."""
        global _open_streams
        refusal = _refusal("can_stream", as_json=False)
        if refusal is not None:
            return refusal
        member = current_member()
        config = current_app.config
        user_id, workspace_key = member.user_id, member.workspace_id
        with _streams_lock:
            if (_open_streams >= int(config["LIVE_STREAMS_PER_PROCESS"])
                    or _streams_by_user[user_id] >= int(config["LIVE_STREAMS_PER_USER"])
                    or _streams_by_workspace[workspace_key]
                    >= int(config["LIVE_STREAMS_PER_WORKSPACE"])):
                response = _plain(503, _("Too many live pages are open; retrying shortly."),
                                  as_json=False)
                response.headers["Retry-After"] = "5"
                return response
            _open_streams += 1
            _streams_by_user[user_id] += 1
            _streams_by_workspace[workspace_key] += 1
        last_id = realtime.valid_event_id(request.headers.get("Last-Event-ID")
                                          or request.args.get("last_event_id"))
        heartbeat = float(config["LIVE_HEARTBEAT_SECONDS"])
        lifetime = float(config["LIVE_STREAM_SECONDS"])
        retry_ms = int(config["LIVE_RETRY_MS"])
        workspace_id, member_id = member.workspace_id, member.id
        db.session.commit()  # holds no connection while the stream is open
        team.mark_seen(member_id)

        def events():
            reader = None
            try:
                yield f"retry: {retry_ms}\n\n"
                reader = realtime.Reader(workspace_id, block_seconds=min(heartbeat, lifetime))
                after, lost = reader.start(last_id)
                yield f": open {after}\n\n"
                if lost:
                    yield f"id: {after}\nevent: reset\ndata: {{}}\n\n"
                deadline = time.monotonic() + lifetime
                while time.monotonic() < deadline:
                    entries = reader.read(after)
                    if not entries:
                        yield ": ping\n\n"
                        team.mark_seen(member_id)  # ends its transaction: no connection held
                        continue
                    chunk = []
                    for entry_id, name, data in entries:
                        after = entry_id
                        chunk.append(f"id: {entry_id}\nevent: {name}\ndata: {data}\n\n")
                    yield "".join(chunk)
            except GeneratorExit:
                raise
            except Exception:  # noqa: BLE001 - Redis went away: the page reconnects later
                log.warning("live stream of workspace %s ended", workspace_id, exc_info=True)
                yield ": unavailable\n\n"
            finally:
                if reader is not None:
                    reader.close()

        released = []

        def release():  # once, when the server closes the response (also if never iterated)
            global _open_streams
            if not released:
                released.append(True)
                with _streams_lock:
                    _open_streams -= 1
                    _streams_by_user[user_id] -= 1
                    _streams_by_workspace[workspace_key] -= 1
                    for counts, key in ((_streams_by_user, user_id),
                                        (_streams_by_workspace, workspace_key)):
                        if counts[key] <= 0:
                            del counts[key]

        response = Response(stream_with_context(events()), mimetype="text/event-stream")
        response.call_on_close(release)
        response.headers["Cache-Control"] = "no-cache, no-store"
        response.headers["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
        return response

    @expose("/typing", methods=["POST"])
    def typing(self):
        """`conversation_id` (form or JSON): the member types in that conversation of their
        workspace; 204, 404 (not one of the workspace's), 429 (again within TYPING_EVERY
        seconds)."""
        refusal = _refusal("can_typing")
        if refusal is not None:
            return refusal
        body = request.get_json(silent=True) if request.is_json else request.form
        raw = str((body or {}).get("conversation_id", "")).strip()
        if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
            return _plain(400, _("conversation_id: the id of a conversation."), True)
        conversation = scope_query(db.session.query(Conversation), Conversation) \
            .filter(Conversation.id == int(raw)).one_or_none()
        if conversation is None:
            return _plain(404, _("No such conversation in this workspace."), True)
        user = g.user
        try:
            fresh = current_app.extensions["relaydesk_redis"].set(
                TYPING_KEY.format(user.id, conversation.id), "1", nx=True, ex=TYPING_EVERY)
        except Exception:  # noqa: BLE001 - no Redis: nobody would see it anyway
            fresh = True
        if not fresh:
            response = _plain(429, _("Typing is already shown."), True)
            response.headers["Retry-After"] = str(TYPING_EVERY)
            return response
        db.session.rollback()
        realtime.publish(conversation.workspace_id, "typing", {
            "conversation_id": conversation.id, "user_id": user.id,
            "name": (user.get_full_name().strip() or user.username)[:80]})
        return Response(status=204)

    @expose("/availability", methods=["POST"])
    def availability(self):
        """`availability` = online or away (the page header's toggle); back to the page."""
        refusal = _refusal("can_availability")
        if refusal is not None:
            return refusal
        value = request.form.get("availability", "")
        if value not in team.AVAILABILITY:
            flash(_("Choose online or away."), "danger")
            return redirect(_safe_next(current_app.appbuilder.get_url_for_index))
        member = current_member()
        team.set_availability(member, value)
        db.session.commit()
        flash(_("You are online: new conversations may be given to you.") if value == "online"
              else _("You are away: no new conversation is given to you."), "success")
        return redirect(_safe_next(current_app.appbuilder.get_url_for_index))

    @expose("/preferences", methods=["POST"])
    def preferences(self):
        """`sound` and `desktop` (checkboxes): the member's notifications on new messages."""
        refusal = _refusal("can_preferences")
        if refusal is not None:
            return refusal
        member = current_member()
        member.notify_sound = request.form.get("sound") in ("1", "on", "true", "y")
        member.notify_desktop = request.form.get("desktop") in ("1", "on", "true", "y")
        db.session.commit()
        flash(_("Notification preferences saved."), "success")
        return redirect(_safe_next(current_app.appbuilder.get_url_for_index))



# --- figures ----------------------------------------------------------------------------------

DEFAULT_DAYS = 30


def period_of(args) -> tuple[datetime, datetime, dict[str, str]]:
    """The period [from, to] the figures cover (dates, `to` included), 30 days by default;
    errors by field (the dates as typed are kept)."""
    errors: dict[str, str] = {}
    today = utcnow().date()
    values = {}
    for name, default in (("from", today - timedelta(days=DEFAULT_DAYS - 1)), ("to", today)):
        raw = (args.get(name) or "").strip()
        if not raw:
            values[name] = default
            continue
        try:
            values[name] = datetime.strptime(raw[:10], "%Y-%m-%d").date() if len(raw) == 10 \
                else None
        except ValueError:
            values[name] = None
        if values[name] is not None and not 2000 <= values[name].year <= 2999:
            values[name] = None  # nothing happened then (and 9999-12-31 has no next day)
        if values[name] is None:
            errors[name] = _("A date as YYYY-MM-DD.")
            values[name] = default
    if not errors and values["to"] < values["from"]:
        errors["to"] = _("On or after the first day.")
    if not errors and (values["to"] - values["from"]).days > 365:
        errors["to"] = _("At most a year after the first day.")
    if errors:
        values = {"from": today - timedelta(days=DEFAULT_DAYS - 1), "to": today}
    start = datetime.combine(values["from"], day_time.min)
    end = datetime.combine(values["to"] + timedelta(days=1), day_time.min)
    return start, end, errors


def _duration(seconds) -> str:
    if seconds is None:
        return "—"
    seconds = int(seconds)
    if seconds < 60:
        return _("%(n)s s", n=seconds)
    if seconds < 3600:
        return _("%(m)s min", m=seconds // 60)
    if seconds < 86400:
        return _("%(h)s h %(m)s min", h=seconds // 3600, m=seconds % 3600 // 60)
    return _("%(d)s d %(h)s h", d=seconds // 86400, h=seconds % 86400 // 3600)


class TeamFiguresView(BaseView):
    """Team › Figures: each member's first response and resolution times (median, average)
    and open conversations over a period."""

    route_base = "/team/figures"
    default_view = "list"
    base_permissions = ["can_list"]
    relaydesk_roles = BOTH_ROLES

    @expose("/", methods=["GET"])
    @has_access
    def list(self):
        member = current_member()
        start, end, errors = period_of(request.args)
        rows = []
        if member is not None:
            for person in team.figures(member.workspace_id, start, end):
                data = person.as_json()
                data["first_response_text"] = {k: _duration(data["first_response"][k])
                                               for k in ("median_seconds", "average_seconds")}
                data["resolution_text"] = {k: _duration(data["resolution"][k])
                                           for k in ("median_seconds", "average_seconds")}
                rows.append(data)
        return self.render_template(
            "relaydesk/team_figures.html", rows=rows, errors=errors, member=member,
            typed={"from": request.args.get("from", "")[:40] if errors.get("from")
                   else start.date().isoformat(),
                   "to": request.args.get("to", "")[:40] if errors.get("to")
                   else (end.date() - timedelta(days=1)).isoformat()},
            json_url=url_for("TeamApi.figures", **{"from": start.date().isoformat(),
                                                    "to": (end.date() - timedelta(days=1))
                                                    .isoformat()}))


class TeamApi(BaseApi):
    """`/api/v1/team/me` (GET, PUT) and `/api/v1/team/figures` (GET)."""

    resource_name = "team"
    route_base = "/api/v1/team"
    allow_browser_login = True
    base_permissions = ["can_get", "can_put"]
    method_permission_name = {"me": "get", "update_me": "put", "figures": "get"}
    relaydesk_roles = BOTH_ROLES

    def _gate(self):
        refusal = api_refusal()
        if refusal is not None:
            db.session.rollback()
            return self.response(403, message=refusal.message)
        if current_member() is None:
            return self.response(403, message=str(NOT_A_MEMBER))
        return None

    @staticmethod
    def _me(member: WorkspaceMember) -> dict:
        return {"member_id": member.id, "user_id": member.user_id,
                "availability": member.availability,
                "present": team.is_present(member),
                "last_seen_at": member.last_seen_at.isoformat() if member.last_seen_at else None,
                "notify_sound": bool(member.notify_sound),
                "notify_desktop": bool(member.notify_desktop)}

    @expose("/me", methods=["GET"])
    @protect()
    @safe
    def me(self):
        """The caller's availability and notification preferences.
        ---
        get:
          responses:
            200:
              description: "{member_id, user_id, availability, present, last_seen_at,
                notify_sound, notify_desktop}"
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
        """
        gate = self._gate()
        if gate is not None:
            return gate
        return self.response(200, **self._me(current_member()))

    @expose("/me", methods=["PUT"])
    @protect()
    @safe
    def update_me(self):
        """Change the caller's availability (`online`, `away`) and preferences.
        ---
        put:
          requestBody:
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    availability:
                      type: string
                      enum: [online, away]
                    notify_sound:
                      type: boolean
                    notify_desktop:
                      type: boolean
          responses:
            200:
              description: the caller as `GET /me` shows it
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
            422:
              $ref: '#/components/responses/422'
        """
        gate = self._gate()
        if gate is not None:
            return gate
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return self.response_400(message=_("The body must be a JSON object."))
        errors = {}
        if "availability" in body and body["availability"] not in team.AVAILABILITY:
            errors["availability"] = [_("online or away.")]
        for name in ("notify_sound", "notify_desktop"):
            if name in body and not isinstance(body[name], bool):
                errors[name] = [_("true or false.")]
        unknown = set(body) - {"availability", "notify_sound", "notify_desktop"}
        for name in sorted(unknown)[:10]:
            errors[str(name)[:40]] = [_("Unknown field.")]
        if errors:
            return self.response_422(message=errors)
        member = current_member()
        if "availability" in body:
            team.set_availability(member, body["availability"])
        for name in ("notify_sound", "notify_desktop"):
            if name in body:
                setattr(member, name, body[name])
        db.session.commit()
        return self.response(200, **self._me(member))

    @expose("/figures", methods=["GET"])
    @protect()
    @safe
    def figures(self):
        """Per-member figures over `from`..`to` (dates, YYYY-MM-DD, `to` included; the last 30
        days by default; at most a year).
        ---
        get:
          parameters:
          - in: query
            name: from
            schema:
              type: string
          - in: query
            name: to
            schema:
              type: string
          responses:
            200:
              description: "{from, to, members: [{member_id, user_id, name, availability,
                present, open_conversations, first_response: {count, median_seconds,
                average_seconds}, resolution: {…}}]}"
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
        """
        gate = self._gate()
        if gate is not None:
            return gate
        start, end, errors = period_of(request.args)
        if errors:
            return self.response_400(message=json.dumps(errors))
        member = current_member()
        return self.response(200, **{
            "from": start.date().isoformat(),
            "to": (end.date() - timedelta(days=1)).isoformat(),
            "members": [f.as_json() for f in team.figures(member.workspace_id, start, end)]})
