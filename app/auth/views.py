"""FAB's security screens, with the sign-in limits, the password policy and revocation.

Each class keeps the name of the FAB class it replaces, so endpoints (`AuthDBView.login`),
permission names and the role definitions stay what they were.

* `AuthDBView`: `/login/` refuses a locked account or address with 429 and `Retry-After` before
  looking at the password; `/logout/` signs out on POST only (with the CSRF token) and ends every
  session and token of the login; GET shows a page with the sign-out button. Signing out while
  the master admin acts as a manager (app/auth/impersonation.py) ends that and signs the admin
  out, never the manager.
* `ResetMyPasswordView`: asks for the current password (a wrong one is refused beside the field
  and counts as a failed sign-in); the new one must pass the policy; this session stays signed
  in, every other one ends.
* `ResetPasswordView`: the master admin sets someone's password (policy; 404 for an unknown id);
  that login's sessions and tokens end.
* `UserDBModelView`: the master admin's list of logins shows sign-ins, failed sign-ins, last
  sign-in and whether sign-in is locked now; the action "Unlock sign-in" lifts a lock.
* Readable values: the security manager gives these screens, the Profile page and the role,
  group and permission screens the formatters of every other screen
  (app/views/formatting.py: Yes/No, "—", times in the reader's zone, roles by their words from
  `ROLE_LABELS`); the user form's role list offers each role by its words too (the option's
  value stays the role's id). The role screens use FAB's ordinary list and show widgets (FAB's
  role widgets print raw values; Relaydesk defines no FAB built-in roles, which those serve).
"""
from __future__ import annotations

from collections.abc import Callable

from flask import abort, current_app, g, redirect, request
from flask_appbuilder import expose
from flask_appbuilder.actions import action
from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget
from flask_appbuilder.forms import DynamicForm
from flask_appbuilder.security.decorators import has_access, no_cache
from flask_appbuilder.security.forms import LoginForm_db
from flask_appbuilder.security.views import AuthDBView as FabAuthDBView
from flask_appbuilder.security.views import ResetMyPasswordView as FabResetMyPasswordView
from flask_appbuilder.security.views import ResetPasswordView as FabResetPasswordView
from flask_appbuilder.security.views import PermissionModelView as FabPermissionModelView
from flask_appbuilder.security.views import PermissionViewModelView as FabPermissionViewModelView
from flask_appbuilder.security.views import RoleModelView as FabRoleModelView
from flask_appbuilder.security.views import UserDBModelView as FabUserDBModelView
from flask_appbuilder.security.views import UserGroupModelView as FabUserGroupModelView
from flask_appbuilder.security.views import ViewMenuModelView as FabViewMenuModelView
from flask_appbuilder.widgets import ListWidget, ShowWidget
from flask_appbuilder.utils.base import get_safe_redirect
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import login_user, logout_user
from markupsafe import Markup
from wtforms import PasswordField
from wtforms.validators import DataRequired, EqualTo, ValidationError

from app.redaction import flash
from app.auth import impersonation, revocation
from app.auth.limits import LoginLocked, locked_message, login_limits
from app.auth.passwords import MIN_LENGTH, check_password, password_problems
from app.extensions import db
from app.labels import role_label

POLICY_HINT = _l("At least %(count)d characters; not a common password; not the username.",
                 count=MIN_LENGTH)


class PasswordPolicy:
    """WTForms validator: the password policy, for the login named by `username_of(form)`."""

    #: what the browser form matrix types (app/validation.py contract)
    valid_example = "Quiet-Harbor-Lantern-42"
    invalid_example = "password"

    def __init__(self, username_of: Callable[[DynamicForm], str | None]):
        self.username_of = username_of

    def __call__(self, form, field) -> None:
        problems = password_problems(field.data, self.username_of(form))
        if problems:
            raise ValidationError(" ".join(str(problem) for problem in problems))


def _render_form(view, form):
    return view.render_template(view.form_template, title=view.form_title,
                                widgets=view._get_edit_widget(form=form),
                                appbuilder=view.appbuilder)


# --- signing in and out ------------------------------------------------------------------------

class AuthDBView(FabAuthDBView):
    logout_template = "relaydesk/logout.html"
    login_template = "relaydesk/login_db.html"  # FAB's, with "Forgot your password?"

    @expose("/login/", methods=["GET", "POST"])
    @no_cache
    def login(self):
        if g.user is not None and g.user.is_authenticated:
            return redirect(self._get_safe_next_url())
        form = LoginForm_db()
        if form.validate_on_submit():
            next_url = get_safe_redirect(request.args.get("next", ""))
            try:
                user = self.appbuilder.sm.auth_user_db(form.username.data, form.password.data)
            except LoginLocked as locked:
                flash(locked.message, "danger")
                page = self.render_template(self.login_template, title=self.title, form=form,
                                            appbuilder=self.appbuilder)
                return page, 429, {"Retry-After": str(locked.retry_after)}
            if not user:
                flash(str(self.invalid_login_message), "warning")
                return redirect(self.appbuilder.get_url_for_login_with(next_url))
            login_user(user, remember=False)  # stamps the session (revocation.on_login)
            return redirect(next_url)
        return self.render_template(self.login_template, title=self.title, form=form,
                                    appbuilder=self.appbuilder)

    @expose("/logout/", methods=["GET", "POST"])
    @no_cache
    def logout(self):
        """POST (with the CSRF token): sign out here and end every other session and token of
        the login. GET signs nobody out: it shows the sign-out button."""
        user = self._get_authenticated_user()
        if request.method == "GET":
            if user is None:
                return redirect(self.appbuilder.get_url_for_login)
            return self.render_template(self.logout_template, appbuilder=self.appbuilder)
        state = impersonation.marker()
        if user is not None and state is not None and state.get("user_id") == user.id:
            # the master admin signing out while acting as a manager: the "Sign in as" ends
            # and it is the admin who signs out (the manager's own sessions stay)
            impersonation.finish(state, restore=False)
            user = self.appbuilder.sm.get_user_by_id(state.get("admin_id"))
        if user is not None:
            revocation.raise_epoch(user.id)
            db.session.commit()
        logout_user()
        revocation.forget_session()
        if user is not None:
            self.appbuilder.sm.on_user_logout(user)
        return redirect(current_app.config.get("LOGOUT_REDIRECT_URL",
                                               self.appbuilder.get_url_for_login))


# --- passwords -----------------------------------------------------------------------------------

def new_password_field(label, username_of) -> PasswordField:
    """A password being set: the policy checked against the login `username_of(form)` names."""
    return PasswordField(label, description=POLICY_HINT, widget=BS3PasswordFieldWidget(),
                         validators=[DataRequired(), PasswordPolicy(username_of)])


def confirm_password_field() -> PasswordField:
    return PasswordField(_l("Confirm Password"), widget=BS3PasswordFieldWidget(),
                         description=_l("Please rewrite the password to confirm"),
                         validators=[EqualTo("password", message=_l("Passwords must match"))])


class ChangeOwnPasswordForm(DynamicForm):
    current_password = PasswordField(_l("Current password"), validators=[DataRequired()],
                                     widget=BS3PasswordFieldWidget())
    password = new_password_field(_l("New password"), lambda form: g.user.username)
    conf_password = confirm_password_field()


class ResetMyPasswordView(FabResetMyPasswordView):
    form = ChangeOwnPasswordForm
    form_title = _l("Change my password")
    message = _l("Password changed. Your other sessions have been signed out.")

    @expose("/form", methods=["POST"])
    @has_access
    def this_form_post(self):
        """The current password is checked only once the rest of the form is valid (so the
        answer says nothing about it otherwise), under the sign-in limits."""
        self._init_vars()
        form = self.form.refresh()
        if not form.validate_on_submit():
            return _render_form(self, form)
        sm = self.appbuilder.sm
        user = sm.get_user_by_id(g.user.id)
        try:
            right = sm.verify_current_password(user, form.current_password.data)
        except LoginLocked as locked:
            form.current_password.errors = [locked.message]
            return _render_form(self, form), 429, {"Retry-After": str(locked.retry_after)}
        if not right:
            form.current_password.errors = [gettext("Wrong password.")]
            return _render_form(self, form)
        sm.reset_password(user.id, form.password.data)  # raises the epoch: others are out
        revocation.stamp_session(user.id)  # … and this session stays in
        flash(str(self.message), "info")
        return redirect(self.get_redirect())


def _target_user():
    """The login whose password the master admin sets (`?pk=`); 404 when there is none."""
    pk = request.args.get("pk", "")
    user = current_app.appbuilder.sm.get_user_by_id(int(pk)) if pk.isdigit() else None
    if user is None:
        abort(404)
    return user


class SetPasswordForm(DynamicForm):
    password = new_password_field(_l("Password"), lambda form: _target_user().username)
    conf_password = confirm_password_field()


class ResetPasswordView(FabResetPasswordView):
    form = SetPasswordForm
    message = _l("Password changed. That login's sessions and tokens have been ended.")

    @expose("/form", methods=["GET"])
    @has_access
    def this_form_get(self):
        _target_user()
        return super().this_form_get.__wrapped__(self)

    @expose("/form", methods=["POST"])
    @has_access
    def this_form_post(self):
        _target_user()
        return super().this_form_post.__wrapped__(self)

    def form_post(self, form) -> None:
        user = _target_user()
        self.appbuilder.sm.reset_password(user.id, form.password.data)
        if user.id == g.user.id:
            revocation.stamp_session(user.id)
        flash(str(self.message), "info")


# --- the master admin's list of logins -----------------------------------------------------------

def _username_with_lock(username: str) -> Markup:
    seconds = login_limits().account_locked_for(username) if username else 0
    if not seconds:
        return Markup("{}").format(username)
    return Markup('{} <span class="label label-danger" title="{}">{}</span>').format(
        username, locked_message(seconds), gettext("sign-in locked"))


def _server_local(value):
    """FAB writes its own times in the server's local time: shown in the reader's zone."""
    from app.views.formatting import server_local  # app.views imports app.security: not at start

    return server_local(value)


def role_words(role) -> str:
    """A role as a person reads it in a form's list ("Workspace manager")."""
    return str(role_label(role.name))


#: FAB's own datetime columns of a login (written with `datetime.now()`)
FAB_LOCAL_TIMES = ("last_login", "created_on", "changed_on")


class UserDBModelView(FabUserDBModelView):
    list_columns = ["first_name", "last_name", "username", "email", "active", "roles",
                    "last_login", "login_count", "fail_login_count"]
    label_columns = {
        **FabUserDBModelView.label_columns,
        "login_count": _l("Sign-ins"),
        "fail_login_count": _l("Failed sign-ins"),
        "last_login": _l("Last sign-in"),
    }
    description_columns = {
        **FabUserDBModelView.description_columns,
        "password": POLICY_HINT,
        # FAB's own hint, which its catalogues lack (it is built by a formatter)
        "groups": _l("The user group on the application, this will associate with a list of "
                     "roles associated with the group"),
    }
    formatters_columns = {"username": _username_with_lock,
                          **{column: _server_local for column in FAB_LOCAL_TIMES}}
    add_form_extra_fields = {
        **FabUserDBModelView.add_form_extra_fields,
        "password": PasswordField(
            _l("Password"), description=POLICY_HINT, widget=BS3PasswordFieldWidget(),
            validators=[DataRequired(), PasswordPolicy(lambda form: form.username.data)]),
    }

    def _init_forms(self):
        super()._init_forms()
        for form in (self.add_form, self.edit_form, self.search_form):
            roles = getattr(form, "roles", None)
            if roles is not None and hasattr(roles, "kwargs"):
                roles.kwargs["get_label"] = role_words

    def pre_add(self, item) -> None:
        check_password(item.password, item.username)  # the form checked it; never hash a weak one
        super().pre_add(item)

    # on the list only (one row or many): FAB's user show page offers "Reset Password" alone,
    # so a one-row button would never be shown
    @action("unlocklogin", _l("Unlock sign-in"),
            _l("Let these logins sign in again now, before their lock ends?"), "fa-unlock",
            single=False)
    def unlocklogin(self, items):
        items = items if isinstance(items, list) else [items]
        limits = login_limits()
        for item in items:
            limits.unlock(item.username)
        flash(gettext("Sign-in unlocked for %(names)s.",
                      names=", ".join(item.username for item in items)), "info")
        return redirect(self.get_redirect())


# --- roles, groups and permissions ---------------------------------------------------------------
# Same names as FAB's classes: the permission names and endpoints stay what they were. Each is
# marked `fab_screen`: FAB's screens, only made readable here (the browser matrices leave them
# out, as they did while they were FAB's own classes).

class RoleModelView(FabRoleModelView):
    fab_screen = True
    list_widget = ListWidget
    show_widget = ShowWidget
    formatters_columns = {"name": role_label}


class UserGroupModelView(FabUserGroupModelView):
    fab_screen = True


class PermissionModelView(FabPermissionModelView):
    fab_screen = True


class ViewMenuModelView(FabViewMenuModelView):
    fab_screen = True


class PermissionViewModelView(FabPermissionViewModelView):
    fab_screen = True
