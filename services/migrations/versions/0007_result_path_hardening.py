"""result path hardening: the loop step's own idempotency marker, refused results for the edge;
the login throttle shared by API processes; revocable tokens

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 06:00:00
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from services.core.time import UTCDateTime

revision: str = '0007'
down_revision: str | None = '0006'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('inspection', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('rework_applied_at', UTCDateTime(timezone=True), nullable=True))
    # Every result stored before this revision went through the loop in its ingest transaction.
    op.execute('UPDATE inspection SET rework_applied_at = received_at')
    op.create_table(
        'refused_result',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('device_id', sa.Integer(), nullable=False),
        sa.Column('result_id', sa.String(length=64), nullable=False),
        sa.Column('stream_id', sa.String(length=40), nullable=False),
        sa.Column('key_id', sa.String(length=64), nullable=True),
        sa.Column('reason', sa.String(length=500), nullable=False),
        sa.Column('refused_at', UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_refused_result_device_id_device')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_refused_result')),
    )
    op.create_index('ix_refused_result_device_result', 'refused_result', ['device_id', 'result_id'], unique=False)
    op.create_table(
        'login_failure',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('address', sa.String(length=64), nullable=False),
        sa.Column('at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failure')),
    )
    op.create_index('ix_login_failure_address_at', 'login_failure', ['address', 'at'], unique=False)
    with op.batch_alter_table('app_user', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('tokens_valid_after', UTCDateTime(timezone=True), nullable=True))
    op.create_table(
        'revoked_token',
        sa.Column('jti', sa.String(length=32), nullable=False),
        sa.Column('expires_at', UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('jti', name=op.f('pk_revoked_token')),
    )
    op.create_index(op.f('ix_revoked_token_expires_at'), 'revoked_token', ['expires_at'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_revoked_token_expires_at'), table_name='revoked_token')
    op.drop_table('revoked_token')
    with op.batch_alter_table('app_user', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('tokens_valid_after')
    op.drop_index('ix_login_failure_address_at', table_name='login_failure')
    op.drop_table('login_failure')
    op.drop_index('ix_refused_result_device_result', table_name='refused_result')
    op.drop_table('refused_result')
    with op.batch_alter_table('inspection', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('rework_applied_at')
