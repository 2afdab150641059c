"""room joins: a per-room join counter, so the audience has one order to page through

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("rooms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("joins", sa.BigInteger(), nullable=False,
                                      server_default="0"))
    # Earlier rows may share a join_seq: number each room's entries 1, 2, ... in the order
    # they had, and count them.
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT room_id, member_id FROM room_members"
                                " ORDER BY room_id, join_seq, member_id")).all()
    numbered: dict[int, int] = {}
    for room_id, member_id in rows:
        numbered[room_id] = numbered.get(room_id, 0) + 1
        bind.execute(sa.text("UPDATE room_members SET join_seq = :n"
                             " WHERE room_id = :r AND member_id = :m"),
                     {"n": numbered[room_id], "r": room_id, "m": member_id})
    for room_id, joins in numbered.items():
        bind.execute(sa.text("UPDATE rooms SET joins = :n WHERE id = :r"),
                     {"n": joins, "r": room_id})
    with op.batch_alter_table("room_members", schema=None) as batch_op:
        batch_op.create_index("ix_room_members_room_join", ["room_id", "join_seq"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("room_members", schema=None) as batch_op:
        batch_op.drop_index("ix_room_members_room_join")
    with op.batch_alter_table("rooms", schema=None) as batch_op:
        batch_op.drop_column("joins")
