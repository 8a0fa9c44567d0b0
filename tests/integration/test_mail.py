"""The mail backends (app/mail.py) and the mail job (app/jobs/mail.py).

The SMTP backend talks to a small SMTP server in this test (a thread on a loopback port) that
speaks enough of RFC 5321 for smtplib: EHLO, AUTH PLAIN, MAIL, RCPT, DATA, QUIT.
"""
from __future__ import annotations

import base64
import logging
import socket
import socketserver
import threading
from email import message_from_bytes

import pytest

from app.mail import (ConsoleBackend, MailError, MemoryBackend, Message, SmtpBackend, backend,
                      outbox)


class _Handler(socketserver.StreamRequestHandler):
    def reply(self, line: str) -> None:
        self.wfile.write((line + "\r\n").encode())

    def handle(self) -> None:
        server = self.server
        session = {"rcpt": []}
        self.reply("220 test.smtp ready")
        while True:
            raw = self.rfile.readline()
            if not raw:
                return
            line = raw.decode().rstrip("\r\n")
            verb = line.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.wfile.write(b"250-test.smtp\r\n250-AUTH PLAIN\r\n250 8BITMIME\r\n")
            elif verb == "AUTH":
                _, mechanism, *rest = line.split(" ")
                credentials = base64.b64decode(rest[0]).split(b"\0") if rest else []
                if credentials[1:] == [server.username, server.password]:
                    session["auth"] = credentials[1].decode()
                    self.reply("235 ok")
                else:
                    self.reply("535 bad credentials")
            elif verb == "MAIL":
                if server.username and "auth" not in session:
                    self.reply("530 authentication required")
                    continue
                session["from"] = line.split(":", 1)[1].strip("<> ")
                self.reply("250 ok")
            elif verb == "RCPT":
                to = line.split(":", 1)[1].strip("<> ")
                if to in server.refuse:
                    self.reply("550 no such user")
                else:
                    session["rcpt"].append(to)
                    self.reply("250 ok")
            elif verb == "DATA":
                self.reply("354 go ahead")
                data = b""
                while True:
                    chunk = self.rfile.readline()
                    if chunk in (b".\r\n", b""):
                        break
                    data += chunk[1:] if chunk.startswith(b"..") else chunk
                server.received.append({**session, "data": data})
                session = {"rcpt": [], **({"auth": session["auth"]} if "auth" in session else {})}
                self.reply("250 queued")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("250 ok")


class SmtpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, username: bytes = b"", password: bytes = b""):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.username, self.password = username, password
        self.received: list[dict] = []
        self.refuse: set[str] = set()


@pytest.fixture
def smtp_server():
    server = SmtpServer(b"mailer", b"s3cret-Pass")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def smtp_config(server, **extra) -> dict:
    return {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": server.server_address[1],
            "SMTP_USERNAME": "mailer", "SMTP_PASSWORD": "s3cret-Pass", "SMTP_STARTTLS": False,
            "SMTP_SSL": False, "SMTP_TIMEOUT_SECONDS": 5,
            "MAIL_FROM": "Relaydesk <noreply@relaydesk.example>", **extra}


MESSAGE = Message(to="agent@example.org", subject="Choose your password — Relaydesk",
                  body="Hello Ağent,\n\n.a line starting with a dot\nhttps://x.example/p/abc\n")


def test_smtp_backend_logs_in_and_delivers(smtp_server):
    SmtpBackend(smtp_config(smtp_server)).send(MESSAGE)
    [received] = smtp_server.received
    assert received["auth"] == "mailer"
    assert received["from"] == "noreply@relaydesk.example"
    assert received["rcpt"] == ["agent@example.org"]
    email = message_from_bytes(received["data"])
    assert email["To"] == "agent@example.org"
    from email.header import decode_header, make_header

    assert str(make_header(decode_header(email["Subject"]))) == MESSAGE.subject
    assert email.get_payload(decode=True).decode().replace("\r\n", "\n") == MESSAGE.body


def test_smtp_backend_reports_refusals_and_unreachable_servers(smtp_server):
    with pytest.raises(MailError, match="SMTPAuthenticationError"):
        SmtpBackend(smtp_config(smtp_server, SMTP_PASSWORD="wrong")).send(MESSAGE)
    smtp_server.refuse.add("agent@example.org")
    with pytest.raises(MailError, match="SMTPRecipientsRefused"):
        SmtpBackend(smtp_config(smtp_server)).send(MESSAGE)
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    with pytest.raises(MailError, match=f"127.0.0.1:{port}"):
        SmtpBackend(smtp_config(smtp_server, SMTP_PORT=port)).send(MESSAGE)
    with pytest.raises(MailError, match="SMTP_HOST"):
        SmtpBackend(smtp_config(smtp_server, SMTP_HOST="")).send(MESSAGE)
    assert smtp_server.received == []


def test_smtp_backend_asks_for_starttls_when_configured(smtp_server):
    # this server offers no STARTTLS: the backend must refuse rather than send in the clear
    with pytest.raises(MailError, match="STARTTLS"):
        SmtpBackend(smtp_config(smtp_server, SMTP_STARTTLS=True)).send(MESSAGE)
    assert smtp_server.received == []


def test_console_backend_writes_the_mail_to_the_log(caplog, monkeypatch):
    # Alembic's logging set-up (migrations/env.py) disables the loggers that exist when the
    # suite migrates its database; the development server never runs it in the same process.
    monkeypatch.setattr(logging.getLogger("app.mail"), "disabled", False)
    with caplog.at_level(logging.INFO, logger="app.mail"):
        ConsoleBackend({"MAIL_FROM": "noreply@relaydesk.example"}).send(MESSAGE)
    text = caplog.text
    assert "To: agent@example.org" in text and "Subject: " + MESSAGE.subject in text
    assert "https://x.example/p/abc" in text and "Hello Ağent" in text and "not sent" in text
    long_link = "https://relaydesk.example/password/invitation/" + "x" * 150
    with caplog.at_level(logging.INFO, logger="app.mail"):
        ConsoleBackend({}).send(Message(to="a@example.org", subject="s", body=long_link))
    assert long_link in caplog.text  # one line, as a developer copies it


def test_memory_backend_and_the_choice_of_backend(app):
    kept: list = []
    MemoryBackend({}, kept).send(MESSAGE)
    assert kept == [MESSAGE]
    with app.app_context():
        assert isinstance(backend(), MemoryBackend)  # TestConfig
        assert backend().outbox is outbox(app)
        for name, kind in (("smtp", SmtpBackend), ("console", ConsoleBackend)):
            app.config["MAIL_BACKEND"] = name
            try:
                assert isinstance(backend(), kind)
            finally:
                app.config["MAIL_BACKEND"] = "memory"
        app.config["MAIL_BACKEND"] = "carrier-pigeon"
        try:
            with pytest.raises(MailError, match="MAIL_BACKEND"):
                backend()
        finally:
            app.config["MAIL_BACKEND"] = "memory"


def test_the_job_sends_through_smtp_in_the_recipients_language(app, smtp_server, factory):
    from app.jobs.mail import send_password_link

    workspace = factory.workspace("gamma", "Gamma Panel")
    user = factory.member(workspace, "gamma-agent", "agent")
    saved = {k: app.config.get(k) for k in smtp_config(smtp_server)} | {
        "MAIL_BACKEND": app.config["MAIL_BACKEND"]}
    app.config.update(smtp_config(smtp_server), MAIL_BACKEND="smtp")
    try:
        assert send_password_link(user.id, "invitation", "es") == "sent"
    finally:
        app.config.update(saved)
    [received] = smtp_server.received
    email = message_from_bytes(received["data"])
    body = email.get_payload(decode=True).decode()
    assert received["rcpt"] == ["gamma-agent@test.example"]
    assert "/password/invitation/" in body and "Gamma Panel" in body
    assert "invitado" in body.lower()  # Spanish
    assert send_password_link(999999, "invitation", "en") == "skipped"


def test_a_failing_server_fails_the_job_so_rq_retries(app, factory):
    from app.jobs.mail import send_password_link

    workspace = factory.workspace("delta", "Delta Panel")
    user = factory.member(workspace, "delta-agent", "agent")
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    saved = {"MAIL_BACKEND": app.config["MAIL_BACKEND"], "SMTP_HOST": app.config["SMTP_HOST"],
             "SMTP_PORT": app.config["SMTP_PORT"]}
    app.config.update(MAIL_BACKEND="smtp", SMTP_HOST="127.0.0.1", SMTP_PORT=port)
    try:
        with pytest.raises(MailError):
            send_password_link(user.id, "reset", "en")
    finally:
        app.config.update(saved)


def test_views_queue_the_mail_with_retries(app, factory, redis_conn):
    from app.jobs.mail import JOB, queue_password_link

    workspace = factory.workspace("eps", "Eps Panel")
    user = factory.member(workspace, "eps-agent", "agent")
    assert queue_password_link(user.id, "reset", "tr")
    [job] = app.extensions["relaydesk_queues"]["default"].get_jobs()
    assert job.func_name == JOB and job.args == (user.id, "reset", "tr")
    assert job.retries_left == 3
    assert not any("password/" in str(arg) for arg in job.args)  # the link is made at send time
