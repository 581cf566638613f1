"""the joint review: action items

Revision ID: 0008_review
Revises: 0007_agreement
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel

revision: str = "0008_review"
down_revision: Union[str, None] = "0007_agreement"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "actionitem",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("text", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.Column("meeting_on", sa.Date(), nullable=False),
        sa.Column("source_key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("source_text", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=True),
        sa.Column("reminded_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("done_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("done_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["created_by_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["done_by_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["owner_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_actionitem_open", "actionitem", ["status", "due_on"], unique=False)
    op.create_index(op.f("ix_actionitem_owner_id"), "actionitem", ["owner_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_actionitem_owner_id"), table_name="actionitem")
    op.drop_index("ix_actionitem_open", table_name="actionitem")
    op.drop_table("actionitem")
