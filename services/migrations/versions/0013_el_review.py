"""EL review: per-cell decisions, completed reviews, and an index on the REVIEW images waiting

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03 20:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.core.time import UTCDateTime

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

REVIEW = sa.text("verdict = 'REVIEW'")


def upgrade() -> None:
    op.create_table(
        'cell_review',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('defect_id', sa.Integer(), nullable=False),
        sa.Column('inspection_id', sa.Integer(), nullable=False),
        sa.Column('decision', sa.String(length=6), nullable=False),
        sa.Column('cls', sa.String(length=40), nullable=False),
        sa.Column('model_cls', sa.String(length=40), nullable=False),
        sa.Column('model_version', sa.String(length=50), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('station', sa.String(length=40), nullable=False),
        sa.Column('at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['defect_id'], ['cell_defect.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['inspection_id'], ['inspection.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('defect_id'),
    )
    op.create_index(op.f('ix_cell_review_inspection_id'), 'cell_review', ['inspection_id'], unique=False)
    op.create_table(
        'string_review',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('inspection_id', sa.Integer(), nullable=False),
        sa.Column('verdict', sa.String(length=6), nullable=False),
        sa.Column('defects', sa.SmallInteger(), nullable=False),
        sa.Column('cleared', sa.SmallInteger(), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('station', sa.String(length=40), nullable=False),
        sa.Column('at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('wait_s', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['inspection_id'], ['inspection.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('inspection_id'),
    )
    # Partial: the review queue reads the few REVIEW images of a station, oldest first.
    op.create_index(
        'ix_inspection_review_waiting', 'inspection', ['station_code', 'captured_at'], postgresql_where=REVIEW, sqlite_where=REVIEW
    )


def downgrade() -> None:
    op.drop_index('ix_inspection_review_waiting', table_name='inspection')
    op.drop_table('string_review')
    op.drop_index(op.f('ix_cell_review_inspection_id'), table_name='cell_review')
    op.drop_table('cell_review')
