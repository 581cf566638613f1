"""people from the CRM's owners and the chat directory: source, active, manager's email; directory
accounts and problems

Revision ID: 0010_directory
Revises: 0008_review
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel

revision: str = "0010_directory"
down_revision: Union[str, None] = "0008_review"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    with op.batch_alter_table("person") as batch:
        batch.add_column(sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False,
                                   server_default="yaml"))
        batch.add_column(sa.Column("active", sa.Boolean(), nullable=False, server_default=sa.true()))
        batch.add_column(sa.Column("manager_email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True))
        batch.add_column(sa.Column("crm_owner_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=True))
    with op.batch_alter_table("person") as batch:
        batch.alter_column("source", server_default=None)
        batch.alter_column("active", server_default=None)
    op.create_table(
        "directoryaccount",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("platform", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("account_id", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("email", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=True),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("team", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True),
        sa.Column("seen_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("account_id", "platform", name="uq_directoryaccount"),
    )
    op.create_index(op.f("ix_directoryaccount_email"), "directoryaccount", ["email"], unique=False)
    op.create_table(
        "directoryproblem",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sqlmodel.sql.sqltypes.AutoString(length=20), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("subject", sqlmodel.sql.sqltypes.AutoString(length=320), nullable=False),
        sa.Column("detail", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "subject", name="uq_directoryproblem"),
    )


def downgrade() -> None:
    op.drop_table("directoryproblem")
    op.drop_index(op.f("ix_directoryaccount_email"), table_name="directoryaccount")
    op.drop_table("directoryaccount")
    with op.batch_alter_table("person") as batch:
        batch.drop_column("crm_owner_id")
        batch.drop_column("manager_email")
        batch.drop_column("active")
        batch.drop_column("source")
