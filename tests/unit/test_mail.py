"""The mailer (mail.py): messages, validation, files for servers without SMTP, and SMTP
against a real server on 127.0.0.1 (smtp_fake.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import os
import re
import socket
import ssl
import stat
import time
from email.message import EmailMessage
from email.utils import parsedate_to_datetime
from pathlib import Path

import pytest

from ruang.mail import (
    Email,
    FileMailer,
    Mailer,
    MailError,
    SmtpMailer,
    build_message,
    find_links,
    read_message,
)
from tests.unit.smtp_fake import FakeSmtpServer, Login, self_signed_certificate, server_context

SENDER = "Ruang <noreply@ruang.example.org>"
LINK = "https://ruang.example.org/invite/Zm9vYmFyYmF6cXV4c2VjcmV0dG9rZW4"
INVITE = Email(to="bob@example.org", subject="You are invited to Ruang",
               text=f"Hi Bob,\n\nAnn invited you. Join here:\n{LINK}\n\nSee you soon.\n",
               kind="invite")
UNICODE = Email(to="siti@example.id", subject="Undangan ke Ruang — ☕ Café Ñandú",
                text=f"Halo Siti,\nCafé ☕ menunggu: {LINK}?lang=id&x=1\nSalam, Ñandú 🎙\n",
                html=f'<p>Halo <b>Siti</b>, <a href="{LINK}">gabung</a> ☕</p>\n',
                kind="invite")


def parse(data: bytes) -> EmailMessage:
    from email import policy
    from email.parser import BytesParser

    msg = BytesParser(policy=policy.default).parsebytes(data)
    assert isinstance(msg, EmailMessage)
    return msg


# --- build_message ------------------------------------------------------------------------


def test_build_message_headers() -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    msg = build_message(INVITE, SENDER)
    assert msg["From"].addresses[0].display_name == "Ruang"
    assert msg["From"].addresses[0].addr_spec == "noreply@ruang.example.org"
    assert str(msg["To"]) == "bob@example.org"
    assert str(msg["Subject"]) == "You are invited to Ruang"
    sent = parsedate_to_datetime(str(msg["Date"]))
    assert sent.utcoffset() == dt.timedelta(0)
    assert before <= sent <= dt.datetime.now(dt.UTC)
    assert re.fullmatch(r"<[^<>@\s]+@ruang\.example\.org>", str(msg["Message-ID"]))
    assert msg["X-Ruang-Kind"] == "invite"
    assert msg["Auto-Submitted"] == "auto-generated"
    assert msg["MIME-Version"] == "1.0"


def test_plain_message_is_one_utf8_text_part() -> None:
    msg = build_message(INVITE, SENDER)
    assert not msg.is_multipart()
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg["Content-Transfer-Encoding"] == "7bit"
    assert msg.get_content() == INVITE.text


def test_html_makes_a_multipart_alternative_text_first() -> None:
    msg = build_message(UNICODE, SENDER)
    assert msg.get_content_type() == "multipart/alternative"
    parts = list(msg.iter_parts())
    assert [p.get_content_type() for p in parts] == ["text/plain", "text/html"]
    assert all(p.get_content_charset() == "utf-8" for p in parts)
    assert [p["MIME-Version"] for p in parts] == [None, None]
    assert parts[0].get_content() == UNICODE.text
    assert parts[1].get_content() == UNICODE.html
    wire = msg.as_bytes()
    assert wire.count(b"MIME-Version") == 1


def test_message_for_smtp_is_7bit_safe_with_crlf() -> None:
    wire = build_message(UNICODE, SENDER).as_bytes()
    assert wire.isascii()
    assert b"\r\n" in wire
    assert b"\n" not in wire.replace(b"\r\n", b"")
    assert b"=?utf-8?" in wire  # the subject is an RFC 2047 encoded word
    back = parse(wire)
    assert str(back["Subject"]) == UNICODE.subject
    plain = back.get_body(("plain",))
    assert plain is not None
    assert plain.get_content().replace("\r\n", "\n") == UNICODE.text


def test_eight_bit_keeps_bodies_readable_but_not_overlong_lines() -> None:
    wire = build_message(UNICODE, SENDER, eight_bit=True).as_bytes()
    assert f"{LINK}?lang=id&x=1".encode() in wire
    assert "Café ☕".encode() in wire
    long = Email(to="bob@example.org", subject="long", text="é" + "x" * 1200)
    msg = build_message(long, SENDER, eight_bit=True)
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert all(len(line) <= 998 for line in msg.as_bytes().split(b"\r\n"))
    assert msg.get_content() == long.text + "\n"


def test_message_ids_are_unique() -> None:
    ids = {str(build_message(INVITE, SENDER)["Message-ID"]) for _ in range(50)}
    assert len(ids) == 50


def test_non_ascii_sender_name() -> None:
    msg = build_message(INVITE, "Ruang Café <noreply@ruang.example.org>")
    assert msg.as_bytes().isascii()
    assert parse(msg.as_bytes())["From"].addresses[0].display_name == "Ruang Café"


# --- validation: header injection must be impossible ---------------------------------------


@pytest.mark.parametrize("to", [
    "",
    "bob",
    "bob@",
    "@example.org",
    "bob@@example.org",
    "a@b@example.org",
    "bob@example.org\r\nBcc: eve@evil.example",
    "bob@example.org\nBcc: eve@evil.example",
    "bob@example.org\rBcc: eve@evil.example",
    "bob@example.org\x00",
    "bob@example.org\u2028Bcc: eve@evil.example",
    "bob@example.org\x85",
    "bob smith@example.org",
    " bob@example.org",
    "bob@example.org ",
    "bob@example.org\t",
    "Bob <bob@example.org>",
    "eve@evil.example,bob@example.org",
    "eve,bob@example.org",
    "bob;eve@example.org",
    '"bob"@example.org',
    "bob@[127.0.0.1]",
    "bob@example.org>",
    "bob@.example.org",
    "bob@example..org",
    "bob@-example.org",
    ".bob@example.org",
    "bob.@example.org",
    "bo..b@example.org",
    "bób@example.org",
    "bob@exämple.org",
    "a" * 65 + "@example.org",
    "bob@" + "a" * 60 + "." + "b" * 60 + "." + "c" * 60 + "." + "d" * 70 + ".org",
])
def test_implausible_recipients_are_refused(to: str) -> None:
    with pytest.raises(ValueError, match="address"):
        Email(to=to, subject="hi", text="hi")


@pytest.mark.parametrize("to", [
    "bob@example.org",
    "first.last+tag@mail.example.co.uk",
    "o'brien@example.ie",
    "admin@localhost",
    "x_y-z=1@a-b.example",
    "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 57 + ".org",  # 254 characters
])
def test_plausible_recipients_are_accepted(to: str) -> None:
    assert len(to) <= 254
    email = Email(to=to, subject="hi", text="hi")
    assert str(build_message(email, SENDER)["To"]) == to


def test_255_characters_is_too_long() -> None:
    to = "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "." + "d" * 58 + ".org"
    assert len(to) == 255
    with pytest.raises(ValueError, match="254"):
        Email(to=to, subject="hi", text="hi")


@pytest.mark.parametrize("subject", [
    "Hello\r\nBcc: eve@evil.example",
    "Hello\nBcc: eve@evil.example",
    "Hello\rBcc: eve@evil.example",
    "Hello\x00",
    "Hello\x85Bcc: eve@evil.example",
    "Hello\u2028Bcc: eve@evil.example",
    "Hello\u2029",
    "Hello\tthere",
])
def test_subjects_with_line_breaks_or_controls_are_refused(subject: str) -> None:
    with pytest.raises(ValueError, match="subject"):
        Email(to="bob@example.org", subject=subject, text="hi")


def test_a_long_unicode_subject_is_fine() -> None:
    subject = "Selamat datang di Ruang — ruang suara 🎙 " * 6
    msg = build_message(Email(to="bob@example.org", subject=subject, text="hi"), SENDER)
    assert str(parse(msg.as_bytes())["Subject"]) == subject


@pytest.mark.parametrize("kind", ["", "Invite", "../../etc/passwd", "a b", "in/vite", "x" * 33,
                                  "invite\r\nX-Evil: 1", "-invite"])
def test_kinds_are_short_safe_names(kind: str) -> None:
    with pytest.raises(ValueError, match="kind"):
        Email(to="bob@example.org", subject="hi", text="hi", kind=kind)


@pytest.mark.parametrize("sender", [
    "noreply@example.org\r\nBcc: eve@evil.example",
    "Ruang <noreply@example.org>\nBcc: eve@evil.example",
    "a@example.org, b@example.org",
    "nobody",
    "Ruang <no reply@example.org>",
    "",
])
def test_bad_senders_are_refused_everywhere(sender: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sender"):
        build_message(INVITE, sender)
    with pytest.raises(ValueError, match="sender"):
        FileMailer(tmp_path, sender=sender)
    with pytest.raises(ValueError, match="sender"):
        SmtpMailer("127.0.0.1", 25, sender=sender, security="none")


def test_emails_are_frozen() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        INVITE.to = "eve@evil.example"  # type: ignore[misc]


def test_build_message_checks_again_even_if_an_email_was_tampered_with() -> None:
    email = Email(to="bob@example.org", subject="hi", text="hi")
    object.__setattr__(email, "to", "bob@example.org\r\nBcc: eve@evil.example")
    with pytest.raises(ValueError, match="address"):
        build_message(email, SENDER)
    object.__setattr__(email, "to", "bob@example.org")
    object.__setattr__(email, "subject", "hi\r\nBcc: eve@evil.example")
    with pytest.raises(ValueError, match=r"linefeed|carriage"):  # the email package's own check
        build_message(email, SENDER)


# --- find_links ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "links"), [
    ("no links here", []),
    (f"Join here:\n{LINK}\n", [LINK]),
    (f"Join at {LINK}.", [LINK]),
    (f"Join ({LINK}), or not!", [LINK]),
    (f"<{LINK}>", [LINK]),
    (f'<a href="{LINK}">join</a>', [LINK]),
    ("See https://en.wikipedia.org/wiki/Ruang_(space) please",
     ["https://en.wikipedia.org/wiki/Ruang_(space)"]),
    ("reset: https://x.example/reset?token=a1b2&next=%2Fhome, thanks",
     ["https://x.example/reset?token=a1b2&next=%2Fhome"]),
    ("http://localhost:8000/verify/abc and HTTPS://X.EXAMPLE/Y",
     ["http://localhost:8000/verify/abc", "HTTPS://X.EXAMPLE/Y"]),
    (f"{LINK} {LINK}\n{LINK}", [LINK]),
    ("two: https://a.example/1; https://b.example/2?", ["https://a.example/1",
                                                        "https://b.example/2"]),
    ("ftp://files.example/x and mailto:bob@example.org and https:// alone", []),
])
def test_find_links(text: str, links: list[str]) -> None:
    assert find_links(text) == links


# --- FileMailer ---------------------------------------------------------------------------

NAME = re.compile(r"\d{8}T\d{12}-(?P<kind>[a-z0-9_-]+)-[0-9a-f]{8}\.eml")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_file_mailer_writes_private_readable_files(tmp_path: Path) -> None:
    folder = tmp_path / "state" / "outbox"
    mailer = FileMailer(folder, sender=SENDER)
    assert mailer.messages() == []
    old_umask = os.umask(0)  # modes must not depend on the umask
    try:
        await mailer.send(UNICODE)
    finally:
        os.umask(old_umask)
    [path] = mailer.messages()
    assert path.parent == folder
    assert mode(folder) == 0o700
    assert mode(path) == 0o600
    match = NAME.fullmatch(path.name)
    assert match is not None
    assert match["kind"] == "invite"
    stamp = dt.datetime.strptime(path.name[:21], "%Y%m%dT%H%M%S%f").replace(tzinfo=dt.UTC)
    assert abs(dt.datetime.now(dt.UTC) - stamp) < dt.timedelta(minutes=1)
    assert sorted(p.name for p in folder.iterdir()) == [path.name]  # no temporary file left
    assert read_message(path) == UNICODE
    raw = path.read_bytes()
    assert LINK.encode() in raw  # an admin can copy the link straight out of the file
    assert parse(raw)["From"].addresses[0].addr_spec == "noreply@ruang.example.org"


@pytest.mark.parametrize("email", [
    INVITE,
    UNICODE,
    Email(to="bob@example.org", subject="", text="\n"),
    Email(to="bob@example.org", subject="spaced   out", text="  lead\n\n\ntrail  \n\n",
          kind="reset"),
    Email(to="bob@example.org", subject="dots", text=".\n..\nFrom me\n.\n", html="<p>.</p>\n",
          kind="waitlist"),
    Email(to="bob@example.org", subject="x" * 300, text="é" * 2000 + "\n" + "ü" * 10 + "\n",
          kind="verify"),
])
async def test_read_message_round_trips(email: Email, tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path, sender=SENDER)
    await mailer.send(email)
    [path] = mailer.messages()
    assert read_message(path) == email


@pytest.mark.parametrize(("text", "back"), [
    ("", "\n"), ("hi", "hi\n"), ("hi\r\nthere\r\n", "hi\nthere\n"), ("a\n\n", "a\n\n"),
])
async def test_bodies_come_back_ending_in_one_line_break(text: str, back: str,
                                                         tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path, sender=SENDER)
    await mailer.send(Email(to="bob@example.org", subject="s", text=text, html=text))
    got = read_message(mailer.messages()[0])
    assert (got.text, got.html) == (back, back)


async def test_messages_come_oldest_first(tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path, sender=SENDER)
    kinds = ["invite", "reset", "verify", "waitlist", "notice"] * 4
    for i, kind in enumerate(kinds):
        await mailer.send(Email(to=f"user{i}@example.org", subject=f"#{i}", text="hi", kind=kind))
    (tmp_path / ".20000101T000000000000-invite-00000000.eml.tmp").write_text("partial")
    (tmp_path / "README").write_text("not mail")
    paths = mailer.messages()
    assert [read_message(p).subject for p in paths] == [f"#{i}" for i in range(len(kinds))]
    assert [NAME.fullmatch(p.name)["kind"] for p in paths] == kinds  # type: ignore[index]
    assert paths == sorted(paths)


async def test_concurrent_sends_all_land(tmp_path: Path) -> None:
    mailer = FileMailer(tmp_path, sender=SENDER)
    await asyncio.gather(*(mailer.send(Email(to=f"u{i}@example.org", subject=str(i), text="hi"))
                           for i in range(20)))
    assert sorted(read_message(p).to for p in mailer.messages()) == sorted(
        f"u{i}@example.org" for i in range(20))


async def test_file_mailer_logs_where_but_never_the_body(tmp_path: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    mailer = FileMailer(tmp_path, sender=SENDER)
    with caplog.at_level(logging.INFO, logger="ruang.mail"):
        await mailer.send(INVITE)
    [path] = mailer.messages()
    [record] = [r for r in caplog.records if r.name == "ruang.mail"]
    assert record.levelno == logging.INFO
    line = record.getMessage()
    for part in ("bob@example.org", "You are invited to Ruang", "invite", str(path)):
        assert part in line
    assert (record.to, record.subject, record.kind, record.path) == (  # type: ignore[attr-defined]
        "bob@example.org", "You are invited to Ruang", "invite", str(path))
    token = LINK.rsplit("/", 1)[1]
    assert token not in caplog.text
    assert all(token not in str(value) for value in vars(record).values())


async def test_an_existing_folder_is_used_as_it_is(tmp_path: Path) -> None:
    os.chmod(tmp_path, 0o750)
    await FileMailer(tmp_path, sender=SENDER).send(INVITE)
    assert mode(tmp_path) == 0o750
    assert len(FileMailer(tmp_path, sender=SENDER).messages()) == 1


async def test_an_unwritable_folder_is_a_mail_error(tmp_path: Path) -> None:
    blocker = tmp_path / "outbox"
    blocker.write_text("a file, not a folder")
    mailer = FileMailer(blocker, sender=SENDER)
    with pytest.raises(MailError) as caught:
        await mailer.send(INVITE)
    assert caught.value.temporary is False
    assert str(blocker) in str(caught.value)


def test_read_message_defaults_and_refusals(tmp_path: Path) -> None:
    plain = tmp_path / "plain.eml"
    plain.write_bytes(b"From: a@example.org\r\nTo: Bob <bob@example.org>\r\n"
                      b"Subject: hand made\r\n\r\nbody\r\n")
    assert read_message(plain) == Email(to="bob@example.org", subject="hand made", text="body\n")
    two = tmp_path / "two.eml"
    two.write_bytes(b"To: a@example.org, b@example.org\r\nSubject: x\r\n\r\nbody\r\n")
    with pytest.raises(ValueError, match="one recipient"):
        read_message(two)


def test_describe_file_mailer(tmp_path: Path) -> None:
    mailer: Mailer = FileMailer(tmp_path / "out", sender=SENDER)
    assert mailer.describe() == f"files in {tmp_path / 'out'}"


# --- SmtpMailer: configuration ------------------------------------------------------------

PASSWORD = "correct-horse-battery-staple"


@pytest.mark.parametrize(("kwargs", "described"), [
    ({"host": "mail.example.org", "port": 587},
     "smtp://mail.example.org:587 (STARTTLS)"),
    ({"host": "mail.example.org", "port": 587, "username": "ann", "password": PASSWORD},
     "smtp://mail.example.org:587 (STARTTLS, login ann)"),
    ({"host": "mail.example.org", "port": 465, "security": "ssl", "username": "ann",
      "password": PASSWORD},
     "smtp://mail.example.org:465 (SSL/TLS, login ann)"),
    ({"host": "127.0.0.1", "port": 25, "security": "none"}, "smtp://127.0.0.1:25 (no TLS)"),
    ({"host": "::1", "port": 25, "security": "none"}, "smtp://[::1]:25 (no TLS)"),
])
def test_describe_never_shows_the_password(kwargs: dict[str, object], described: str) -> None:
    mailer: Mailer = SmtpMailer(sender=SENDER, **kwargs)  # type: ignore[arg-type]
    assert mailer.describe() == described
    assert PASSWORD not in repr(mailer)
    assert PASSWORD not in str(mailer)


@pytest.mark.parametrize("kwargs", [
    {"host": "", "port": 25},
    {"host": "mail.example.org\r\n", "port": 25},
    {"host": "mail.example.org", "port": 0},
    {"host": "mail.example.org", "port": 65536},
    {"host": "mail.example.org", "port": 25, "security": "tls"},
    {"host": "mail.example.org", "port": 25, "timeout": 0},
    {"host": "mail.example.org", "port": 25, "password": PASSWORD},
    {"host": "mail.example.org", "port": 25, "username": "ann"},
])
def test_smtp_configuration_is_checked(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        SmtpMailer(sender=SENDER, **kwargs)  # type: ignore[arg-type]


# --- SmtpMailer against a real server on 127.0.0.1 -----------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def plain_mailer(server: FakeSmtpServer, **kwargs: object) -> SmtpMailer:
    return SmtpMailer("127.0.0.1", server.port, sender=SENDER, security="none",
                      timeout=5.0, **kwargs)  # type: ignore[arg-type]


async def test_send_without_tls_or_auth(caplog: pytest.LogCaptureFixture) -> None:
    async with FakeSmtpServer() as server:
        with caplog.at_level(logging.INFO, logger="ruang.mail"):
            await plain_mailer(server).send(UNICODE)
    [got] = server.messages
    assert (got.mail_from, got.rcpt_to, got.user, got.tls) == (
        "noreply@ruang.example.org", ["siti@example.id"], None, False)
    msg = got.message()
    assert str(msg["Subject"]) == UNICODE.subject
    assert msg["X-Ruang-Kind"] == "invite"
    plain, html = msg.get_body(("plain",)), msg.get_body(("html",))
    assert plain is not None
    assert html is not None
    assert plain.get_content().replace("\r\n", "\n") == UNICODE.text
    assert html.get_content().replace("\r\n", "\n") == UNICODE.html
    assert server.commands == ["EHLO", "MAIL", "RCPT", "DATA", "QUIT"]
    assert any("mail sent" in r.getMessage() for r in caplog.records)
    assert LINK not in caplog.text


async def test_dot_stuffing_survives() -> None:
    email = Email(to="bob@example.org", subject="dots", text=".\n..\n.hidden\nend")
    async with FakeSmtpServer() as server:
        await plain_mailer(server).send(email)
    plain = server.messages[0].message().get_body(("plain",))
    assert plain is not None
    assert plain.get_content().replace("\r\n", "\n") == email.text + "\n"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
async def test_send_with_auth(mechanism: str) -> None:
    async with FakeSmtpServer(users={"ann": PASSWORD}, mechanisms=(mechanism,),
                              require_auth=True) as server:
        await plain_mailer(server, username="ann", password=PASSWORD).send(INVITE)
    assert server.logins == [Login(mechanism, "ann", ok=True, tls=False)]
    [got] = server.messages
    assert got.user == "ann"
    assert got.rcpt_to == ["bob@example.org"]


async def test_wrong_password_is_permanent_and_not_repeated_in_the_error() -> None:
    wrong = "not-the-password-1234"
    async with FakeSmtpServer(users={"ann": PASSWORD}, require_auth=True) as server:
        with pytest.raises(MailError) as caught:
            await plain_mailer(server, username="ann", password=wrong).send(INVITE)
    assert (caught.value.temporary, caught.value.code) == (False, 535)
    assert wrong not in str(caught.value)
    assert server.messages == []


async def test_server_wanting_a_login_refuses_the_sender() -> None:
    async with FakeSmtpServer(users={"ann": PASSWORD}, require_auth=True) as server:
        with pytest.raises(MailError) as caught:
            await plain_mailer(server).send(INVITE)
    assert (caught.value.temporary, caught.value.code) == (False, 530)


@pytest.mark.parametrize(("code", "temporary"), [
    (421, True), (450, True), (451, True), (452, True),
    (550, False), (551, False), (553, False), (554, False),
])
async def test_refused_recipient(code: int, temporary: bool) -> None:
    async with FakeSmtpServer(rcpt_reply=(code, f"{code // 100}.1.1 no thanks")) as server:
        with pytest.raises(MailError) as caught:
            await plain_mailer(server).send(INVITE)
    assert caught.value.temporary is temporary
    assert caught.value.code == code
    assert str(code) in str(caught.value)
    assert "no thanks" in str(caught.value)
    assert server.messages == []


async def test_connection_refused_is_temporary() -> None:
    mailer = SmtpMailer("127.0.0.1", closed_port(), sender=SENDER, security="none", timeout=5)
    with pytest.raises(MailError) as caught:
        await mailer.send(INVITE)
    assert (caught.value.temporary, caught.value.code) == (True, None)
    assert isinstance(caught.value.__cause__, ConnectionRefusedError)


@pytest.mark.parametrize("stall", ["greeting", "EHLO", "RCPT", "DATA"])
async def test_a_silent_server_times_out_temporarily(stall: str) -> None:
    async with FakeSmtpServer(stall=stall) as server:
        mailer = SmtpMailer("127.0.0.1", server.port, sender=SENDER, security="none",
                            timeout=0.3)
        started = time.monotonic()
        with pytest.raises(MailError) as caught:
            await mailer.send(INVITE)
        elapsed = time.monotonic() - started
    assert caught.value.temporary is True
    assert "timed out" in str(caught.value)
    assert 0.25 < elapsed < 3
    assert server.messages == []


async def test_one_connection_per_send_and_concurrent_sends() -> None:
    async with FakeSmtpServer() as server:
        mailer = plain_mailer(server)
        await asyncio.gather(*(mailer.send(Email(to=f"u{i}@example.org", subject=str(i),
                                                 text="hi")) for i in range(8)))
    assert server.connections == 8
    assert sorted(m.rcpt_to[0] for m in server.messages) == sorted(
        f"u{i}@example.org" for i in range(8))


async def test_starttls_required_but_not_offered_sends_nothing() -> None:
    async with FakeSmtpServer(users={"ann": PASSWORD}) as server:
        mailer = SmtpMailer("127.0.0.1", server.port, sender=SENDER, username="ann",
                            password=PASSWORD, timeout=5)
        with pytest.raises(MailError) as caught:
            await mailer.send(INVITE)
    assert caught.value.temporary is False
    assert "STARTTLS" in str(caught.value)
    assert server.commands == ["EHLO"]  # no AUTH, no MAIL in the clear
    assert server.logins == []


# --- TLS (a throwaway self-signed certificate) ---------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    pytest.importorskip("cryptography")
    return self_signed_certificate(tmp_path_factory.mktemp("tls"))


def trusting(cert: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(cert))


async def test_starttls_then_auth(certificate: tuple[Path, Path]) -> None:
    async with FakeSmtpServer(users={"ann": PASSWORD}, require_auth=True,
                              starttls=server_context(*certificate)) as server:
        mailer = SmtpMailer("127.0.0.1", server.port, sender=SENDER, username="ann",
                            password=PASSWORD, security="starttls", timeout=5,
                            ssl_context=trusting(certificate[0]))
        await mailer.send(INVITE)
    assert server.commands == ["EHLO", "STARTTLS", "EHLO", "AUTH", "MAIL", "RCPT", "DATA",
                               "QUIT"]
    assert server.logins == [Login("PLAIN", "ann", ok=True, tls=True)]
    [got] = server.messages
    assert (got.tls, got.user) == (True, "ann")


async def test_implicit_tls(certificate: tuple[Path, Path]) -> None:
    async with FakeSmtpServer(implicit_tls=server_context(*certificate)) as server:
        mailer = SmtpMailer("127.0.0.1", server.port, sender=SENDER, security="ssl",
                            timeout=5, ssl_context=trusting(certificate[0]))
        await mailer.send(INVITE)
    [got] = server.messages
    assert got.tls is True


@pytest.mark.parametrize("security", ["starttls", "ssl"])
async def test_untrusted_certificate_is_permanent(certificate: tuple[Path, Path],
                                                  security: str) -> None:
    context = server_context(*certificate)
    tls = {"starttls": context} if security == "starttls" else {"implicit_tls": context}
    async with FakeSmtpServer(users={"ann": PASSWORD}, **tls) as server:  # type: ignore[arg-type]
        mailer = SmtpMailer("127.0.0.1", server.port, sender=SENDER, username="ann",
                            password=PASSWORD, security=security, timeout=5)  # type: ignore[arg-type]
        with pytest.raises(MailError) as caught:
            await mailer.send(INVITE)
    assert caught.value.temporary is False
    assert "certificate" in str(caught.value)
    assert server.logins == []
    assert server.messages == []
