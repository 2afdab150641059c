"""membership

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import re
import unicodedata

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "email_outbox",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("to", sa.String(length=254), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("html", sa.Text(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_outbox")),
    )
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_email_outbox_due", ["sent_at", "next_attempt_at"], unique=False)

    op.create_table(
        "blocks",
        sa.Column(
            "blocker_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "blocked_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["blocked_id"],
            ["members.id"],
            name=op.f("fk_blocks_blocked_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["blocker_id"],
            ["members.id"],
            name=op.f("fk_blocks_blocker_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("blocker_id", "blocked_id", name=op.f("pk_blocks")),
    )
    with op.batch_alter_table("blocks", schema=None) as batch_op:
        batch_op.create_index("ix_blocks_blocked", ["blocked_id", "blocker_id"], unique=False)

    op.create_table(
        "email_tokens",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_email_tokens_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_tokens")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_email_tokens_token_hash")),
    )
    with op.batch_alter_table("email_tokens", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_email_tokens_member_id"), ["member_id"], unique=False)

    op.create_table(
        "follows",
        sa.Column(
            "follower_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column(
            "followee_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["followee_id"],
            ["members.id"],
            name=op.f("fk_follows_followee_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["follower_id"],
            ["members.id"],
            name=op.f("fk_follows_follower_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("follower_id", "followee_id", name=op.f("pk_follows")),
    )
    with op.batch_alter_table("follows", schema=None) as batch_op:
        batch_op.create_index(
            "ix_follows_followee", ["followee_id", "created_at", "follower_id"], unique=False
        )
        batch_op.create_index(
            "ix_follows_follower", ["follower_id", "created_at", "followee_id"], unique=False
        )

    op.create_table(
        "search_terms",
        sa.Column(
            "term",
            sa.String(length=64).with_variant(sa.String(length=64, collation="C"), "postgresql"),
            nullable=False,
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_search_terms_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("term", "member_id", name=op.f("pk_search_terms")),
    )
    with op.batch_alter_table("search_terms", schema=None) as batch_op:
        batch_op.create_index("ix_search_terms_member_term", ["member_id", "term"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        # Names are frequent words that the default statistics (100 most common values) do
        # not see; without them the planner guesses a name's range at a few rows and picks
        # plans 50x slower for searches of several words (docs/BENCHMARKS.md, social).
        op.execute("ALTER TABLE search_terms ALTER COLUMN term SET STATISTICS 1000")

    op.create_table(
        "waitlist_entries",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("email_key", sa.String(length=254), nullable=False),
        sa.Column("username", sa.String(length=32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "decided_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["decided_by"],
            ["members.id"],
            name=op.f("fk_waitlist_entries_decided_by_members"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_waitlist_entries")),
        sa.UniqueConstraint("email_key", name=op.f("uq_waitlist_entries_email_key")),
        sa.UniqueConstraint(
            "status_token_hash", name=op.f("uq_waitlist_entries_status_token_hash")
        ),
    )
    with op.batch_alter_table("waitlist_entries", schema=None) as batch_op:
        batch_op.create_index("ix_waitlist_status_created", ["status", "created_at"], unique=False)

    op.create_table(
        "invites",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "inviter_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column(
            "waitlist_entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("by_admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("redeemed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "redeemed_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["inviter_id"],
            ["members.id"],
            name=op.f("fk_invites_inviter_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["redeemed_by"],
            ["members.id"],
            name=op.f("fk_invites_redeemed_by_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["waitlist_entry_id"],
            ["waitlist_entries.id"],
            name=op.f("fk_invites_waitlist_entry_id_waitlist_entries"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invites")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_invites_token_hash")),
    )
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_invites_inviter_id"), ["inviter_id"], unique=False)

    op.create_table(
        "reports",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "reporter_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("resolution", sa.String(length=16), nullable=True),
        sa.Column(
            "resolved_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_reports_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["members.id"],
            name=op.f("fk_reports_reporter_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by"],
            ["members.id"],
            name=op.f("fk_reports_resolved_by_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_reports_room_id_rooms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
    )
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_reports_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_reports_reporter_id"), ["reporter_id"], unique=False)
        batch_op.create_index("ix_reports_status_created", ["status", "created_at"], unique=False)

    op.create_table(
        "username_claims",
        sa.Column("username_key", sa.String(length=32), nullable=False),
        sa.Column("member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column(
            "waitlist_entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_username_claims_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["waitlist_entry_id"],
            ["waitlist_entries.id"],
            name=op.f("fk_username_claims_waitlist_entry_id_waitlist_entries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("username_key", name=op.f("pk_username_claims")),
        sa.UniqueConstraint("member_id", name=op.f("uq_username_claims_member_id")),
        sa.UniqueConstraint("waitlist_entry_id", name=op.f("uq_username_claims_waitlist_entry_id")),
    )
    op.create_table(
        "waitlist_vouches",
        sa.Column("entry_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["waitlist_entries.id"],
            name=op.f("fk_waitlist_vouches_entry_id_waitlist_entries"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_waitlist_vouches_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("entry_id", "member_id", name=op.f("pk_waitlist_vouches")),
    )
    with op.batch_alter_table("waitlist_vouches", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_waitlist_vouches_member_id"), ["member_id"], unique=False
        )

    op.create_table(
        "sanctions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("by_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("report_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["by_id"], ["members.id"], name=op.f("fk_sanctions_by_id_members"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_sanctions_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["report_id"],
            ["reports.id"],
            name=op.f("fk_sanctions_report_id_reports"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sanctions")),
    )
    with op.batch_alter_table("sanctions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sanctions_member_id"), ["member_id"], unique=False)

    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="session")
        )
        batch_op.add_column(sa.Column("name", sa.String(length=64), nullable=True))

    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("email_key", sa.String(length=254), nullable=True))
        batch_op.add_column(
            sa.Column("email_verified_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.add_column(
            sa.Column("headline", sa.String(length=120), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("bio", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("interests", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("avatar_id", sa.String(length=64), nullable=True))
        batch_op.add_column(
            sa.Column(
                "nominated_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.add_column(
            sa.Column("invites_left", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("status", sa.String(length=16), nullable=False, server_default="active")
        )
        batch_op.add_column(sa.Column("suspended_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("followers_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(
            sa.Column("following_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.create_unique_constraint(batch_op.f("uq_members_email_key"), ["email_key"])
        batch_op.create_foreign_key(
            batch_op.f("fk_members_nominated_by_members"),
            "members",
            ["nominated_by"],
            ["id"],
            ondelete="SET NULL",
        )

    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.create_index("ix_auth_sessions_revoked_at", ["revoked_at"], unique=False)

    # Members created before this migration keep their names: claim them.
    op.execute(
        "INSERT INTO username_claims (username_key, member_id, created_at) "
        "SELECT username_key, id, created_at FROM members"
    )
    # ... and can be found by people search (same normalization as ruang.domain.search).
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, username, display_name FROM members")).all()
    for member_id, username, display_name in rows:
        words = {username.casefold()[:64]}
        for text in (username, display_name):
            plain = unicodedata.normalize("NFKD", text.casefold())
            plain = "".join(c for c in plain if not unicodedata.combining(c))
            words.update(w[:64] for w in re.split(r"[\W_]+", plain) if w)
        for word in words:
            bind.execute(
                sa.text("INSERT INTO search_terms (term, member_id) VALUES (:t, :m)"),
                {"t": word, "m": member_id},
            )


def downgrade() -> None:
    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_index("ix_auth_sessions_revoked_at")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_members_nominated_by_members"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_members_email_key"), type_="unique")
        batch_op.drop_column("following_count")
        batch_op.drop_column("followers_count")
        batch_op.drop_column("suspended_until")
        batch_op.drop_column("status")
        batch_op.drop_column("invites_left")
        batch_op.drop_column("nominated_by")
        batch_op.drop_column("avatar_id")
        batch_op.drop_column("interests")
        batch_op.drop_column("bio")
        batch_op.drop_column("headline")
        batch_op.drop_column("email_verified_at")
        batch_op.drop_column("email_key")
        batch_op.drop_column("email")

    with op.batch_alter_table("auth_sessions", schema=None) as batch_op:
        batch_op.drop_column("name")
        batch_op.drop_column("kind")

    with op.batch_alter_table("sanctions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sanctions_member_id"))

    op.drop_table("sanctions")
    with op.batch_alter_table("waitlist_vouches", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_waitlist_vouches_member_id"))

    op.drop_table("waitlist_vouches")
    op.drop_table("username_claims")
    with op.batch_alter_table("reports", schema=None) as batch_op:
        batch_op.drop_index("ix_reports_status_created")
        batch_op.drop_index(batch_op.f("ix_reports_reporter_id"))
        batch_op.drop_index(batch_op.f("ix_reports_member_id"))

    op.drop_table("reports")
    with op.batch_alter_table("invites", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_invites_inviter_id"))

    op.drop_table("invites")
    with op.batch_alter_table("waitlist_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_waitlist_status_created")

    op.drop_table("waitlist_entries")
    with op.batch_alter_table("search_terms", schema=None) as batch_op:
        batch_op.drop_index("ix_search_terms_member_term")

    op.drop_table("search_terms")
    with op.batch_alter_table("follows", schema=None) as batch_op:
        batch_op.drop_index("ix_follows_follower")
        batch_op.drop_index("ix_follows_followee")

    op.drop_table("follows")
    with op.batch_alter_table("email_tokens", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_email_tokens_member_id"))

    op.drop_table("email_tokens")
    with op.batch_alter_table("blocks", schema=None) as batch_op:
        batch_op.drop_index("ix_blocks_blocked")

    op.drop_table("blocks")
    with op.batch_alter_table("email_outbox", schema=None) as batch_op:
        batch_op.drop_index("ix_email_outbox_due")

    op.drop_table("email_outbox")
