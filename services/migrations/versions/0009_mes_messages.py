"""single MES messages (idempotent by the MES's own id)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02 15:30:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.core.time

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('mes_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('kind', sa.String(length=20), nullable=False),
    sa.Column('mes_id', sa.String(length=100), nullable=False),
    sa.Column('payload_sha256', sa.String(length=64), nullable=False),
    sa.Column('outcome', sa.String(length=20), nullable=False),
    sa.Column('received_at', services.core.time.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_mes_message')),
    sa.UniqueConstraint('source', 'kind', 'mes_id', name='uq_mes_message_source_kind_id')
    )


def downgrade() -> None:
    op.drop_table('mes_message')
