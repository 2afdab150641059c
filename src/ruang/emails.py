"""The email Ruang sends, as plain functions from facts to a message (text + simple HTML).

Links carry single-use tokens; they point at the web app's pages (``/invite/<token>``,
``/reset/<token>``, ``/verify/<token>``, ``/waitlist/<token>``), whose API counterparts are
documented in docs/membership.md.
"""

from __future__ import annotations

import html
from datetime import datetime

from ruang.mail import Email


def _html(paragraphs: list[str], link: str | None = None, label: str = "") -> str:
    body = "".join(f"<p>{html.escape(p)}</p>" for p in paragraphs)
    if link:
        body += (f'<p><a href="{html.escape(link, quote=True)}" '
                 f'style="font-weight:bold">{html.escape(label)}</a></p>')
    return f"<!doctype html><html><body style=\"font-family:sans-serif\">{body}</body></html>"


def _text(paragraphs: list[str], link: str | None = None) -> str:
    parts = list(paragraphs)
    if link:
        parts.append(link)
    return "\n\n".join(parts) + "\n"


def _make(to: str, subject: str, kind: str, paragraphs: list[str], link: str | None = None,
          label: str = "") -> Email:
    return Email(to=to, subject=subject, kind=kind, text=_text(paragraphs, link),
                 html=_html(paragraphs, link, label))


def _day(when: datetime) -> str:
    return when.strftime("%d %B %Y")


def invitation(to: str, inviter: str | None, link: str, expires: datetime,
               username: str | None = None) -> Email:
    who = f"{inviter} invited you" if inviter else "You are invited"
    lines = [f"{who} to join Ruang, a community for live audio conversations.",
             "Open this link to create your account"
             + (f" (your username @{username} is kept for you)" if username else "")
             + f". It works once and until {_day(expires)}."]
    return _make(to, "Your invitation to Ruang", "invite", lines, link, "Accept the invitation")


def invitation_for_member(to: str) -> Email:
    return _make(to, "Your invitation to Ruang", "invite",
                 ["Someone invited this address to Ruang, but it already belongs to a member.",
                  "If you forgot your password, you can reset it from the login page."])


def waitlist_received(to: str, name: str, link: str) -> Email:
    return _make(to, "You are on the Ruang waitlist", "waitlist",
                 [f"Thank you, {name}. You are on the waitlist.",
                  "Members let people in: when someone you named or an administrator invites "
                  "you, you will get an email. See your place at any time here:"],
                 link, "See my place on the waitlist")


def waitlist_already_member(to: str) -> Email:
    return _make(to, "About your Ruang waitlist request", "waitlist",
                 ["Someone asked to join the Ruang waitlist with this address, but it already "
                  "belongs to a member or is already on the waitlist.",
                  "If that was you, log in, or reset your password from the login page."])


def waitlist_rejected(to: str, name: str) -> Email:
    return _make(to, "About your Ruang waitlist request", "waitlist",
                 [f"Hello {name}, the administrators of this Ruang community decided not to "
                  "open an account for you at this time."])


def password_reset(to: str, link: str, expires: datetime) -> Email:
    return _make(to, "Reset your Ruang password", "reset",
                 ["Someone (hopefully you) asked to reset the password of your Ruang account.",
                  f"The link works once, until {expires:%H:%M UTC on %d %B}. If you did not "
                  "ask, ignore this email: your password stays as it is."],
                 link, "Choose a new password")


def verify_address(to: str, link: str) -> Email:
    return _make(to, "Confirm your email address for Ruang", "verify",
                 ["Confirm that this address is yours by opening this link:"],
                 link, "Confirm my address")


def sanction(to: str, kind: str, reason: str, until: datetime | None) -> Email:
    what = {"warn": "a warning from the administrators",
            "suspend": f"your account is suspended until {_day(until)}" if until
            else "your account is suspended",
            "ban": "your account is closed by the administrators"}.get(kind, kind)
    lines = [f"About your Ruang account: {what}."]
    if reason:
        lines.append(f"Reason: {reason}")
    return _make(to, "About your Ruang account", "notice", lines)
