"""FAB's SecurityApi (`/api/v1/security/…`) with the sign-in limits and revocation.

`login` answers 429 with `Retry-After` and `{"message": …}` while the account or the address is
locked (the password is not checked then) and 400 for any malformed body; every token it issues
carries the login's epoch (see app.auth.revocation), so does the access token `refresh` issues.
`logout` (with an access token) ends every session and token of the login.
"""
from __future__ import annotations

from flask import Response, request
from flask_appbuilder.api import expose, safe
from flask_appbuilder.const import (API_SECURITY_ACCESS_TOKEN_KEY,
                                    API_SECURITY_REFRESH_TOKEN_KEY)
from flask_appbuilder.security.api import SecurityApi as FabSecurityApi
from flask_appbuilder.security.schemas import login_post
from flask_babel import gettext
from flask_jwt_extended import (create_access_token, create_refresh_token, get_jwt_identity,
                                jwt_required)
from marshmallow import ValidationError

from app.auth import revocation
from app.auth.limits import LoginLocked
from app.extensions import db


class SecurityApi(FabSecurityApi):

    @expose("/login", methods=["POST"])
    @safe
    def login(self) -> Response:
        """Sign in: a JWT access token and, with `refresh: true`, a refresh token
        ---
        post:
          description: >-
            Authenticate with username (or e-mail) and password. Failed attempts are limited per
            account and per client address; while either is locked the answer is 429 with
            `Retry-After` (seconds) and the password is not checked.
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  properties:
                    username:
                      type: string
                    password:
                      type: string
                    provider:
                      type: string
                      enum:
                      - db
                    refresh:
                      type: boolean
          responses:
            200:
              description: Signed in
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      access_token:
                        type: string
                      refresh_token:
                        type: string
            400:
              $ref: '#/components/responses/400'
            401:
              $ref: '#/components/responses/401'
            429:
              description: Too many failed attempts; retry after `Retry-After` seconds
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      message:
                        type: string
        """
        payload = request.get_json(silent=True) if request.is_json else None
        if not isinstance(payload, dict):
            return self.response_400(message=gettext("Send a JSON object with username and "
                                                     "password."))
        try:
            login_payload = login_post.load(payload)
        except ValidationError as error:
            return self.response_400(message=error.messages)
        try:
            user = self.appbuilder.sm.auth_user_db(login_payload["username"],
                                                   login_payload["password"])
        except LoginLocked as locked:
            response = self.response(429, message=locked.message)
            response.headers["Retry-After"] = str(locked.retry_after)
            return response
        if not user:
            return self.response_401()
        tokens = {API_SECURITY_ACCESS_TOKEN_KEY: create_access_token(identity=str(user.id),
                                                                     fresh=True)}
        if login_payload.get("refresh"):
            tokens[API_SECURITY_REFRESH_TOKEN_KEY] = create_refresh_token(identity=str(user.id))
        return self.response(200, **tokens)

    @expose("/logout", methods=["POST"])
    @jwt_required()
    @safe
    def logout(self) -> Response:
        """Sign out everywhere: every session, access and refresh token of the login ends
        ---
        post:
          description: >-
            Ends every browser session and every JWT (access and refresh) of the login that
            owns the access token. API keys are not affected.
          responses:
            200:
              description: Signed out
            401:
              $ref: '#/components/responses/401'
          security:
            - jwt: []
        """
        revocation.raise_epoch(int(get_jwt_identity()))
        db.session.commit()
        return self.response(200, message=gettext("Signed out."))
