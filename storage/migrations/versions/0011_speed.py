"""speed: indexes for the scoreboard's first-touch times and a rep's won deals

Revision ID: 0011_speed
Revises: 0010_directory
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

revision: str = "0011_speed"
down_revision: Union[str, None] = "0010_directory"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TOUCHED = "first_touch_at IS NOT NULL AND qualified_at IS NOT NULL"


def upgrade() -> None:
    op.create_index("ix_lead_touch_times", "lead",
                    ["qualified_at", "owner_id", "source_campaign_id", "claimed_at", "first_touch_at"], unique=False,
                    sqlite_where=sa.text(TOUCHED), postgresql_where=sa.text(TOUCHED))
    op.create_index("ix_deal_owner_closed", "deal", ["owner_id", "closed_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_deal_owner_closed", table_name="deal")
    op.drop_index("ix_lead_touch_times", table_name="lead", sqlite_where=sa.text(TOUCHED),
                  postgresql_where=sa.text(TOUCHED))
