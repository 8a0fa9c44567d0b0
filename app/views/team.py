"""Team screens: the members screen's invitation form and actions, and the public pages that
take a set-password link (an invitation, "Forgot your password?").

* `TeamMixin` (on `MemberView` and the master admin's copy of it): "Invite" replaces the add
  form (e-mail, name, role; the master admin also picks the workspace), editing changes the
  role, deleting removes the member and their login, and the actions suspend, reactivate and
  resend an invitation. Permission names: `can_invite`, `can_change_role`, `can_remove`,
  `suspend`, `reactivate`, `resend_invitation` (the REST twin stays read-only). The rules live
  in app/members.py.
* `PasswordLinkView` (no sign-in needed): `/password/forgot/` asks for an e-mail address and
  always gives the same answer, under per-address and per-e-mail limits (app/auth/limits.py);
  `/password/invitation/<token>` and `/password/reset/<token>` set the password (the policy of
  app/auth/passwords.py) and end every session and token of the login.
"""
from __future__ import annotations

import logging

from flask import current_app, g, redirect, request, url_for
from flask_appbuilder import BaseView, expose
from flask_appbuilder.actions import action
from flask_appbuilder.fieldwidgets import BS3TextFieldWidget, Select2Widget
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.security.decorators import has_access, no_cache
from flask_appbuilder.widgets import FormWidget
from flask_babel import get_locale, gettext, ngettext
from flask_babel import lazy_gettext as _l
from wtforms import SelectField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from app import members
from app.auth.limits import LoginLimits, client_address, format_wait, request_limits
from app.auth.password_links import INVITATION, RESET, LinkInvalid, lifetime_hours, user_for
from app.auth.views import confirm_password_field, new_password_field
from app.extensions import db
from app.jobs.mail import queue_password_link, queue_reset_link
from app.models import Workspace, WorkspaceMember
from app.plans import PlanRefusal
from app.redaction import flash
from app.tenancy import current_scope

log = logging.getLogger(__name__)

STATUS_WORDS = {"active": _l("Active"), "invited": _l("Invited"), "suspended": _l("Suspended")}
ROLE_WORDS = {"manager": _l("Manager"), "agent": _l("Agent")}


def status_words(value) -> str:
    """The members screen shows a member's status as a word (the API keeps the code)."""
    return str(STATUS_WORDS.get(value, value or "—"))


def role_words(value) -> str:
    return str(ROLE_WORDS.get(value, value or "—"))


ROLE_CHOICES = [("agent", _l("Agent: reads the workspace")),
                ("manager", _l("Manager: changes settings and manages the team"))]


def _language() -> str:
    return str(get_locale() or "en")


# --- the members screen ----------------------------------------------------------------------

def email_address() -> Email:
    """The e-mail validator, with the examples the browser form matrix types (a valid and an
    invalid value, as the validators of app/validation.py carry)."""
    validator = Email(message=_l("Enter an e-mail address like name@example.com."))
    validator.valid_example = "new.member@example.org"
    validator.invalid_example = "not an address"
    return validator


class InviteForm(DynamicForm):
    email = StringField(_l("E-mail"), widget=BS3TextFieldWidget(),
                        validators=[DataRequired(), Length(max=254), email_address()],
                        description=_l("The invitation with a link to choose a password goes "
                                       "here; this address is also the sign-in name."))
    full_name = StringField(_l("Full name"), widget=BS3TextFieldWidget(),
                            validators=[Optional(), Length(max=128)])
    role = SelectField(_l("Role"), choices=ROLE_CHOICES, default="agent",
                       widget=Select2Widget())


class AdminInviteForm(InviteForm):
    workspace = SelectField(_l("Workspace"), coerce=int, widget=Select2Widget(),
                            validators=[DataRequired()])


def _actor_id() -> int | None:
    return getattr(g.user, "id", None)


def role_change_allowed(member: WorkspaceMember) -> None:
    """item_validator of the members screen: the lockout rules on a role (or workspace)
    change. :raise TeamError: see app/members.py."""
    if member.id is None:
        return
    state = db.inspect(member)
    if not (state.attrs.role.history.has_changes()
            or state.attrs.workspace_id.history.has_changes()
            or state.attrs.workspace.history.has_changes()):
        return
    members.not_yourself(member, _actor_id())
    members.keep_an_active_manager(member)


def login_role_follows(member: WorkspaceMember):
    """after_save of the members screen: the login's FAB role follows the member role."""
    members.set_fab_role(member)
    db.session.commit()


class TeamMixin:
    """Invite, change role, suspend, reactivate, resend the invitation, remove."""

    method_permission_name = {"add": "invite", "edit": "change_role", "delete": "remove"}
    item_validators = (role_change_allowed,)
    after_save = (login_role_follows,)
    formatters_columns = {"status": status_words, "role": role_words}
    add_title = _l("Invite a member")
    edit_title = _l("Change the role")

    # --- invite ---------------------------------------------------------------------------------

    def _invite_form(self):
        scope = current_scope()
        if scope.workspace_id is not None:
            return InviteForm.refresh(), ["email", "full_name", "role"]
        form = AdminInviteForm.refresh()
        form.workspace.choices = [(w.id, w.name) for w in
                                  db.session.query(Workspace).order_by(Workspace.name)]
        return form, ["workspace", "email", "full_name", "role"]

    @expose("/add", methods=["GET", "POST"])
    @has_access
    def add(self):
        """The invitation form. :raise 403: without `can_invite`."""
        form, columns = self._invite_form()
        if request.method == "POST" and form.validate():
            scope = current_scope()
            workspace_id = scope.workspace_id or form.workspace.data
            try:
                user = members.invite(workspace_id, form.email.data, form.full_name.data,
                                      form.role.data)
            except members.TeamError as exc:
                db.session.rollback()
                form.email.errors = [*form.email.errors, str(exc)]
            except PlanRefusal as exc:  # no room in the plan: above the form, values kept
                db.session.rollback()
                flash(exc.message, "danger")
            else:
                if queue_password_link(user.id, INVITATION, _language()):
                    flash(gettext("Invitation sent to %(email)s. The link works for %(hours)d "
                                  "hours.", email=user.email,
                                  hours=_hours(INVITATION)), "success")
                else:
                    flash(gettext("%(email)s was added, but the invitation could not be sent "
                                  "now: use “Resend invitation” later.", email=user.email),
                          "warning")
                return redirect(url_for(f"{self.endpoint}.list"))
        widgets = {"add": FormWidget(form=form, include_cols=columns, exclude_cols=[],
                                     fieldsets=[])}
        return self.render_template(self.add_template, title=self.add_title, widgets=widgets,
                                    appbuilder=self.appbuilder)

    # --- remove ---------------------------------------------------------------------------------

    def pre_delete(self, item):
        try:
            members.remove(item, _actor_id())
        except members.TeamError:
            db.session.rollback()
            raise

    def post_delete(self, item):
        members.delete_login(item.user_id)

    # --- actions --------------------------------------------------------------------------------

    def _each(self, items, change, done_message):
        items = items if isinstance(items, list) else [items]
        done, refused = [], False
        for member in items:
            try:
                changed = change(member)
            except members.TeamError as exc:
                db.session.rollback()
                flash(gettext("%(member)s: %(reason)s", member=member.username(),
                              reason=str(exc)), "danger")
                refused = True
                continue
            if changed:
                db.session.commit()
                done.append(member.username())
        if done:
            flash(done_message(done), "success")
        elif not refused:  # every chosen member already was so: say it, never stay silent
            flash(gettext("Nothing changed: the chosen members already were in that state."),
                  "info")
        return redirect(url_for(f"{self.endpoint}.list"))

    @action("suspend", _l("Suspend"),
            _l("Suspend these members? They are signed out at once and cannot sign in until "
               "reactivated."), "fa-ban")
    def suspend(self, items):
        return self._each(items, lambda m: members.suspend(m, _actor_id()), lambda names: ngettext(
            "Suspended and signed out: %(names)s.", "Suspended and signed out: %(names)s.",
            len(names), names=", ".join(names)))

    @action("reactivate", _l("Reactivate"), _l("Let these members sign in again?"),
            "fa-check-circle")
    def reactivate(self, items):
        return self._each(items, members.reactivate, lambda names: ngettext(
            "May sign in again: %(names)s.", "May sign in again: %(names)s.", len(names),
            names=", ".join(names)))

    @action("resend_invitation", _l("Resend invitation"),
            _l("Send these members a new link to choose a password?"), "fa-envelope")
    def resend_invitation(self, items):
        def resend(member):
            if not members.never_signed_in(member) or not member.user.active:
                raise members.TeamError(gettext(
                    "only active members who never signed in get invitations; the others use "
                    "“Forgot your password?”"))
            if not queue_password_link(member.user_id, INVITATION, _language()):
                raise members.TeamError(gettext("the invitation could not be sent now."))
            return True

        return self._each(items, resend, lambda names: ngettext(
            "Invitation sent again to %(names)s.", "Invitation sent again to %(names)s.",
            len(names), names=", ".join(names)))


def _hours(purpose: str) -> int:
    return lifetime_hours(purpose)


# --- the public pages ------------------------------------------------------------------------

class ForgotPasswordForm(DynamicForm):
    email = StringField(_l("E-mail"), widget=BS3TextFieldWidget(),
                        validators=[DataRequired(), Length(max=254), email_address()],
                        description=_l("The e-mail address of your login."))


class NewPasswordForm(DynamicForm):
    password = new_password_field(_l("New password"), lambda form: form.username_for_policy)
    conf_password = confirm_password_field()


def reset_limits(app) -> LoginLimits:
    """The "Forgot your password?" limits: requests per e-mail address and per client address
    (kept in Redis apart from the sign-in limits; PASSWORD_RESET_* settings)."""
    return request_limits(app, "reset", "PASSWORD_RESET")


LINK_PROBLEMS = {
    "expired": _l("This link has expired. Ask for a new one."),
    "used": _l("This link was already used or is no longer valid. Ask for a new one."),
    "invalid": _l("This link is not valid. Check that it was copied completely, or ask for a "
                  "new one."),
}


class PasswordLinkView(BaseView):
    """Public pages: ask for a reset link, and set a password from a link."""

    route_base = "/password"
    default_view = "forgot"
    template = "relaydesk/password_form.html"

    def _page(self, title, form, columns, intro, status=200, headers=None):
        widget = FormWidget(form=form, include_cols=columns, exclude_cols=[], fieldsets=[])
        page = self.render_template(self.template, title=title, form_widget=widget, intro=intro,
                                    appbuilder=self.appbuilder)
        return page, status, headers or {}

    @expose("/forgot/", methods=["GET", "POST"])
    @no_cache
    def forgot(self):
        """Always the same answer for a well-formed address, whether a login has it or not.
        :raise 429: after too many requests for the address or from the client."""
        form = ForgotPasswordForm.refresh()
        title = gettext("Forgot your password?")
        intro = gettext("Enter the e-mail address of your login: we send it a link to choose a "
                        "new password.")
        if request.method == "POST" and form.validate():
            email = form.email.data.strip().lower()
            limits = reset_limits(current_app)
            address = client_address()
            wait = limits.retry_after(email, address)
            if wait:
                form.email.errors = [gettext("Too many requests. Try again in %(time)s.",
                                             time=format_wait(wait))]
                return self._page(title, form, ["email"], intro, 429,
                                  headers={"Retry-After": str(wait)})
            limits.failed(email, address)  # every request counts
            queue_reset_link(email, _language())  # the job looks the login up
            return self.render_template(
                "relaydesk/password_done.html", appbuilder=self.appbuilder, title=title,
                message=gettext("If a login has the address %(email)s, a link to choose a new "
                                "password is on its way. It works for %(hours)d hours.",
                                email=email, hours=_hours(RESET)))
        return self._page(title, form, ["email"], intro)

    def _set_password(self, token, purpose):
        sm = current_app.appbuilder.sm
        title = gettext("Choose your password") if purpose == INVITATION \
            else gettext("Choose a new password")
        try:
            user = user_for(token, purpose)
        except LinkInvalid as problem:
            page = self.render_template(
                "relaydesk/password_done.html", appbuilder=self.appbuilder, title=title,
                problem=str(LINK_PROBLEMS[problem.reason]),
                forgot_url=url_for(f"{self.endpoint}.forgot"))
            return page, 404 if problem.reason == "invalid" else 410
        form = NewPasswordForm.refresh()
        form.username_for_policy = user.username
        intro = gettext("Your sign-in name: %(username)s", username=user.username)
        if request.method == "POST" and form.validate():
            sm.reset_password(user.id, form.password.data)  # ends every session and token
            db.session.commit()
            flash(gettext("Your password is set. Sign in with %(username)s and your new "
                          "password.", username=user.username), "success")
            return redirect(self.appbuilder.get_url_for_login)
        return self._page(title, form, ["password", "conf_password"], intro)

    @expose("/invitation/<token>", methods=["GET", "POST"])
    @no_cache
    def invitation(self, token):
        """:raise 404: forged link. :raise 410: expired or used link."""
        return self._set_password(token, INVITATION)

    @expose("/reset/<token>", methods=["GET", "POST"])
    @no_cache
    def reset(self, token):
        """:raise 404: forged link. :raise 410: expired or used link."""
        return self._set_password(token, RESET)


def register_team_views(appbuilder) -> None:
    appbuilder.add_view_no_menu(PasswordLinkView)

