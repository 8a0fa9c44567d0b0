"""The OpenAPI document at `/api/v1/_openapi` says what the API really answers (issue 18,
point 4).

FAB writes each operation's answers from its docstring: every model operation promises a 500,
none a 403 or a 429, a custom API's CSV export has no answer at all, and every error is
`{"message": string}`. `describe_errors` rewrites the finished document, so every API, a later
one included, is described the same way:

* one error shape, `Error`: `message` (a sentence, or `{field: [sentence]}` for refused body
  values) and, for the answers the application itself writes (app/errors.py), `error` and
  `code`;
* every operation: 401 and 403 when it takes credentials, 429 (the plan's API rate limit,
  app/api_limits.py; the sign-in limits for `security/login`), 400 when it takes parameters
  or a body, 404 when its path names a row, 422 for a write a rule or a conflict refuses
  (uniqueness, references: the field is named); never a 500, which is a bug, not a contract;
* the security schemes as Relaydesk takes them: a JWT (`Authorization: Bearer`) or a personal
  API key in `X-API-Key` (app/views/base.py `SECURITY_SCHEMES`), on every operation that needs
  credentials.
"""
from __future__ import annotations

from flask import current_app
from flask_appbuilder.api import BaseApi, expose, protect, safe
from flask_appbuilder.api.manager import OpenApi as FabOpenApi
from flask_appbuilder.api.manager import OpenApiManager, SwaggerView

ERROR_SCHEMA = {
    "type": "object",
    "required": ["message"],
    "properties": {
        "message": {
            "description": "What is wrong, in words; for refused body values, the sentences "
                           "per field.",
            "oneOf": [
                {"type": "string"},
                {"type": "object",
                 "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            ],
        },
        "error": {"type": "boolean", "description": "Always true (answers of the application "
                                                    "itself: unknown path, rate limit)."},
        "code": {"type": "string", "description": "BAD_REQUEST, UNAUTHORIZED, FORBIDDEN, "
                                                  "NOT_FOUND, RATE_LIMITED, …"},
    },
}

RESPONSES = {
    "400": "Bad request: a parameter or a body value of the wrong type or shape (named)",
    "401": "Not signed in: no valid JWT or API key",
    "403": "Forbidden: the role, the plan or the workspace's state does not allow this",
    "404": "Not found (or another workspace's: both answer alike)",
    "409": "Conflict: the row is not in a state that allows this",
    "422": "Refused: a value the rules refuse, or a uniqueness or reference conflict; the "
           "field is named",
    "429": "Too many requests: wait for Retry-After seconds",
}

SECURITY = [{"jwt": []}, {"api_key": []}]
#: operations anyone may call (they hand out the credentials)
PUBLIC = {("/api/v1/security/login", "post"), ("/api/v1/security/refresh", "post")}
#: the public API's paths (app/views/public_api.py): refused values are 400 there, never 422
PUBLIC_API_PREFIXES = ("/api/v1/contacts", "/api/v1/messages/")
METHODS = ("get", "put", "post", "delete", "patch")
WRITES = ("put", "post", "delete", "patch")


def _ref(code: str) -> dict:
    return {"$ref": f"#/components/responses/{code}"}


def describe_errors(spec: dict) -> dict:
    """The finished OpenAPI document with the answers described above (changed in place)."""
    components = spec.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components["responses"] = {
        code: {"description": text,
               "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
        for code, text in RESPONSES.items()}
    for path, item in (spec.get("paths") or {}).items():
        for method in METHODS:
            operation = item.get(method)
            if operation is not None:
                _describe(path, method, operation, item)
    return spec


def _describe(path: str, method: str, operation: dict, item: dict) -> None:
    responses = operation.setdefault("responses", {})
    responses.pop("500", None)
    responses.pop(500, None)
    if not any(str(code).startswith("2") for code in responses):
        if path.endswith(".csv"):
            content = {"text/csv": {"schema": {"type": "string"}}}
        else:
            content = {"application/json": {"schema": {"type": "object"}}}
        responses["200"] = {"description": "OK", "content": content}
    parameters = [*item.get("parameters", ()), *operation.get("parameters", ())]
    public = (path, method) in PUBLIC
    wanted = ["429"]
    if not public:
        operation["security"] = SECURITY
        wanted += ["401", "403"]
    if parameters or "requestBody" in operation:
        wanted.append("400")
    if any(p.get("in") == "path" for p in parameters if isinstance(p, dict)) or "{" in path:
        wanted.append("404")
    if method in WRITES and not public and not path.startswith(PUBLIC_API_PREFIXES):
        wanted.append("422")
    for code in wanted:
        responses.setdefault(code, _ref(code))
    for code, answer in list(responses.items()):
        if str(code) in RESPONSES and isinstance(answer, dict) and "$ref" not in answer:
            responses[code] = _ref(str(code))


class OpenApi(FabOpenApi):
    """FAB's `/api/<version>/_openapi`, its document passed through `describe_errors`. Same
    class name, so the `can_get on OpenApi` permission every role holds still applies."""

    @expose("/<version>/_openapi")
    @protect()
    @safe
    def get(self, version):
        """The OpenAPI document of every API of a version
        ---
        get:
          description: >-
            Get the OpenAPI spec for a specific API version
          parameters:
          - in: path
            schema:
              type: string
            name: version
          responses:
            200:
              description: The OpenAPI spec
              content:
                application/json:
                  schema:
                    type: object
            404:
              $ref: '#/components/responses/404'
        """
        api_spec = self._create_api_spec(version)
        found = False
        for base_api in current_app.appbuilder.baseviews:
            if isinstance(base_api, BaseApi) and base_api.version == version:
                base_api.add_api_spec(api_spec)
                found = True
        if not found:
            return self.response_404()
        return self.response(200, **describe_errors(api_spec.to_dict()))


class RelaydeskOpenApiManager(OpenApiManager):
    """FAB's manager, registering the OpenApi above in place of FAB's."""

    def register_views(self):
        if not current_app.config.get("FAB_ADD_OPENAPI_VIEWS", True):
            return
        if current_app.config.get("FAB_API_SWAGGER_UI", False):
            self.appbuilder.add_api(OpenApi)
            self.appbuilder.add_view_no_menu(SwaggerView)
