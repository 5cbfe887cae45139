"""cell triage: REVIEW verdict, per-cell decision and p(defect), every cell's scores

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 23:55:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('inspection', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('review_cells', sa.SmallInteger(), server_default='0', nullable=False))
        batch_op.add_column(sa.Column('cell_scores', sa.JSON(), nullable=True))
    if op.get_bind().dialect.name != 'sqlite':  # SQLite does not enforce VARCHAR lengths (see env.py)
        op.alter_column('inspection', 'verdict', type_=sa.String(length=6), existing_type=sa.String(length=5), existing_nullable=False)
    with op.batch_alter_table('cell_defect', schema=None, recreate='never') as batch_op:
        # v1 rows: a stored defect was NG or tolerated; the backfill below says which.
        batch_op.add_column(sa.Column('decision', sa.String(length=6), server_default='NG', nullable=False))
        batch_op.add_column(sa.Column('p_defect', sa.Float(), nullable=True))
    op.execute("UPDATE cell_defect SET decision = 'OK' WHERE ng = false")


def downgrade() -> None:
    with op.batch_alter_table('cell_defect', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('p_defect')
        batch_op.drop_column('decision')
    if op.get_bind().dialect.name != 'sqlite':
        op.alter_column('inspection', 'verdict', type_=sa.String(length=5), existing_type=sa.String(length=6), existing_nullable=False)
    with op.batch_alter_table('inspection', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('cell_scores')
        batch_op.drop_column('review_cells')
