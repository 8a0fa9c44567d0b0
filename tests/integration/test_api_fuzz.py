"""Schemathesis over the whole REST API (issue 18): every operation `/api/v1/_openapi` lists, as
a workspace's manager and as its agent, never answers a server error (`not_a_server_error`).

The operations are read from the document the app publishes, so a resource registered later is
fuzzed without editing this file. Two workspaces hold a row in every workspace-owned table
(tests/tenancy_helpers.py), so generated ids, filters and relations meet real rows, the other
workspace's included. The seed is fixed (`derandomize`, schemathesis' `seed`): a failure here
fails the same way on the next run.

* `make test`: a few examples per operation (RELAYDESK_FUZZ_EXAMPLES, default below), no
  coverage phase: 1,792 requests per role, 40 s on two idle cores.
* `make fuzz-api`: RELAYDESK_FUZZ_EXAMPLES=… RELAYDESK_FUZZ_COVERAGE=1, the coverage phase too
  (every boundary value the schema defines). The terminal summary prints the requests sent and
  the server errors met (tests/conftest.py `pytest_terminal_summary`).

`POST /api/v1/security/logout` ends the login's tokens (app/auth/revocation.py): after each call
the actor gets a new token, so the calls after it are still signed in.
"""
from __future__ import annotations

import os
import time

import pytest
import schemathesis
from flask_jwt_extended import create_access_token
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

from app.extensions import db
from tests.factories import Factory
from tests.tenancy_helpers import fill_every_owned_table

EXAMPLES = int(os.environ.get("RELAYDESK_FUZZ_EXAMPLES", "8"))
COVERAGE = os.environ.get("RELAYDESK_FUZZ_COVERAGE", "") not in ("", "0")
SEED = 18
#: seconds for one role's run, its fixtures included (the first test of a worker also migrates)
TIMEOUT = int(os.environ.get("RELAYDESK_FUZZ_TIMEOUT", "900"))
OPENAPI = "/api/v1/_openapi"
#: calls that end the caller's tokens: the actor signs in again after each
SIGN_OUT = ("/api/v1/security/logout",)


class Actor:
    """A signed-in member (JWT) whose token can be renewed after a sign-out."""

    def __init__(self, app, user_id: int, role: str):
        self.app, self.user_id, self.role = app, user_id, role
        self.headers: dict[str, str] = {}
        self.renew()

    def renew(self) -> None:
        with self.app.app_context():
            token = create_access_token(identity=str(self.user_id), fresh=True)
        self.headers = {"Authorization": f"Bearer {token}"}


@pytest.fixture(params=["manager", "agent"])
def actor(request, app, redis_conn) -> Actor:
    with app.app_context():
        factory = Factory(app)
        alpha, manager = factory.populated_workspace("alpha")
        bravo, _ = factory.populated_workspace("bravo")
        fill_every_owned_table(alpha.id, "alpha")
        fill_every_owned_table(bravo.id, "bravo")
        agent = factory.member(alpha, "alpha-agent", "agent")
        user_id = manager.id if request.param == "manager" else agent.id
        db.session.remove()
    return Actor(app, user_id, request.param)


@pytest.fixture
def api_schema(request, app, actor):
    # schemathesis 4.32 renames the pytest node through `_nodeid`, which pytest 9.2's nodes
    # keep elsewhere: give it the attribute it reads (names only; the report is unchanged)
    request.node._nodeid = request.node.nodeid
    config = schemathesis.Config.from_dict({
        "seed": SEED,
        "phases": {"coverage": {"enabled": COVERAGE}},
    })
    return schemathesis.openapi.from_wsgi(OPENAPI, app, config=config, headers=actor.headers)


@pytest.fixture
def tally(request):
    """Requests sent and server errors met, reported to the terminal summary."""
    counts = {"requests": 0, "server_errors": 0, "started": time.monotonic()}
    yield counts
    request.node.user_properties.append(("fuzz_requests", counts["requests"]))
    request.node.user_properties.append(("fuzz_server_errors", counts["server_errors"]))
    request.node.user_properties.append(
        ("fuzz_seconds", round(time.monotonic() - counts["started"], 1)))


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.mark.slow
@pytest.mark.timeout(TIMEOUT)
@schema.parametrize()
@settings(max_examples=EXAMPLES, derandomize=True, deadline=None, database=None,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_no_operation_answers_a_server_error(case, actor, tally):
    tally["requests"] += 1
    response = case.call(headers=actor.headers)
    if response.status_code >= 500:
        tally["server_errors"] += 1
    if case.path in SIGN_OUT:
        actor.renew()
    case.validate_response(response, checks=[not_a_server_error])
