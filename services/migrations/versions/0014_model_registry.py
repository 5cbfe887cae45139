"""model registry: registered model versions and station assignments (live / shadow) over time

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03 21:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.core.time import UTCDateTime

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'model_version',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('version', sa.String(length=50), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('size_bytes', sa.Integer(), nullable=False),
        sa.Column('meta', sa.JSON(), nullable=False),
        sa.Column('card', sa.Text(), nullable=False),
        sa.Column('evaluation', sa.JSON(), nullable=True),
        sa.Column('registered_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('registered_by', sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name', 'version', name='uq_model_version_name_version'),
        sa.UniqueConstraint('sha256'),
    )
    op.create_table(
        'station_model',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('station_code', sa.String(length=40), nullable=False),
        sa.Column('role', sa.String(length=10), nullable=False),
        sa.Column('model_version_id', sa.Integer(), nullable=False),
        sa.Column('since', UTCDateTime(timezone=True), nullable=False),
        sa.Column('until', UTCDateTime(timezone=True), nullable=True),
        sa.Column('by', sa.String(length=64), nullable=False),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.ForeignKeyConstraint(['model_version_id'], ['model_version.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_station_model_station_role', 'station_model', ['station_code', 'role', 'until'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_station_model_station_role', table_name='station_model')
    op.drop_table('station_model')
    op.drop_table('model_version')
