"""What every messaging platform client shares: results, live answers, text splitting, the
live-state timeout. The clients (greenapi, meta, telegram) build on it; `app.integrations.channels`
re-exports it with `client_for`."""
from __future__ import annotations

from dataclasses import dataclass, field

from app.redaction import redact
from app.status_words import SERVICE_NAMES, Said, platform_problem


@dataclass
class SendResult:
    ok: bool
    message_id: str | None = None
    transient: bool = False
    retry_after: float | None = None
    error_code: str | None = None
    error: str | None = None
    channel_status: str | None = None  # e.g. "needs_reauth" after Meta error 190
    # the platform's own back-off: wait at least backoff_base ** attempt seconds (Meta 131056)
    backoff_base: float | None = None
    migrate_to_chat_id: str | None = None  # Telegram: the group is now this supergroup
    # refused for the platform's rate limit (HTTP 429 or its own code): nothing was delivered
    throttled: bool = False

    def __post_init__(self) -> None:
        self.error = redact(self.error)


@dataclass
class ActionResult:
    ok: bool
    summary: str
    details: dict = field(default_factory=dict)
    updates: dict = field(default_factory=dict)  # channel fields to store (e.g. new tokens)
    warning: bool = False  # it works, but the summary says what to improve (shown as a warning)
    #: the outcome in words (flashed in the reader's language); `summary` is the technical
    #: English of the logs and job results
    said: Said | None = None

    def __post_init__(self) -> None:
        self.summary = redact(self.summary)

    def words(self) -> str:
        """What a person reads: the Said in their language, else the summary."""
        return self.said.words() if self.said is not None else self.summary


@dataclass
class MediaToSend:
    """What `send_media` sends: a file (`kind` image, video, audio or document, with its bytes,
    name and sniffed content type) or a location (`kind` location, coordinates, name,
    address). `caption` goes with the file where the platform takes one."""

    kind: str
    data: bytes = b""
    file_name: str = "file"
    mime_type: str = "application/octet-stream"
    caption: str | None = None
    latitude: float | None = None
    longitude: float | None = None
    place_name: str | None = None
    address: str | None = None


#: seconds a file upload may take
UPLOAD_TIMEOUT = 120.0

#: seconds a live-state call may take (the show page asks while a person waits)
LIVE_TIMEOUT = 10.0


@dataclass
class LiveAnswer:
    """What a platform said about a channel just now (its show page polls it).

    `facts` holds plain values from the platform's answer; `problem` is None when it answered,
    else a code the screen turns into words: refused (the outbound URL policy stopped the call;
    `detail` says why), timeout, connection, unauthorized (bad token or id), not_found,
    token_expired (Meta 190), unavailable (HTTP 429/5xx, an HTML error page), bad_answer (a
    success status with a body that is not the documented JSON), http_error (other statuses)."""

    facts: dict = field(default_factory=dict)
    problem: str | None = None
    status: int | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.problem is None

    def __post_init__(self) -> None:
        self.detail = redact(self.detail) or ""


def live_problem(result) -> LiveAnswer:
    """The problem code of a call that did not give the expected answer (see LiveAnswer)."""
    if result.refused:
        return LiveAnswer(problem="refused", detail=result.text)
    if result.error in ("timeout", "connection"):
        return LiveAnswer(problem=result.error)
    status = result.status
    if status in (401, 403):
        return LiveAnswer(problem="unauthorized", status=status)
    if status == 404:
        return LiveAnswer(problem="not_found", status=status)
    if status is None:
        return LiveAnswer(problem="connection")
    if status == 429 or status >= 500:
        return LiveAnswer(problem="unavailable", status=status)
    if 200 <= status < 300:
        return LiveAnswer(problem="bad_answer", status=status)
    return LiveAnswer(problem="http_error", status=status)


def not_called(service: str, result) -> ActionResult:
    """A channel action the outbound URL policy stopped (`result.refused`): nothing was sent,
    the channel's URL has to change. The summary says why in plain words."""
    kind = next((k for k, name in SERVICE_NAMES.items() if name == service), service)
    said = platform_problem(kind, "refused", reason=result.text,
                            detail=f"not called: {result.text}")
    return ActionResult(False, f"{service} was not called: {result.text}", said=said,
                        updates={"status": "error", "status_detail": said.encode()})


def send_not_called(service: str, result) -> SendResult:
    """A send the outbound URL policy stopped: permanent (repeating cannot help), and the
    channel is marked in error so the manager sees why."""
    return SendResult(ok=False, transient=False, error_code=result.error,
                      error=f"{service} not called: {result.text}", channel_status="error")


def split_text(text: str, limit: int) -> list[str]:
    """Split a long text into parts of at most `limit` characters, at the most natural break
    (blank line, line, sentence, space) found in the second half of each part."""
    text = text.strip() or text
    parts: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = -1
        for separator in ("\n\n", "\n", ". ", " "):
            position = window.rfind(separator, limit // 2)
            if position > 0:
                cut = position + len(separator)
                break
        if cut <= 0:
            cut = limit
        parts.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text or not parts:
        parts.append(text)
    return parts
