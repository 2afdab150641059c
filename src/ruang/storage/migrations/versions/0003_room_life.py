"""room life

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_messages",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "deleted_by", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.ForeignKeyConstraint(
            ["deleted_by"],
            ["members.id"],
            name=op.f("fk_chat_messages_deleted_by_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_chat_messages_member_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["rooms.id"],
            name=op.f("fk_chat_messages_room_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
    )
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_messages_member_id"), ["member_id"], unique=False)
        batch_op.create_index("ix_chat_messages_room_seq", ["room_id", "seq"], unique=False)

    op.create_table(
        "notifications",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("actor_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["actor_id"],
            ["members.id"],
            name=op.f("fk_notifications_actor_id_members"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_notifications_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["rooms.id"],
            name=op.f("fk_notifications_room_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            "ix_notifications_member_created", ["member_id", "created_at"], unique=False
        )

    op.create_table(
        "room_hosts",
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_room_hosts_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_room_hosts_room_id_rooms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("room_id", "member_id", name=op.f("pk_room_hosts")),
    )
    with op.batch_alter_table("room_hosts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_hosts_member_id"), ["member_id"], unique=False)

    op.create_table(
        "room_invitees",
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_room_invitees_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"],
            ["rooms.id"],
            name=op.f("fk_room_invitees_room_id_rooms"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("room_id", "member_id", name=op.f("pk_room_invitees")),
    )
    with op.batch_alter_table("room_invitees", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_invitees_member_id"), ["member_id"], unique=False)

    op.create_table(
        "room_rsvps",
        sa.Column("room_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "member_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["members.id"],
            name=op.f("fk_room_rsvps_member_id_members"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["room_id"], ["rooms.id"], name=op.f("fk_room_rsvps_room_id_rooms"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("room_id", "member_id", name=op.f("pk_room_rsvps")),
    )
    with op.batch_alter_table("room_rsvps", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_room_rsvps_member_id"), ["member_id"], unique=False)

    with op.batch_alter_table("room_members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage_seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("hand_seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("invite_seq", sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.drop_column("invited")

    with op.batch_alter_table("rooms", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("kind", sa.String(length=16), nullable=False, server_default="open")
        )
        batch_op.add_column(sa.Column("topics", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("started_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(
            sa.Column("chat_mode", sa.String(length=16), nullable=False, server_default="open")
        )
        batch_op.add_column(
            sa.Column("hands_enabled", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(
            sa.Column("audience_count", sa.Integer(), nullable=False, server_default="0")
        )
        batch_op.add_column(sa.Column("orphaned_at", sa.DateTime(timezone=True), nullable=True))

    # Rooms from before: their hosts are their (only) hosts, and whoever is on stage came on
    # stage when they joined.
    op.execute("INSERT INTO room_hosts (room_id, member_id) SELECT id, host_id FROM rooms")
    op.execute("UPDATE room_members SET stage_seq = join_seq WHERE role <> 'listener'")


def downgrade() -> None:
    with op.batch_alter_table("rooms", schema=None) as batch_op:
        batch_op.drop_column("orphaned_at")
        batch_op.drop_column("audience_count")
        batch_op.drop_column("hands_enabled")
        batch_op.drop_column("chat_mode")
        batch_op.drop_column("started_at")
        batch_op.drop_column("scheduled_for")
        batch_op.drop_column("topics")
        batch_op.drop_column("kind")

    with op.batch_alter_table("room_members", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("invited", sa.BOOLEAN(), nullable=False, server_default=sa.false())
        )
        batch_op.drop_column("removed_at")
        batch_op.drop_column("invite_seq")
        batch_op.drop_column("hand_seq")
        batch_op.drop_column("stage_seq")

    with op.batch_alter_table("room_rsvps", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_room_rsvps_member_id"))

    op.drop_table("room_rsvps")
    with op.batch_alter_table("room_invitees", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_room_invitees_member_id"))

    op.drop_table("room_invitees")
    with op.batch_alter_table("room_hosts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_room_hosts_member_id"))

    op.drop_table("room_hosts")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index("ix_notifications_member_created")

    op.drop_table("notifications")
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.drop_index("ix_chat_messages_room_seq")
        batch_op.drop_index(batch_op.f("ix_chat_messages_member_id"))

    op.drop_table("chat_messages")
