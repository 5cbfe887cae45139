"""indexes the dashboard's window queries use: NG images by capture time, loops by opened / repaired time

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03 12:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NG = sa.text('ng_cells > 0')


def upgrade() -> None:
    # Partial: about 1 image in 100 holds an NG cell, so the Pareto of a window reads those, not all.
    op.create_index('ix_inspection_ng_captured', 'inspection', ['captured_at'], postgresql_where=NG, sqlite_where=NG)
    op.create_index('ix_rework_loop_opened_at', 'rework_loop', ['opened_at'])
    op.create_index('ix_rework_loop_repaired_at', 'rework_loop', ['repaired_at'])


def downgrade() -> None:
    op.drop_index('ix_rework_loop_repaired_at', table_name='rework_loop')
    op.drop_index('ix_rework_loop_opened_at', table_name='rework_loop')
    op.drop_index('ix_inspection_ng_captured', table_name='inspection')
