"""Outgoing mail: invitation links, password resets, address verification, waitlist notices.

Two mailers share one small protocol (:class:`Mailer`):

* :class:`SmtpMailer` hands each message to an SMTP server (STARTTLS, implicit TLS or plain;
  optional AUTH). smtplib is blocking, so every send runs in a worker thread on a connection
  of its own. Failures become :class:`MailError`, whose ``temporary`` flag says whether trying
  again later may help.
* :class:`FileMailer` is for a server without SMTP: each message becomes an ``.eml`` file in a
  private folder and one log line says where it is (never the body: bodies carry secret links),
  so an admin can still hand out invitations and resets by hand.

Addresses and subjects are checked when an :class:`Email` is made: one plain ``local@domain``
address, no control characters in the subject. Header injection is therefore impossible, and
the email package's own header checks stand behind that.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import errno
import logging
import os
import re
import secrets
import smtplib
import socket
import ssl
import unicodedata
from dataclasses import dataclass
from email import policy as _policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, make_msgid
from pathlib import Path
from typing import Literal, Protocol

__all__ = [
    "Email",
    "FileMailer",
    "MailError",
    "Mailer",
    "SmtpMailer",
    "build_message",
    "find_links",
    "read_message",
]

log = logging.getLogger(__name__)

Security = Literal["starttls", "ssl", "none"]

MAX_ADDRESS = 254
KIND_HEADER = "X-Ruang-Kind"

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?P<domain>{_LABEL}(?:\.{_LABEL})*)")
_KIND = re.compile(r"[a-z0-9][a-z0-9_-]{0,31}")
# A URL runs to the first space, quote or angle bracket; trailing punctuation is trimmed below.
_URL = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
_TRAILING = ".,;:!?*'\"]}>"
# Longest line (in octets, without CRLF) RFC 5322 allows; longer lines are quoted-printable.
_MAX_LINE = 998


# --- messages -----------------------------------------------------------------------------


def _has_line_break_or_control(value: str) -> bool:
    # Cc covers CR, LF, NUL, NEL (U+0085) and the rest; Zl/Zp are U+2028 and U+2029.
    return any(unicodedata.category(ch) in ("Cc", "Zl", "Zp") for ch in value)


def _check_address(value: str, what: str = "address") -> str:
    """Return ``value`` if it is one plain ``local@domain`` address, else raise ValueError."""
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string")
    if _has_line_break_or_control(value):
        raise ValueError(f"{what} must not contain line breaks or control characters")
    if any(ch.isspace() for ch in value):
        raise ValueError(f"{what} must not contain spaces")
    if len(value) > MAX_ADDRESS:
        raise ValueError(f"{what} is longer than {MAX_ADDRESS} characters")
    if value.count("@") != 1:
        raise ValueError(f"{what} must contain exactly one @")
    if not value.isascii():
        raise ValueError(f"{what} must be ASCII (write an international domain in punycode)")
    match = _ADDRESS.fullmatch(value)
    if match is None or len(match["local"]) > 64:
        raise ValueError(f"{what} {value!r} is not a plausible email address")
    return value


def _parse_sender(sender: str) -> Address:
    """``noreply@example.org`` or ``Ruang <noreply@example.org>`` as an Address."""
    if not isinstance(sender, str) or _has_line_break_or_control(sender):
        raise ValueError("sender must not contain line breaks or control characters")
    header = _policy.default.header_factory("From", sender)
    addresses: tuple[Address, ...] = getattr(header, "addresses", ())
    if len(addresses) != 1 or header.defects:
        raise ValueError(f"sender {sender!r} is not one email address")
    name, addr = addresses[0].display_name, addresses[0].addr_spec
    _check_address(addr, "sender address")
    return Address(display_name=name, addr_spec=addr)


@dataclass(frozen=True)
class Email:
    """One message to one person. Made only with a plausible address and a one-line subject."""

    to: str
    subject: str
    text: str  # plain text body (always present)
    html: str | None = None  # optional HTML alternative
    kind: str = "notice"  # "invite", "reset", "verify", "waitlist", ... (logs and file names)

    def __post_init__(self) -> None:
        _check_address(self.to, "recipient address")
        if not isinstance(self.subject, str) or _has_line_break_or_control(self.subject):
            raise ValueError("subject must be one line without control characters")
        if not isinstance(self.text, str):
            raise ValueError("text must be a string")
        if self.html is not None and not isinstance(self.html, str):
            raise ValueError("html must be a string or None")
        if not isinstance(self.kind, str) or _KIND.fullmatch(self.kind) is None:
            raise ValueError("kind must be 1-32 lowercase letters, digits, '-' or '_'")


def _transfer_encoding(body: str, eight_bit: bool) -> str:
    if all(len(line) <= _MAX_LINE for line in body.encode("utf-8").splitlines()):
        if body.isascii():
            return "7bit"
        if eight_bit:
            return "8bit"
    return "quoted-printable"


def build_message(email: Email, sender: str, *, eight_bit: bool = False) -> EmailMessage:
    """The RFC 5322 message for ``email``: headers, text and an optional HTML alternative.

    Bodies are UTF-8. ASCII bodies stay as they are (7bit); others are quoted-printable, which
    any SMTP server takes, or, with ``eight_bit`` (files for people to read), raw UTF-8.
    Serialised with CRLF line ends (``as_bytes()``).
    """
    from_ = _parse_sender(sender)
    _check_address(email.to, "recipient address")  # Email checks too; this is the last gate
    msg = EmailMessage(policy=_policy.SMTP)  # CRLF line ends, as on the wire
    msg["From"] = from_
    msg["To"] = Address(addr_spec=email.to)
    msg["Subject"] = email.subject
    msg["Date"] = format_datetime(dt.datetime.now(dt.UTC))
    msg["Message-ID"] = make_msgid(idstring=email.kind, domain=from_.domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation auto-replies, please
    msg[KIND_HEADER] = email.kind
    msg.set_content(email.text, charset="utf-8",
                    cte=_transfer_encoding(email.text, eight_bit))
    if email.html is not None:
        msg.add_alternative(email.html, subtype="html", charset="utf-8",
                            cte=_transfer_encoding(email.html, eight_bit))
        for part in msg.iter_parts():
            del part["MIME-Version"]  # add_alternative repeats it in the moved part
    return msg


def _body_text(part: EmailMessage) -> str:
    content = part.get_content()
    if not isinstance(content, str):
        raise ValueError("message body is not text")
    return content.replace("\r\n", "\n")


def read_message(path: Path) -> Email:
    """Read an ``.eml`` file written by :class:`FileMailer` back into an :class:`Email`.

    Line ends come back as ``\\n``. A MIME text part always ends with a line break, so a
    body comes back ending in one: bodies that end in ``\\n`` (as they should) round-trip
    exactly, and ``"hi"`` comes back as ``"hi\\n"``.
    """
    with open(path, "rb") as f:
        msg = BytesParser(policy=_policy.default).parse(f)
    if not isinstance(msg, EmailMessage):
        raise ValueError(f"{path} is not an email message")
    addresses: tuple[Address, ...] = getattr(msg["To"], "addresses", ())
    if len(addresses) != 1:
        raise ValueError(f"{path} does not have exactly one recipient")
    plain = msg.get_body(preferencelist=("plain",))
    if not isinstance(plain, EmailMessage):
        raise ValueError(f"{path} has no plain text body")
    html_part = msg.get_body(preferencelist=("html",))
    html = _body_text(html_part) if isinstance(html_part, EmailMessage) else None
    return Email(
        to=addresses[0].addr_spec,
        subject=str(msg["Subject"] or ""),
        text=_body_text(plain),
        html=html,
        kind=str(msg[KIND_HEADER] or "notice").strip(),
    )


def find_links(text: str) -> list[str]:
    """The http(s) URLs in ``text``, in order, each once; sentence punctuation is left out."""
    links: list[str] = []
    for match in _URL.finditer(text):
        url = match.group()
        while url:
            if url[-1] in _TRAILING:
                url = url[:-1]
            elif url[-1] == ")" and url.count("(") < url.count(")"):
                url = url[:-1]  # "(see https://x.org/a)" but keep "https://x.org/a_(b)"
            else:
                break
        if url not in links and "://" in url and not url.endswith("://"):
            links.append(url)
    return links


# --- mailers ------------------------------------------------------------------------------


class MailError(Exception):
    """Sending failed. ``temporary``: trying again later may help (connection refused,
    time-outs, 4xx replies) or not (5xx replies, rejected address, bad TLS or credentials)."""

    def __init__(self, message: str, *, temporary: bool, code: int | None = None) -> None:
        super().__init__(message)
        self.temporary = temporary
        self.code = code  # the SMTP reply code, when a server gave one


class Mailer(Protocol):
    async def send(self, email: Email) -> None: ...

    def describe(self) -> str: ...


def _reply_text(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return " ".join(text.split())[:300]


def _reply_error(what: str, code: int, reply: bytes | str) -> MailError:
    return MailError(f"{what}: {code} {_reply_text(reply)}".rstrip(),
                     temporary=400 <= code < 500, code=code)


def _classify(exc: BaseException) -> MailError:
    """The MailError for an exception from smtplib, ssl or the socket layer."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        worst: tuple[int, bytes] = (550, b"recipient refused")
        for code, reply in exc.recipients.values():
            worst = (code, reply)
            if not 400 <= code < 500:
                break  # a permanent refusal decides
        return _reply_error("recipient refused", *worst)
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return _reply_error("sender refused", exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPDataError):
        return _reply_error("message refused", exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return _reply_error("authentication failed", exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPConnectError):
        return _reply_error("server refused the connection", exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPResponseException):
        return _reply_error("server error", exc.smtp_code, exc.smtp_error)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        if isinstance(exc.__context__, TimeoutError):  # smtplib wraps a read time-out
            return MailError("timed out waiting for the server", temporary=True)
        return MailError(f"connection lost: {exc}", temporary=True)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return MailError(f"server does not support what is needed: {exc}", temporary=False)
    if isinstance(exc, smtplib.SMTPException):
        return MailError(f"SMTP error: {exc}", temporary=False)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return MailError(f"TLS certificate not trusted: {exc.verify_message}", temporary=False)
    if isinstance(exc, ssl.SSLError):
        return MailError(f"TLS failed: {exc}", temporary=True)
    if isinstance(exc, TimeoutError):
        return MailError("timed out waiting for the server", temporary=True)
    if isinstance(exc, socket.gaierror):
        return MailError(f"cannot resolve the server's name: {exc}", temporary=True)
    if isinstance(exc, OSError):
        return MailError(f"cannot reach the server: {exc.strerror or exc}", temporary=True)
    return MailError(f"{type(exc).__name__}: {exc}", temporary=False)


class SmtpMailer:
    """Sends through an SMTP server: smtplib in a worker thread, one connection per message.

    ``security``: ``"starttls"`` (usually port 587) upgrades the connection and refuses to go
    on without TLS; ``"ssl"`` (port 465) speaks TLS from the start; ``"none"`` (a local relay)
    sends in the clear. Certificates are verified against the system's CAs unless an
    ``ssl_context`` is given. ``timeout`` bounds each network operation, not the whole send.
    """

    def __init__(self, host: str, port: int, *, sender: str, username: str | None = None,
                 password: str | None = None, security: Security = "starttls",
                 timeout: float = 15.0, ssl_context: ssl.SSLContext | None = None) -> None:
        if not host or _has_line_break_or_control(host) or any(c.isspace() for c in host):
            raise ValueError("host must be a host name or address")
        if not 0 < port < 65536:
            raise ValueError("port must be between 1 and 65535")
        if security not in ("starttls", "ssl", "none"):
            raise ValueError("security must be 'starttls', 'ssl' or 'none'")
        if timeout <= 0:
            raise ValueError("timeout must be positive")
        if (username is None) != (password is None):
            raise ValueError("give both username and password, or neither")
        self.host = host
        self.port = port
        self.sender = sender
        self.username = username
        self.security: Security = security
        self.timeout = timeout
        self._from = _parse_sender(sender)
        self._password = password
        self._ssl_context = ssl_context

    def __repr__(self) -> str:
        return f"SmtpMailer({self.describe()!r})"

    def describe(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        label = {"starttls": "STARTTLS", "ssl": "SSL/TLS", "none": "no TLS"}[self.security]
        if self.username is not None:
            label += f", login {self.username}"
        return f"smtp://{host}:{self.port} ({label})"

    async def send(self, email: Email) -> None:
        message = build_message(email, self.sender)
        await asyncio.to_thread(self._send_blocking, message, email.to)
        log.info("mail sent: %s to %s", email.kind, email.to,
                 extra={"to": email.to, "subject": email.subject, "kind": email.kind,
                        "server": self.describe()})

    def _context(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        return self._ssl_context

    def _send_blocking(self, message: EmailMessage, to: str) -> None:
        client: smtplib.SMTP | None = None
        try:
            if self.security == "ssl":
                client = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                          context=self._context())
            else:
                client = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
            client.ehlo()
            if self.security == "starttls":
                # Raises SMTPNotSupportedError when it is not offered: never fall back to
                # sending credentials and links in the clear.
                client.starttls(context=self._context())
                client.ehlo()
            if self.username is not None and self._password is not None:
                try:
                    client.login(self.username, self._password)
                except UnicodeError:
                    raise MailError("username and password must be ASCII",
                                    temporary=False) from None
            refused = client.send_message(message, from_addr=self._from.addr_spec,
                                          to_addrs=[to])
            if refused:  # only possible with several recipients; kept for completeness
                raise smtplib.SMTPRecipientsRefused(refused)
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                pass  # the message was accepted; a clumsy goodbye does not matter
        except (smtplib.SMTPException, OSError) as exc:
            raise _classify(exc) from exc
        finally:
            if client is not None:
                client.close()


class FileMailer:
    """Writes each message as an ``.eml`` file into ``folder`` and logs where it went.

    The folder is created private (0700) and files are 0600: bodies hold invitation and reset
    links. Names start with the UTC time (``20250102T030405123456-invite-1a2b3c4d.eml``), so
    they sort oldest first; each file appears whole (written aside, then renamed).
    """

    def __init__(self, folder: Path, *, sender: str) -> None:
        self.folder = Path(folder)
        self.sender = sender
        _parse_sender(sender)
        self._last = dt.datetime.min.replace(tzinfo=dt.UTC)

    def __repr__(self) -> str:
        return f"FileMailer({self.describe()!r})"

    def describe(self) -> str:
        return f"files in {self.folder}"

    def _next_name(self, kind: str) -> str:
        now = dt.datetime.now(dt.UTC)
        if now <= self._last:  # keep names in sending order even within one microsecond
            now = self._last + dt.timedelta(microseconds=1)
        self._last = now
        return f"{now:%Y%m%dT%H%M%S%f}-{kind}-{secrets.token_hex(4)}.eml"

    async def send(self, email: Email) -> None:
        data = build_message(email, self.sender, eight_bit=True).as_bytes()
        path = self.folder / self._next_name(email.kind)
        await asyncio.to_thread(self._write, path, data)
        log.info("mail written to %s: %s to %s, subject %r", path, email.kind, email.to,
                 email.subject,
                 extra={"to": email.to, "subject": email.subject, "kind": email.kind,
                        "path": str(path)})

    def _write(self, path: Path, data: bytes) -> None:
        try:
            if not self.folder.is_dir():
                self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                os.chmod(self.folder, 0o700)
            temp = path.with_name(f".{path.name}.tmp")
            fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                with os.fdopen(fd, "wb") as f:
                    os.fchmod(f.fileno(), 0o600)  # whatever the umask
                    f.write(data)
                    f.flush()
                    os.fsync(f.fileno())
                os.replace(temp, path)
            except BaseException:
                try:
                    os.unlink(temp)
                except OSError:
                    pass
                raise
        except OSError as exc:
            raise MailError(f"cannot write {path}: {exc.strerror or exc}",
                            temporary=exc.errno in (errno.ENOSPC, errno.EDQUOT)) from exc

    def messages(self) -> list[Path]:
        """The ``.eml`` files in the folder, oldest first."""
        try:
            names = [p for p in self.folder.iterdir()
                     if p.suffix == ".eml" and not p.name.startswith(".") and p.is_file()]
        except FileNotFoundError:
            return []
        return sorted(names, key=lambda p: p.name)
