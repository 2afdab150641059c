"""iCalendar (RFC 5545) for a scheduled room: one VEVENT, pure text."""

from __future__ import annotations

import datetime as dt

DEFAULT_LENGTH = dt.timedelta(hours=1)


def _escape(text: str) -> str:
    return (text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def _fold(line: str) -> str:
    """Lines longer than 75 octets continue on the next line after a space."""
    data = line.encode()
    if len(data) <= 75:
        return line
    parts: list[str] = []
    current = b""
    for ch in line:
        enc = ch.encode()
        if len(current) + len(enc) > (75 if not parts else 74):
            parts.append(current.decode())
            current = b""
        current += enc
    parts.append(current.decode())
    return "\r\n ".join(parts)


def _utc(when: dt.datetime) -> str:
    return when.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def room_event(*, room_id: int, title: str, description: str, start: dt.datetime,
               url: str, organizer: str, domain: str, created: dt.datetime) -> str:
    lines = [
        "BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Ruang//Rooms//EN", "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH", "BEGIN:VEVENT",
        f"UID:room-{room_id}@{domain}",
        f"DTSTAMP:{_utc(created)}",
        f"DTSTART:{_utc(start)}",
        f"DTEND:{_utc(start + DEFAULT_LENGTH)}",
        f"SUMMARY:{_escape(title)}",
        f"DESCRIPTION:{_escape((description + chr(10) + chr(10) if description else '') + url)}",
        f"URL:{url}",
        f"ORGANIZER;CN={_escape(organizer)}:invalid:nomail",
        "END:VEVENT", "END:VCALENDAR",
    ]
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"
