"""The panel adapter interface: one adapter per engine, all returning the same shapes.

Every adapter turns its engine's answers (docs/external-apis.md section 1, every variant listed
there) into `PanelOrder` / `PanelService` / `PanelTicket`, and every failure into a `PanelError`
whose `kind` the pipeline maps to a customer reply ("panel unavailable") while `detail` (the
technical text) goes only to the logs.

Capabilities (`capabilities()`):
    orders        fetch orders by id
    ownership     orders carry the customer's username (ownership can be checked)
    dispatch      orders carry the provider and its external id (commands can be forwarded)
    services      list services with refill/cancel flags
    tickets       list/read/reply/create support tickets
    ticket_close  close a ticket (not documented on any engine: optional)
    user_balance  read a customer's balance
    panel_clock   answers carry the panel's own "now" (Rental Panel's current_date)
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from app.redaction import redact

ORDER_CAPABILITIES = ("orders", "ownership", "dispatch")


class PanelError(Exception):
    """The panel could not answer usefully.

    kind: unreachable (network, timeout, 5xx, Cloudflare HTML) | auth (bad key) |
          bad_response (garbage, unexpected JSON) | unsupported (engine cannot do it) |
          rejected (the panel answered with an error for this request) |
          refused (the outbound URL policy refused the panel URL: nothing was sent)
    transient: worth retrying later
    cause: for unreachable, why (timeout | connection | cloudflare | rate_limited |
           server_error | garbled | paced), which the screens put into words
           (app/status_words.py `panel_problem`); `status` the HTTP status of the last answer
    """

    def __init__(self, kind: str, detail: str, transient: bool | None = None,
                 cause: str | None = None, status: int | None = None):
        detail = redact(detail)
        super().__init__(f"{kind}: {detail}")
        self.kind = kind
        self.detail = detail
        self.transient = kind == "unreachable" if transient is None else transient
        self.cause = cause
        self.status = status


@dataclass
class PanelOrder:
    id: str
    status: str  # normalised: see app.domain.eligibility.OrderStatus
    raw_status: str | None = None
    username: str | None = None
    service_id: str | None = None
    service_name: str | None = None
    provider: str | None = None  # usually the provider's domain
    external_id: str | None = None
    created_at: datetime | None = None  # naive UTC
    panel_now: datetime | None = None  # the panel's clock when it answered, naive UTC
    start_count: int | None = None
    remains: int | None = None
    quantity: int | None = None
    charge: str | None = None
    link: str | None = None
    actions: dict[str, bool] = field(default_factory=dict)


@dataclass
class OrdersResult:
    orders: dict[str, PanelOrder]
    missing: list[str]  # ids the panel says do not exist
    calls: int  # HTTP calls made (the benchmark counts them)
    coalesced: int = 1  # the commands these calls served (app/jobs/drivers.py `fetch_all`)


@dataclass
class PanelService:
    id: str
    name: str
    category: str | None = None
    refill: bool | None = None
    cancel: bool | None = None
    rate: str | None = None


@dataclass
class PanelTicket:
    id: str
    subject: str | None = None
    username: str | None = None
    status: str | None = None
    messages: list[dict] = field(default_factory=list)  # {"message", "sender_name"}


@dataclass
class ConnectionCheck:
    ok: bool
    summary: str  # technical English (logs, the folded detail on the screen)
    engine: str | None = None
    api_path: str | None = None
    #: the outcome in words (app/status_words.py): flashed, and stored as the status detail
    said: Any = None

    def __post_init__(self) -> None:
        if self.said is None:
            from app.status_words import Said

            self.said = Said("panel_ok" if self.ok else "panel_unreachable",
                             {"engine": self.engine} if self.ok else {}, detail=self.summary)


class PanelAdapter(Protocol):
    engine: str

    def capabilities(self) -> set[str]: ...

    def get_orders(self, ids: list[str], username: str | None = None) -> OrdersResult: ...

    def services(self) -> list[PanelService]: ...

    def user_balance(self, username: str) -> str | None: ...

    def list_tickets(self, status: str = "pending", limit: int = 100) -> list[PanelTicket]: ...

    def get_ticket(self, ticket_id: str) -> PanelTicket: ...

    def reply_ticket(self, ticket_id: str, message: str) -> None: ...

    def create_ticket(self, username: str, subject: str, message: str) -> str | None: ...

    def test_connection(self) -> ConnectionCheck: ...


class NoTickets:
    """For engines without a ticket API: every ticket call is `unsupported`, without a call."""

    no_tickets_reason = "this panel API has no tickets"

    def list_tickets(self, status: str = "pending", limit: int = 100) -> list[PanelTicket]:
        raise PanelError("unsupported", self.no_tickets_reason)

    def get_ticket(self, ticket_id: str) -> PanelTicket:
        raise PanelError("unsupported", self.no_tickets_reason)

    def reply_ticket(self, ticket_id: str, message: str) -> None:
        raise PanelError("unsupported", self.no_tickets_reason)

    def create_ticket(self, username: str, subject: str, message: str) -> str | None:
        raise PanelError("unsupported", self.no_tickets_reason)
