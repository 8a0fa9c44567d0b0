"""Sending e-mail: one small interface, three backends chosen by MAIL_BACKEND.

* `smtp`: the SMTP_* settings (STARTTLS or TLS from the start, optional login, a timeout);
* `console`: the message is written to the log (development, `make run`: the worker's output
  shows the mail, so a developer can open its link);
* `memory`: the message is kept in the process (`outbox(app)`), for tests.

Mail is never sent from a request: views queue a job (app/jobs/mail.py) and the job calls
`send_message`, so a slow or unreachable SMTP server never holds a page.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import logging
import smtplib
import ssl
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from flask import Flask, current_app

log = logging.getLogger(__name__)


class MailError(Exception):
    """The message could not be handed to the mail server (the job retries)."""


@dataclass(frozen=True)
class Message:
    to: str
    subject: str
    body: str
    sender: str = ""
    headers: dict = field(default_factory=dict)

    def as_email(self, default_sender: str) -> EmailMessage:
        email = EmailMessage()
        email["From"] = self.sender or default_sender
        email["To"] = self.to
        email["Subject"] = self.subject
        email["Date"] = formatdate(localtime=False)
        email["Message-ID"] = make_msgid(domain=_domain_of(self.sender or default_sender))
        for name, value in self.headers.items():
            email[name] = value
        email.set_content(self.body)
        return email


def _domain_of(address: str) -> str:
    address = address.strip().rstrip(">")
    return address.rsplit("@", 1)[1] if "@" in address else "localhost"


class MailBackend(ABC):
    """Hands one message on; raises MailError when it cannot (smtp, console, memory below)."""

    def __init__(self, config) -> None:
        self.config = config

    @abstractmethod
    def send(self, message: Message) -> None:
        """Deliver `message` (each backend its own way)."""


class ConsoleBackend(MailBackend):
    """Writes the mail to the log at WARNING, so that it shows even when the development
    server keeps its output quiet (it is not sent: the developer opens the link from there)."""

    def send(self, message: Message) -> None:
        # headers and the text as written (not transfer-encoded: a long link stays one line)
        log.warning("e-mail (MAIL_BACKEND=console, not sent):\nFrom: %s\nTo: %s\n"
                    "Subject: %s\n\n%s", message.sender or self.config.get("MAIL_FROM", ""),
                    message.to, message.subject, message.body)


class MemoryBackend(MailBackend):
    """Keeps messages in `app.extensions["relaydesk_outbox"]` (a list, newest last)."""

    def __init__(self, config, outbox: list) -> None:
        super().__init__(config)
        self.outbox = outbox

    def send(self, message: Message) -> None:
        self.outbox.append(message)


class SmtpBackend(MailBackend):
    def send(self, message: Message) -> None:
        config = self.config
        host, port = config.get("SMTP_HOST"), int(config.get("SMTP_PORT") or 587)
        if not host:
            raise MailError("SMTP_HOST is not set")
        timeout = float(config.get("SMTP_TIMEOUT_SECONDS") or 20)
        email = message.as_email(config.get("MAIL_FROM", ""))
        context = ssl.create_default_context()
        try:
            if config.get("SMTP_SSL"):
                client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
            else:
                client = smtplib.SMTP(host, port, timeout=timeout)
            with client:
                if not config.get("SMTP_SSL") and config.get("SMTP_STARTTLS"):
                    client.starttls(context=context)
                if config.get("SMTP_USERNAME"):
                    client.login(config["SMTP_USERNAME"], config.get("SMTP_PASSWORD") or "")
                refused = client.send_message(email)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"{host}:{port} did not take the message: "
                            f"{exc.__class__.__name__}: {exc}") from exc
        if refused:
            raise MailError(f"{host}:{port} refused the recipient(s) {sorted(refused)}")


BACKENDS = ("smtp", "console", "memory")


def outbox(app: Flask | None = None) -> list[Message]:
    """The messages the memory backend kept (tests read and clear it)."""
    app = app or current_app._get_current_object()
    return app.extensions.setdefault("relaydesk_outbox", [])


def backend(app: Flask | None = None) -> MailBackend:
    app = app or current_app._get_current_object()
    name = (app.config.get("MAIL_BACKEND") or "console").strip().lower()
    if name == "smtp":
        return SmtpBackend(app.config)
    if name == "memory":
        return MemoryBackend(app.config, outbox(app))
    if name == "console":
        return ConsoleBackend(app.config)
    raise MailError(f"MAIL_BACKEND must be one of {', '.join(BACKENDS)}, not {name!r}")


def send_message(message: Message) -> None:
    """Send now, through the configured backend. Called by jobs, not by views."""
    backend().send(message)
    log.info("e-mail %r handed to the %s backend", message.subject,
             current_app.config.get("MAIL_BACKEND"))
