"""the smarketing agreement: claim time, region and segment, the scoreboard indexes, chart images, home views

Revision ID: 0007_agreement
Revises: 0006_delivery
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
import sqlmodel

revision: str = "0007_agreement"
down_revision: Union[str, None] = "0006_delivery"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

WHERE = "qualified_at IS NOT NULL"
OPEN = "status = 'qualified'"


def upgrade() -> None:
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column("region", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
        batch_op.add_column(sa.Column("segment", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True))
    # Leads stored before this revision keep their region and segment in attrs: copy them out.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("UPDATE lead SET region = left(attrs ->> 'region', 100), segment = left(attrs ->> 'segment', 100) "
                   "WHERE attrs ? 'region' OR attrs ? 'segment'")
    else:
        op.execute("UPDATE lead SET region = substr(json_extract(attrs, '$.region'), 1, 100), "
                   "segment = substr(json_extract(attrs, '$.segment'), 1, 100) "
                   "WHERE json_extract(attrs, '$.region') IS NOT NULL OR json_extract(attrs, '$.segment') IS NOT NULL")
    op.create_index(
        "ix_lead_scoreboard", "lead",
        ["qualified_at", "owner_id", "source_campaign_id", "status", "first_touch_at", "handoff_due_at", "claimed_at",
         "region", "segment"],
        unique=False, sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE),
    )
    op.create_index("ix_lead_pipeline", "lead", ["owner_id", "qualified_at", "sla_due_at", "source_campaign_id"], unique=False,
                    sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    op.create_table(
        "chartimage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sqlmodel.sql.sqltypes.AutoString(length=300), nullable=False),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("content_type", sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
        sa.UniqueConstraint("token"),
    )
    op.create_table(
        "homeview",
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("digest", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("opened_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.Column("published_at", sqlmodel.sql.sqltypes.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.PrimaryKeyConstraint("person_id"),
    )


def downgrade() -> None:
    op.drop_table("homeview")
    op.drop_table("chartimage")
    op.drop_index("ix_lead_pipeline", table_name="lead", sqlite_where=sa.text(OPEN), postgresql_where=sa.text(OPEN))
    op.drop_index("ix_lead_scoreboard", table_name="lead", sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE))
    with op.batch_alter_table("lead", schema=None) as batch_op:
        batch_op.drop_column("segment")
        batch_op.drop_column("region")
        batch_op.drop_column("claimed_at")
