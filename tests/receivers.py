"""Real servers on 127.0.0.1 for tests: an HTTP(S) webhook receiver and an SMTP server (aiosmtpd)."""

from __future__ import annotations

import dataclasses
import email
import email.policy
import http.server
import pathlib
import ssl
import threading
import time
from collections import deque
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult

from taskengine.dev import controlplane, pki


@dataclasses.dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


@dataclasses.dataclass
class Reply:
    status: int = 200
    body: str = "ok"
    delay: float = 0.0


class Receiver:
    """A webhook receiver: records every request; answers with the reply routed to its path, else
    with planned replies, then 200 "ok".

    `echo_headers=True` puts the request's Authorization header in the reply body, as careless receivers do.
    """

    def __init__(self, *, tls_dir: pathlib.Path | None = None) -> None:
        self.requests: list[Request] = []
        self.plan: deque[Reply] = deque()
        self.routes: dict[str, Reply] = {}
        self.default = Reply()
        self.echo_headers = False
        self._lock = threading.Lock()
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                with receiver._lock:
                    receiver.requests.append(Request(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                    if self.path in receiver.routes:
                        reply = receiver.routes[self.path]
                    else:
                        reply = receiver.plan.popleft() if receiver.plan else receiver.default
                if reply.delay:
                    time.sleep(reply.delay)
                text = reply.body
                if receiver.echo_headers:
                    text += f" (you sent authorization={self.headers.get('authorization')})"
                data = text.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "text/plain")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_POST = do_PUT = do_PATCH = do_GET = do_DELETE = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        scheme = "http"
        if tls_dir is not None:
            certificates = pki.create(tls_dir)  # signed by a CA nobody trusts: "self-signed"
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certificates.path("apiserver.crt"), certificates.path("apiserver.key"))
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def reply(self, *replies: Reply) -> None:
        self.plan.extend(replies)

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclasses.dataclass
class Mail:
    sender: str
    recipients: list[str]
    message: email.message.EmailMessage

    @property
    def subject(self) -> str:
        return self.message["Subject"]

    @property
    def body(self) -> str:
        return self.message.get_content().strip()


class SmtpServer:
    """aiosmtpd on 127.0.0.1: the mails the operator sends, as the server received them."""

    def __init__(self, *, starttls_dir: pathlib.Path | None = None) -> None:
        """With `starttls_dir`, the server offers STARTTLS (certificate from a private CA) and requires it."""
        self.mails: list[Mail] = []
        self.logins = []
        server = self

        class Handler:
            async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
                message = email.message_from_bytes(envelope.content, policy=email.policy.default)
                server.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message))
                return "250 OK"

        self.port = controlplane.free_port()
        tls: dict[str, Any] = {}
        if starttls_dir is not None:
            certificates = pki.create(starttls_dir)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(certificates.path("apiserver.crt"), certificates.path("apiserver.key"))
            tls = {"tls_context": context, "require_starttls": True, "authenticator": self._authenticate}
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port, **tls)
        self.controller.start()

    logins: list[tuple[str, str]]

    def _authenticate(self, _server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any) -> AuthResult:
        self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=True)

    def stop(self) -> None:
        self.controller.stop()
