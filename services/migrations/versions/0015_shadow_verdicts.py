"""shadow verdicts: what a station's candidate model said about each image, beside the live result

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 21:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Not a batch: a batch rebuilds the table on SQLite, and cell_defect's foreign key forbids dropping it.
    op.add_column('inspection', sa.Column('shadow_version', sa.String(length=50), nullable=True))
    op.add_column('inspection', sa.Column('shadow', sa.JSON(), nullable=True))


def downgrade() -> None:
    # Not a batch either (SQLite 3.35+ drops a column in place).
    op.drop_column('inspection', 'shadow')
    op.drop_column('inspection', 'shadow_version')
