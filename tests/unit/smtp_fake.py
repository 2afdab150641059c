"""A small real SMTP server on 127.0.0.1 for tests: enough of RFC 5321 for smtplib.

It speaks EHLO/HELO, optional AUTH PLAIN/LOGIN, optional STARTTLS (or TLS from the start),
MAIL FROM, RCPT TO, DATA, RSET, NOOP and QUIT, and records what it received. Tests make it
misbehave: a chosen reply to RCPT (421/451 temporary, 550 permanent), or silence at the greeting
or after a chosen command (for time-outs)::

    async with FakeSmtpServer(users={"ann": "secret"}) as server:
        ...  # send to 127.0.0.1:server.port
        assert server.messages[0].rcpt_to == ["bob@example.org"]
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import datetime as dt
import ipaddress
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from types import TracebackType


@dataclass
class Received:
    """One message the server accepted."""

    mail_from: str
    rcpt_to: list[str]
    data: bytes  # the message as sent, dot-stuffing undone, CRLF line ends
    user: str | None  # who had logged in, if anyone
    tls: bool  # whether the connection was encrypted

    def message(self) -> EmailMessage:
        msg = BytesParser(policy=policy.default).parsebytes(self.data)
        assert isinstance(msg, EmailMessage)
        return msg


@dataclass
class Login:
    mechanism: str
    user: str
    ok: bool
    tls: bool


@dataclass
class FakeSmtpServer:
    users: dict[str, str] | None = None  # offer AUTH with these credentials
    mechanisms: tuple[str, ...] = ("PLAIN", "LOGIN")
    require_auth: bool = False  # MAIL FROM before a login gets 530
    rcpt_reply: tuple[int, str] | None = None  # e.g. (451, "4.7.1 try later")
    starttls: ssl.SSLContext | None = None  # offer STARTTLS with this server context
    implicit_tls: ssl.SSLContext | None = None  # speak TLS from the first byte (port 465 style)
    stall: str | None = None  # "greeting" or a verb such as "RCPT": never answer it
    messages: list[Received] = field(default_factory=list)
    logins: list[Login] = field(default_factory=list)
    commands: list[str] = field(default_factory=list)  # verbs in the order they came
    connections: int = 0

    def __post_init__(self) -> None:
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._connected, "127.0.0.1", 0,
                                                  ssl=self.implicit_tls)

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> FakeSmtpServer:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    async def _connected(self, reader: asyncio.StreamReader,
                         writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self.connections += 1
        try:
            await _Session(self, reader, writer).run()
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, ssl.SSLError, OSError,
                                     asyncio.CancelledError):
                await writer.wait_closed()
            self._tasks.discard(task)


class _Session:
    def __init__(self, server: FakeSmtpServer, reader: asyncio.StreamReader,
                 writer: asyncio.StreamWriter) -> None:
        self.server = server
        self.reader = reader
        self.writer = writer
        self.tls = server.implicit_tls is not None
        self.user: str | None = None
        self.mail_from: str | None = None
        self.rcpt_to: list[str] = []

    async def reply(self, code: int, *lines: str) -> None:
        lines = lines or ("OK",)
        out = b"".join(f"{code}{'-' if i < len(lines) - 1 else ' '}{line}\r\n".encode()
                       for i, line in enumerate(lines))
        self.writer.write(out)
        await self.writer.drain()

    async def line(self) -> str:
        raw = await self.reader.readline()
        if not raw.endswith(b"\n"):
            raise asyncio.IncompleteReadError(raw, None)
        return raw.decode("utf-8", "replace").rstrip("\r\n")

    async def run(self) -> None:
        if self.server.stall == "greeting":
            await asyncio.Future()  # until the test ends
        await self.reply(220, "fake.test ESMTP ready")
        while True:
            text = await self.line()
            verb, _, arg = text.partition(" ")
            verb = verb.upper()
            self.server.commands.append(verb)
            if verb == self.server.stall:
                await asyncio.Future()
            handler = getattr(self, f"do_{verb.lower()}", None)
            if handler is None:
                await self.reply(502, "5.5.2 command not recognised")
                continue
            if await handler(arg.strip()) is False:
                return

    def extensions(self) -> list[str]:
        ext = ["8BITMIME", "SIZE 10485760"]
        if self.server.starttls is not None and not self.tls:
            ext.append("STARTTLS")
        if self.server.users is not None and self.server.mechanisms:
            ext.append("AUTH " + " ".join(self.server.mechanisms))
        return ext

    async def do_ehlo(self, arg: str) -> None:
        self.reset()
        await self.reply(250, f"fake.test greets {arg or 'you'}", *self.extensions())

    async def do_helo(self, arg: str) -> None:
        self.reset()
        await self.reply(250, "fake.test")

    async def do_starttls(self, arg: str) -> None:
        if self.server.starttls is None or self.tls:
            await self.reply(502, "5.5.1 STARTTLS not available")
            return
        await self.reply(220, "2.0.0 ready to start TLS")
        await self.writer.start_tls(self.server.starttls)
        self.tls = True
        self.user = None
        self.reset()

    async def do_auth(self, arg: str) -> None:
        mechanism, _, initial = arg.partition(" ")
        mechanism = mechanism.upper()
        if self.server.users is None or mechanism not in self.server.mechanisms:
            await self.reply(504, "5.5.4 mechanism not supported")
            return
        try:
            if mechanism == "PLAIN":
                if not initial:
                    await self.reply(334, "")
                    initial = await self.line()
                _authzid, user, password = _b64(initial).split("\0")
            else:  # LOGIN
                if initial:
                    user = _b64(initial)
                else:
                    await self.reply(334, "VXNlcm5hbWU6")  # "Username:"
                    user = _b64(await self.line())
                await self.reply(334, "UGFzc3dvcmQ6")  # "Password:"
                password = _b64(await self.line())
        except (ValueError, binascii.Error):
            await self.reply(501, "5.5.2 cannot decode the response")
            return
        ok = self.server.users.get(user) == password
        self.server.logins.append(Login(mechanism, user, ok, self.tls))
        if ok:
            self.user = user
            await self.reply(235, "2.7.0 authentication successful")
        else:
            await self.reply(535, "5.7.8 authentication credentials invalid")

    async def do_mail(self, arg: str) -> None:
        if self.server.require_auth and self.user is None:
            await self.reply(530, "5.7.0 authentication required")
            return
        self.mail_from = _path(arg, "FROM:")
        self.rcpt_to = []
        await self.reply(250, "2.1.0 sender OK")

    async def do_rcpt(self, arg: str) -> bool:
        if self.mail_from is None:
            await self.reply(503, "5.5.1 MAIL first")
            return True
        code, text = self.server.rcpt_reply or (250, "2.1.5 recipient OK")
        if code == 250:
            self.rcpt_to.append(_path(arg, "TO:"))
        await self.reply(code, text)
        return code != 421  # 421: the server closes the connection

    async def do_data(self, arg: str) -> None:
        if self.mail_from is None or not self.rcpt_to:
            await self.reply(503, "5.5.1 need MAIL and RCPT first")
            return
        await self.reply(354, "end data with <CR><LF>.<CR><LF>")
        lines: list[bytes] = []
        while True:
            raw = await self.reader.readline()
            if not raw:
                raise asyncio.IncompleteReadError(b"", None)
            if raw == b".\r\n":
                break
            lines.append(raw[1:] if raw.startswith(b".") else raw)
        self.server.messages.append(Received(self.mail_from, self.rcpt_to, b"".join(lines),
                                             self.user, self.tls))
        self.reset()
        await self.reply(250, "2.0.0 queued")

    async def do_rset(self, arg: str) -> None:
        self.reset()
        await self.reply(250, "2.0.0 reset")

    async def do_noop(self, arg: str) -> None:
        await self.reply(250, "2.0.0 OK")

    async def do_quit(self, arg: str) -> bool:
        await self.reply(221, "2.0.0 bye")
        return False

    def reset(self) -> None:
        self.mail_from = None
        self.rcpt_to = []


def _b64(value: str) -> str:
    return base64.b64decode(value, validate=True).decode()


def _path(arg: str, prefix: str) -> str:
    if not arg.upper().startswith(prefix):
        raise ValueError(f"expected {prefix}")
    rest = arg[len(prefix):].strip()
    address = rest.split(">", 1)[0].lstrip("<")
    return address


def self_signed_certificate(folder: Path, names: Iterable[str] = ("127.0.0.1", "localhost")
                            ) -> tuple[Path, Path]:
    """A throwaway certificate and key for TLS tests (needs ``cryptography``)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fake.test")])
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder()
            .subject_name(subject).issuer_name(subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName(alt), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context
