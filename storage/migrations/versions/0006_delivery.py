"""delivery: per-destination order and pacing shared by replicas, attempt start for the search

- ``outbox.attempt_started_at``: when the earliest attempt that may have reached the platform
  began; the deliverer searches the platform from there before posting again.
- ``ix_outbox_open``: each destination's open rows by id (the dispatcher takes only a queue's head).
- ``channelslot``: when each destination may next be posted to, shared by every replica.

Revision ID: 0006_delivery
Revises: 0005_connectors
Create Date: 2026-12-02 01:30:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy import Text  # noqa: F401  (autogenerate renders JSONB with Text())

revision: str = '0006_delivery'
down_revision: Union[str, None] = '0005_connectors'
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

OPEN = "status IN ('pending', 'sending')"


def upgrade() -> None:
    op.create_table('channelslot',
    sa.Column('destination', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('next_free_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('destination')
    )
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt_started_at', sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.create_index('ix_outbox_open', ['destination', 'id'], unique=False,
                              sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_open', sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
        batch_op.drop_column('attempt_started_at')
    op.drop_table('channelslot')
