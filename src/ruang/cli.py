"""The ``ruang`` command: run the server, administer it, and use it from a terminal.

Client commands take ``--server`` and either ``--token`` or ``--user``/``--password`` (also
from RUANG_SERVER, RUANG_TOKEN, RUANG_USER, RUANG_PASSWORD), or the token saved by
``ruang login``. Failures print ``error: <code>: <message>`` and exit with status 1.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import click

from ruang import __version__

T = TypeVar("T")

DEFAULT_SERVER = "http://127.0.0.1:8470"


def _credentials_file() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "ruang" / "credentials.json"


def _fail(message: str) -> None:
    click.echo(f"error: {message}", err=True)
    raise SystemExit(1)


def _run(coro: Coroutine[Any, Any, T]) -> T:
    from ruang.client.api import ApiError

    try:
        return asyncio.run(coro)
    except ApiError as exc:
        _fail(f"{exc.code}: {exc.message}")
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    raise AssertionError("unreachable")


def client_options(func: Callable[..., Any]) -> Callable[..., Any]:
    @click.option("--server", envvar="RUANG_SERVER", default=DEFAULT_SERVER, show_default=True,
                  help="Ruang server URL.")
    @click.option("--token", envvar="RUANG_TOKEN", default=None, help="Session or API token.")
    @click.option("--user", envvar="RUANG_USER", default=None, help="Username to log in with.")
    @click.option("--password", envvar="RUANG_PASSWORD", default=None,
                  help="Password (prompted for when --user is given without it).")
    @functools.wraps(func)
    def wrapper(server: str, token: str | None, user: str | None, password: str | None,
                **kwargs: Any) -> Any:
        if user and not password and not token:
            password = click.prompt(f"password for {user}", hide_input=True)
        return func(_Auth(server, token, user, password), **kwargs)
    return wrapper


class _Auth:
    def __init__(self, server: str, token: str | None, user: str | None,
                 password: str | None) -> None:
        self.server = server.rstrip("/")
        self.token = token
        self.user = user
        self.password = password

    async def client(self) -> Any:
        from ruang.client.api import RuangClient

        if self.token:
            return RuangClient(self.server, token=self.token)
        if self.user and self.password:
            return await RuangClient.login(self.server, self.user, self.password)
        saved = _load_saved(self.server)
        if saved:
            return RuangClient(self.server, token=saved)
        _fail("log in first: `ruang login --user NAME`, or pass --user/--password or --token")


def _load_saved(server: str) -> str | None:
    path = _credentials_file()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    token = data.get(server)
    return token if isinstance(token, str) else None


def _save_token(server: str, token: str) -> Path:
    path = _credentials_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        data = {}
    data[server] = token
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    return path


@click.group()
@click.version_option(__version__, prog_name="ruang")
def main() -> None:
    """Ruang: live audio rooms for communities that own their platform."""


# --- server ---------------------------------------------------------------------------------


@main.command()
@click.option("--host", default=None, help="Listen address (RUANG_HOST).")
@click.option("--port", default=None, type=int, help="Listen port (RUANG_PORT).")
@click.option("--data-dir", default=None, type=click.Path(path_type=Path),
              help="Data folder (RUANG_DATA_DIR).")
def serve(host: str | None, port: int | None, data_dir: Path | None) -> None:
    """Run the Ruang server (and its own Janus unless RUANG_JANUS_URL is set)."""
    import uvicorn
    from pydantic import ValidationError

    from ruang import logs
    from ruang.app import create_app
    from ruang.config import Settings

    overrides: dict[str, Any] = {k: v for k, v in
                                 {"host": host, "port": port, "data_dir": data_dir}.items()
                                 if v is not None}
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        _fail(f"invalid_input: bad setting: {exc.errors()[0]['loc'][0]}: "
              f"{exc.errors()[0]['msg']}")
    logs.setup(settings.log_level, settings.log_format)
    app = create_app(settings)
    click.echo(f"Ruang {__version__} on http://{settings.host}:{settings.port} "
               f"(data: {settings.data_dir})", err=True)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None, access_log=False,
                ws_max_size=max(1 << 20, settings.ws_max_message_bytes * 2),
                ws_ping_interval=20, ws_ping_timeout=20, timeout_graceful_shutdown=5)


@main.command()
def migrate() -> None:
    """Bring the database schema up to date."""
    from ruang.config import Settings
    from ruang.storage.db import Database

    async def go() -> None:
        db = Database(Settings().effective_database_url)
        try:
            await db.migrate()
        finally:
            await db.dispose()

    _run(go())
    click.echo("database is up to date")


@main.command("config")
@click.option("--markdown", is_flag=True, help="Print the settings table (for docs).")
def config_cmd(markdown: bool) -> None:
    """Show the effective settings (secrets hidden)."""
    from ruang.config import Settings, settings_table

    if markdown:
        click.echo(settings_table())
        return
    settings = Settings()
    for name, value in settings.model_dump().items():
        click.echo(f"RUANG_{name.upper()}={value}")


@main.group()
def admin() -> None:
    """Administer this instance (talks to the database directly)."""


def _admin_run(fn: Callable[[Any], Awaitable[T]]) -> T:
    """Run an administrator's action against this instance's database (and bus, so that a
    running server hears of it at once when they share Redis; otherwise within seconds)."""
    from ruang.actions.context import Services, make_hasher
    from ruang.actions.outbox import deliver_due
    from ruang.app import make_bus, make_mailer
    from ruang.config import Settings
    from ruang.errors import RuangError
    from ruang.storage.db import Database, StorageUnavailable

    async def go() -> T:
        settings = Settings()
        db = Database(settings.effective_database_url)
        bus = make_bus(settings)
        try:
            await db.migrate()
            await bus.start()
            result = await fn(Services(settings, db, bus, make_hasher(settings)))
            # Send the email the action queued now rather than when a server next looks.
            mailer = make_mailer(settings)
            while await deliver_due(db, mailer):
                pass
            return result
        finally:
            await bus.stop()
            await db.dispose()

    try:
        return asyncio.run(go())
    except RuangError as exc:
        _fail(f"{exc.code}: {exc.message}")
    except StorageUnavailable as exc:
        _fail(f"storage_unavailable: {exc}")
    raise AssertionError("unreachable")


async def _acting_admin(svc: Any, username: str | None) -> Any:
    """The administrator an action is recorded under: --as, or the first administrator."""
    from sqlalchemy import select

    from ruang.actions.members import MemberInfo
    from ruang.storage.models import Member

    async with svc.db.read() as s:
        query = select(Member).where(Member.is_admin.is_(True))
        if username:
            query = query.where(Member.username_key == username.removeprefix("@").lower())
        m = (await s.execute(query.order_by(Member.id).limit(1))).scalar_one_or_none()
    if m is None:
        _fail("not_an_admin: no such administrator; create one with "
              "`ruang admin create-member NAME --admin`")
    return MemberInfo.of(m)


as_option = click.option("--as", "as_admin", default=None,
                         help="Administrator to record the action under (default: the first).")


@admin.command("create-member")
@click.argument("username")
@click.option("--password", default=None, help="Prompted for when not given.")
@click.option("--display-name", default=None)
@click.option("--email", default=None, help="The member's email address.")
@click.option("--admin", "is_admin", is_flag=True, help="Make this member an administrator.")
def create_member(username: str, password: str | None, display_name: str | None,
                  email: str | None, is_admin: bool) -> None:
    """Create a member account."""
    from ruang.actions import members as member_actions

    if password is None:
        password = click.prompt("password", hide_input=True, confirmation_prompt=True)
    assert password is not None
    pw: str = password
    member = _admin_run(lambda svc: member_actions.create_member(
        svc, username, pw, display_name=display_name, is_admin=is_admin, email=email))
    click.echo(f"created member @{member.username} (id {member.id})")


@admin.group()
def waitlist() -> None:
    """People waiting to join."""


@waitlist.command("list")
@click.option("--status", type=click.Choice(["waiting", "invited", "joined", "rejected",
                                             "all"]), default="waiting", show_default=True)
def waitlist_list(status: str) -> None:
    from ruang.actions import onboarding

    entries = _admin_run(lambda svc: onboarding.list_waitlist(svc, status, limit=10000))
    if not entries:
        click.echo(f"nobody is {status}" if status != "all" else "the waitlist is empty")
    for e in entries:
        named = f" named by {', '.join('@' + v for v in e.vouched_by)}" if e.vouched_by else ""
        click.echo(f"{e.id:>6}  {e.status:<8} {e.created_at:%Y-%m-%d}  {e.name} <{e.email}> "
                   f"wants @{e.username}{named}" + (f"  \"{e.note}\"" if e.note else ""))


def _decide(ids: tuple[int, ...], approve: bool, as_admin: str | None) -> None:
    from ruang.actions import onboarding

    async def go(svc: Any) -> int:
        admin_ = await _acting_admin(svc, as_admin)
        return await onboarding.decide_waitlist(svc, admin_, list(ids), approve)

    changed = _admin_run(go)
    verb = "invited" if approve else "rejected"
    click.echo(f"{changed} of {len(ids)} {verb}" + ("" if changed == len(ids) else
                                                   " (the others were not waiting)"))


@waitlist.command("approve")
@click.argument("ids", type=int, nargs=-1, required=True)
@as_option
def waitlist_approve(ids: tuple[int, ...], as_admin: str | None) -> None:
    """Invite these waiting people (their emails go out)."""
    _decide(ids, True, as_admin)


@waitlist.command("reject")
@click.argument("ids", type=int, nargs=-1, required=True)
@as_option
def waitlist_reject(ids: tuple[int, ...], as_admin: str | None) -> None:
    """Turn these waiting people down (their reserved usernames are freed)."""
    _decide(ids, False, as_admin)


@admin.group()
def invites() -> None:
    """Members' invitations."""


@invites.command("grant")
@click.argument("username")
@click.argument("count", type=int)
@as_option
def invites_grant(username: str, count: int, as_admin: str | None) -> None:
    """Give a member more invitations."""
    from ruang.actions import onboarding

    async def go(svc: Any) -> int:
        return await onboarding.grant_invites(svc, await _acting_admin(svc, as_admin),
                                              username, count)

    left = _admin_run(go)
    click.echo(f"@{username.removeprefix('@')} now has {left} invitation(s)")


@admin.group()
def reports() -> None:
    """Reports from members."""


@reports.command("list")
@click.option("--status", type=click.Choice(["open", "resolved", "all"]), default="open",
              show_default=True)
def reports_list(status: str) -> None:
    from ruang.actions import moderation

    async def go(svc: Any) -> Any:
        return await moderation.list_reports(svc, await _acting_admin(svc, None), status)

    found = _admin_run(go)
    if not found:
        click.echo(f"no {status} reports" if status != "all" else "no reports")
    for r in found:
        what = f"@{r.member}" if r.member else f"room {r.room_id} ({r.room_title})"
        done = f" -> {r.resolution}" if r.resolution else ""
        click.echo(f"{r.id:>6}  {r.created_at:%Y-%m-%d %H:%M}  {what} reported by "
                   f"@{r.reporter}: {r.reason}{done}")


@reports.command("resolve")
@click.argument("report_id", type=int)
@click.option("--action", type=click.Choice(["warn", "suspend", "ban", "dismiss"]),
              required=True)
@click.option("--days", type=int, default=None, help="Length of a suspension.")
@click.option("--note", default="", help="Why (sent to the member with a warning).")
@as_option
def reports_resolve(report_id: int, action: str, days: int | None, note: str,
                    as_admin: str | None) -> None:
    """Act on a report: warn, suspend or ban the member reported (or the room's host)."""
    from ruang.actions import moderation

    async def go(svc: Any) -> Any:
        return await moderation.resolve_report(svc, await _acting_admin(svc, as_admin),
                                               report_id, action, days=days,  # type: ignore[arg-type]
                                               note=note)

    done = _admin_run(go)
    click.echo(f"report {done.id} resolved: {done.resolution}")


@admin.command("sanction")
@click.argument("username")
@click.option("--action", type=click.Choice(["warn", "suspend", "ban", "lift"]), required=True)
@click.option("--days", type=int, default=None, help="Length of a suspension.")
@click.option("--reason", default="")
@as_option
def sanction_cmd(username: str, action: str, days: int | None, reason: str,
                 as_admin: str | None) -> None:
    """Warn, suspend, ban, or lift a sanction on a member. Suspensions and bans end the
    member's sessions and connections at once."""
    from ruang.actions import moderation

    async def go(svc: Any) -> None:
        await moderation.sanction(svc, await _acting_admin(svc, as_admin), username,
                                  action, reason=reason, days=days)  # type: ignore[arg-type]

    _admin_run(go)
    click.echo(f"@{username.removeprefix('@')}: {action} done")


@admin.group()
def mail() -> None:
    """Email written to the mail folder (when no SMTP server is configured)."""


@mail.command("list")
@click.option("--last", type=int, default=20, show_default=True)
def mail_list(last: int) -> None:
    from ruang.config import Settings
    from ruang.mail import FileMailer, read_message

    settings = Settings()
    paths = FileMailer(settings.mail_dir, sender=settings.mail_from).messages()[-last:]
    if not paths:
        click.echo(f"no email in {settings.mail_dir}")
    for path in paths:
        email = read_message(path)
        click.echo(f"{path.name}  to {email.to}: {email.subject}")


@mail.command("show")
@click.argument("name", required=False)
def mail_show(name: str | None) -> None:
    """Print one message (default: the newest), links included."""
    from ruang.config import Settings
    from ruang.mail import FileMailer, read_message

    settings = Settings()
    paths = FileMailer(settings.mail_dir, sender=settings.mail_from).messages()
    chosen = [p for p in paths if p.name == name] if name else paths[-1:]
    if not chosen:
        _fail(f"not_found: no such message in {settings.mail_dir}")
    email = read_message(chosen[0])
    click.echo(f"To: {email.to}\nSubject: {email.subject}\n\n{email.text}")


# --- client ---------------------------------------------------------------------------------


@main.command()
@client_options
def login(auth: _Auth) -> None:
    """Log in and save the session token for this server."""
    from ruang.client.api import RuangClient

    if not auth.user:
        auth.user = click.prompt("username")
        auth.password = click.prompt("password", hide_input=True)
    assert auth.user is not None
    assert auth.password is not None

    async def go() -> str:
        client = await RuangClient.login(auth.server, auth.user or "", auth.password or "")
        await client.close()
        assert client.token is not None
        return client.token

    token = _run(go())
    path = _save_token(auth.server, token)
    click.echo(f"logged in as @{auth.user}; token saved in {path}")


@main.group()
def rooms() -> None:
    """Create, list and end rooms."""


def _with_client(auth: _Auth, fn: Callable[[Any], Awaitable[T]]) -> T:
    async def go() -> T:
        client = await auth.client()
        try:
            return await fn(client)
        finally:
            await client.close()
    return _run(go())


@rooms.command("create")
@client_options
@click.argument("title")
@click.option("--description", default="")
@click.option("--kind", type=click.Choice(["open", "social", "closed"]), default="open",
              show_default=True, help="open: any member; social: your followers; closed: "
              "invited members only.")
@click.option("--topic", "topics", multiple=True, help="A topic (up to 3; see GET /topics).")
@click.option("--cohost", "cohosts", multiple=True, help="A co-host's @username.")
@click.option("--invite", "invitees", multiple=True, help="Who may enter a closed room.")
@click.option("--at", "scheduled_for", default=None,
              help="Schedule it (ISO 8601 with timezone, e.g. 2026-12-01T18:00:00+07:00).")
def rooms_create(auth: _Auth, title: str, description: str, kind: str,
                 topics: tuple[str, ...], cohosts: tuple[str, ...], invitees: tuple[str, ...],
                 scheduled_for: str | None) -> None:
    """Start a room now (you moderate it when you join), or schedule it."""
    room = _with_client(auth, lambda c: c.create_room(
        title, description, kind=kind, topics=list(topics), cohosts=list(cohosts),
        invitees=list(invitees), scheduled_for=scheduled_for))
    if room["state"] == "scheduled":
        click.echo(f"room {room['id']} scheduled for {room['scheduled_for']}: {room['title']}")
        click.echo(f"start it then: ruang rooms start {room['id']}")
    else:
        click.echo(f"room {room['id']} created: {room['title']}")
        click.echo(f"join it: ruang join {room['id']}")


@rooms.command("start")
@client_options
@click.argument("room", type=int)
def rooms_start(auth: _Auth, room: int) -> None:
    """Start a scheduled room (its hosts); followers and RSVPs are notified."""
    _with_client(auth, lambda c: c.start_room(room))
    click.echo(f"room {room} is live: ruang join {room}")


@rooms.command("list")
@client_options
def rooms_list(auth: _Auth) -> None:
    """Your hallway: live rooms ranked for you, then upcoming ones."""
    found = _with_client(auth, lambda c: c.hallway())
    if not found["live"] and not found["upcoming"]:
        click.echo("no live rooms")
    for r in found["live"]:
        friends = (f", you follow {', '.join('@' + u for u in r['followed_on_stage'])}"
                   if r["followed_on_stage"] else "")
        click.echo(f"{r['id']:>6}  {r['title']}  (host @{r['host']['username']}, "
                   f"{r['stage_count']} on stage, {r['audience_count']} listening{friends})")
    for r in found["upcoming"]:
        click.echo(f"{r['id']:>6}  {r['title']}  (upcoming {r['scheduled_for']}, host "
                   f"@{r['host']['username']}, {r['rsvp_count']} to be notified)")


@rooms.command("end")
@client_options
@click.argument("room", type=int)
def rooms_end(auth: _Auth, room: int) -> None:
    """End a room (moderators)."""
    _with_client(auth, lambda c: c.end_room(room))
    click.echo(f"room {room} ended")


@main.group()
def stage() -> None:
    """Moderate the stage of a room."""


def _stage_command(action: str, done: str) -> Callable[..., Any]:
    @client_options
    @click.argument("room", type=int)
    @click.argument("member")
    def command(auth: _Auth, room: int, member: str) -> None:
        _with_client(auth, lambda c: c.stage(room, action, member))
        click.echo(f"{member} {done} in room {room}")
    return command


stage.command("invite", help="Invite a listener to speak.")(
    _stage_command("invite", "was invited to speak"))
stage.command("move-to-audience", help="Move a speaker back to the audience.")(
    _stage_command("move-to-audience", "was moved to the audience"))
stage.command("mute", help="Mute a speaker (they cannot unmute themselves).")(
    _stage_command("mute", "was muted"))
stage.command("unmute", help="Allow a muted speaker to speak again.")(
    _stage_command("unmute", "may speak again"))
stage.command("remove", help="Remove a member from the room (they cannot come back).")(
    _stage_command("remove", "was removed"))
stage.command("make-moderator", help="Make a speaker a moderator.")(
    _stage_command("make-moderator", "is a moderator"))
stage.command("lower-hand", help="Lower a listener's raised hand.")(
    _stage_command("lower-hand", "had their hand lowered"))


@main.command()
@client_options
@click.argument("room", type=int)
@click.option("--play", "play", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="WAV file to speak when on stage.")
@click.option("--tone", type=float, default=None, help="Speak a sine tone of this frequency.")
@click.option("--loop/--no-loop", default=True, show_default=True,
              help="Repeat the --play file.")
@click.option("--record", "record", type=click.Path(dir_okay=False, path_type=Path),
              help="Write what you hear to this WAV file (48 kHz).")
@click.option("--duration", type=float, default=None,
              help="Leave after this many seconds (default: until Ctrl-C).")
@click.option("--accept-invites/--decline-invites", default=True, show_default=True,
              help="Answer invitations to speak.")
def join(auth: _Auth, room: int, play: Path | None, tone: float | None, loop: bool,
         record: Path | None, duration: float | None, accept_invites: bool) -> None:
    """Join a room: listen (and record), and speak when on stage."""
    if play and tone:
        _fail("invalid_input: use --play or --tone, not both")
    _run(_join(auth, room, play, tone, loop, record, duration, accept_invites))


async def _join(auth: _Auth, room: int, play: Path | None, tone: float | None, loop: bool,
                record: Path | None, duration: float | None, accept_invites: bool) -> None:
    from ruang.client.audio import AudioSource, Recorder, SilenceSource, ToneSource, WavSource
    from ruang.client.media import PeerMedia
    from ruang.client.realtime import Realtime, RoomSession

    source: AudioSource
    if play is not None:
        try:
            source = WavSource(play, loop=loop)
        except ValueError as exc:
            _fail(f"invalid_input: {exc}")
    elif tone is not None:
        source = ToneSource(tone)
    else:
        source = SilenceSource()
    recorder = Recorder() if record else None
    media = PeerMedia(source=source, recorder=recorder)

    def say(text: str) -> None:
        click.echo(f"[{time.strftime('%H:%M:%S')}] {text}")

    names: dict[int, str] = {}

    def on_event(session: RoomSession, kind: str, data: dict[str, Any]) -> None:
        me = session.realtime.member["id"] if session.realtime.member else None
        snap = session.snapshot
        for m in [*snap.stage, *snap.hands, *snap.invited] if snap else []:
            names[m.id] = f"@{m.username}"
        if isinstance(data.get("member"), dict):
            names[data["member"]["id"]] = f"@{data['member']['username']}"
            data = {**data, "member_id": data["member"]["id"]}
        subject = data.get("member_id")
        who = "you" if subject == me else names.get(subject or -1, f"member {subject}")
        be = "are" if subject == me else "is"
        if kind == "snapshot":
            mine = session.me
            say(f"joined room {session.room_id} as {mine.role if mine else '?'} "
                f"({len(snap.stage) if snap else 0} on stage, "
                f"{snap.audience_count if snap else 0} listening)")
        elif kind == "member_joined":
            say(f"{who} joined as {data['member']['role']}")
        elif kind == "hand_raised":
            say(f"{who} raised a hand")
        elif kind == "hand_lowered":
            say(f"{who} lowered a hand" if data.get("by") is None else
                f"{who}: hand lowered by a moderator")
        elif kind == "member_removed":
            say(f"{who} {be} removed from the room")
        elif kind == "chat_message":
            say(f"@{data['author']['username']}: {data['text']}")
        elif kind == "reaction":
            say(f"{who} reacted {data['emoji']}")
        elif kind == "room_started":
            say("the room is live")
        elif kind == "member_left":
            say(f"{who} left" + (" (connection lost)" if data.get("reason") == "timeout"
                                 else ""))
        elif kind == "presence_changed":
            say(f"{who} {'reconnected' if data['connected'] else 'lost their connection'}")
        elif kind == "role_changed":
            role = data["member"]["role"]
            where = "on stage" if role != "listener" else "in the audience"
            say(f"{who} {be} {where} ({role})")
        elif kind == "speak_invited":
            if subject == me:
                say("you were invited to speak" + (", accepting" if accept_invites else
                                                    ", declining"))
            else:
                say(f"{who} was invited to speak")
        elif kind == "invite_declined":
            say(f"{who} declined to speak")
        elif kind == "mute_changed":
            state = ("muted by a moderator" if data["mod_muted"] else
                     "muted" if data["self_muted"] else "unmuted")
            say(f"{who} {be} {state}")
        elif kind == "room_ended":
            say("the room has ended")
        elif kind == "media":
            media_state = data.get("state")
            if media_state == "connected":
                say("audio connected")
            elif media_state == "failed":
                say("audio connection lost")
            elif media_state == "waiting" and data.get("error"):
                say(f"audio unavailable: {data['error'].get('message')} (retrying)")
        elif kind == "left":
            say(f"left the room ({data.get('reason')})")

    client = await auth.client()
    rt = Realtime(client, on_event=on_event)
    try:
        await rt.connect()
        session = await rt.join(room, media=media,
                                on_invite="accept" if accept_invites else "decline")
        stop = asyncio.Event()
        loop_ = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop_.add_signal_handler(sig, stop.set)
        deadline = time.monotonic() + duration if duration else None
        while not stop.is_set() and session.left is None:
            if deadline is not None and time.monotonic() >= deadline:
                break
            if isinstance(source, WavSource) and source.finished():
                say("finished playing")
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.25)
        if session.left is None:
            await session.leave()
            say("left the room")
    finally:
        await rt.close()
        await client.close()
        if recorder is not None and record is not None:
            recorder.save(record)
            say(f"recorded {len(recorder.samples()) / 48000:.1f} s to {record}")


@main.group()
def bench() -> None:
    """Benchmarks (print JSON; see docs/BENCHMARKS.md)."""


@bench.command("media")
@click.option("--listeners", type=int, default=50, show_default=True,
              help="Light listeners at the larger audience size (up to 200 here).")
@click.option("--real-listeners", type=int, default=3, show_default=True,
              help="Decoding listeners that check the tone and measure latency.")
@click.option("--seconds", type=float, default=12.0, show_default=True,
              help="Measurement window per audience size.")
@click.option("--prebuffer", type=int, default=None, help="AudioBridge prebuffer (packets).")
@click.option("--event-loops", default="2", show_default=True,
              help="Janus event_loops; several (e.g. 2,0) are compared in one run.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON line.")
@click.option("--write-docs/--no-write-docs", default=False,
              help="Record the result in docs/BENCHMARKS.md.")
def bench_media(listeners: int, real_listeners: int, seconds: float, prebuffer: int | None,
                event_loops: str, as_json: bool, write_docs: bool) -> None:
    """Mouth-to-ear latency, join time and Janus CPU per listener, on a private network."""
    from ruang.bench import media as bench_media_mod

    code = bench_media_mod.main(listeners=listeners, real_listeners=real_listeners,
                                seconds=seconds, prebuffer=prebuffer,
                                event_loops=event_loops, as_json=as_json,
                                write_docs=write_docs)
    sys.exit(code)


@bench.command("fanout")
@click.option("--connections", type=int, default=1000, show_default=True,
              help="WebSocket clients in one room.")
@click.option("--workers", type=int, default=4, show_default=True,
              help="Client processes.")
@click.option("--actions", type=int, default=10, show_default=True,
              help="Moderator actions timed one at a time.")
@click.option("--burst", type=int, default=50, show_default=True,
              help="Moderator actions back to back for throughput.")
@click.option("--database", default=None, help="SQLAlchemy URL (default: SQLite).")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON line.")
@click.option("--write-docs/--no-write-docs", default=False)
def bench_fanout(connections: int, workers: int, actions: int, burst: int,
                 database: str | None, as_json: bool, write_docs: bool) -> None:
    """One room's events to N WebSocket clients: delivery latency and deliveries per
    server CPU-second."""
    from ruang.bench import fanout

    sys.exit(fanout.main(connections=connections, workers=workers, actions=actions,
                         burst=burst, database=database, as_json=as_json,
                         write_docs=write_docs))


@bench.command("wslib")
@click.option("--connections", default="1000,10000", show_default=True)
@click.option("--servers", default="fastapi,websockets,picows", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON line.")
@click.option("--write-docs/--no-write-docs", default=False)
def bench_wslib(connections: str, servers: str, as_json: bool, write_docs: bool) -> None:
    """Broadcast cost of WebSocket servers side by side (why the realtime path is picows)."""
    from ruang.bench import wslib

    sys.exit(wslib.main([int(x) for x in connections.split(",")], servers.split(","),
                        as_json, write_docs))


@bench.command("web")
@click.option("--taps", type=int, default=15, show_default=True,
              help="Taps on a room card, each timed to the first audible audio.")
@click.option("--cold-loads", type=int, default=1, show_default=True,
              help="Cold loads of the hallway (JS and CSS transferred).")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON line.")
@click.option("--write-docs/--no-write-docs", default=False,
              help="Record the result in docs/BENCHMARKS.md.")
def bench_web(taps: int, cold_loads: int, as_json: bool, write_docs: bool) -> None:
    """The web app in headless chromium: the hallway's JS + CSS on a cold load, and a
    listener's tap on a room to first audible audio (needs the built app in web/dist)."""
    from ruang.bench import web

    sys.exit(web.main(taps=taps, cold_loads=cold_loads, as_json=as_json,
                      write_docs=write_docs))


@bench.command("social")
@click.option("--members", type=int, default=1_000_000, show_default=True)
@click.option("--follows", type=int, default=20_000_000, show_default=True)
@click.option("--samples", type=int, default=2000, show_default=True,
              help="Timed calls per query.")
@click.option("--database", default=None,
              help="PostgreSQL URL of the scratch database "
                   "(default: postgresql://postgres@127.0.0.1:5432/ruang_bench_social).")
@click.option("--keep", is_flag=True, help="Keep the loaded database for inspection.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON line.")
@click.option("--write-docs/--no-write-docs", default=False,
              help="Record the result in docs/BENCHMARKS.md.")
def bench_social(members: int, follows: int, samples: int, database: str | None, keep: bool,
                 as_json: bool, write_docs: bool) -> None:
    """Follow lists, 'who I follow here' and people search on a synthetic graph in
    PostgreSQL (1M members and 20M follows by default, loaded with COPY)."""
    from ruang.bench import social

    sys.exit(social.main(members=members, follows=follows, samples=samples, as_json=as_json,
                         write_docs=write_docs, database=database, keep=keep))


if __name__ == "__main__":
    main()
