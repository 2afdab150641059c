"""The email outbox: actions queue email in their own transaction; a worker sends it.

A crash between deciding to send and sending never loses an email, and nothing about the
answer to a request (its timing included) depends on whether or how an email goes out.
Delivery is retried with backoff on temporary failures (connection refused, 4xx) up to
MAX_ATTEMPTS; permanent failures are recorded and logged.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ruang.mail import Email, Mailer, MailError
from ruang.storage.db import Database
from ruang.storage.models import OutboxEmail, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8


def enqueue(s: AsyncSession, email: Email) -> None:
    s.add(OutboxEmail(to=email.to, subject=email.subject, text=email.text, html=email.html,
                      kind=email.kind))


def _backoff(attempts: int) -> dt.timedelta:
    return dt.timedelta(seconds=min(3600, 15 * 2 ** (attempts - 1)))


async def deliver_due(db: Database, mailer: Mailer, *, batch: int = 20) -> int:
    """Send what is due; returns how many were sent. Several workers can run at once:
    each row is claimed with a row lock that others skip (PostgreSQL)."""
    sent = 0
    async with db.transaction() as s:
        rows = (await s.execute(
            select(OutboxEmail).where(OutboxEmail.sent_at.is_(None),
                                      OutboxEmail.failed_at.is_(None),
                                      OutboxEmail.next_attempt_at <= utcnow())
            .order_by(OutboxEmail.id).limit(batch).with_for_update(skip_locked=True))
        ).scalars().all()
        for row in rows:
            email = Email(to=row.to, subject=row.subject, text=row.text, html=row.html,
                          kind=row.kind)
            row.attempts += 1
            try:
                await mailer.send(email)
            except MailError as exc:
                row.last_error = str(exc)[:1000]
                if exc.temporary and row.attempts < MAX_ATTEMPTS:
                    row.next_attempt_at = utcnow() + _backoff(row.attempts)
                    log.warning("email delivery failed, will retry",
                                extra={"kind": row.kind, "attempt": row.attempts,
                                       "error": row.last_error})
                else:
                    row.failed_at = utcnow()
                    log.error("email delivery failed for good",
                              extra={"kind": row.kind, "error": row.last_error})
                continue
            except ValueError as exc:  # an address or subject the mailer refuses outright
                row.failed_at = utcnow()
                row.last_error = str(exc)[:1000]
                log.error("email refused", extra={"kind": row.kind, "error": row.last_error})
                continue
            row.sent_at = utcnow()
            sent += 1
    return sent
