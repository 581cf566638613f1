"""prefs: each person's own delivery preferences (digest time, real time or digest per kind, muted
kinds) over the config's ``delivery:`` defaults

Revision ID: 0012_prefs
Revises: 0011_speed
"""

from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "0012_prefs"
down_revision: Union[str, None] = "0011_speed"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "deliverypref",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("digest_time", sa.Time(), nullable=True),
        sa.Column("warn", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("manager", sqlmodel.sql.sqltypes.AutoString(length=10), nullable=True),
        sa.Column("muted", sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"), nullable=False),
        sa.Column("updated_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("person_id"),
    )


def downgrade() -> None:
    op.drop_table("deliverypref")
