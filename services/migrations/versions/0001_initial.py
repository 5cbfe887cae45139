"""initial schema: stations, devices, modules, inspections, defects, images

Revision ID: 0001
Revises: 
Create Date: 2026-11-25 17:08:59.313028
"""
from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import services.core.time

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('module',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('barcode', sa.String(length=64), nullable=False),
    sa.Column('created_at', services.core.time.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_module')),
    sa.UniqueConstraint('barcode', name=op.f('uq_module_barcode'))
    )
    op.create_table('station',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('factory', sa.String(length=40), nullable=False),
    sa.Column('line', sa.String(length=40), nullable=False),
    sa.Column('created_at', services.core.time.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_station')),
    sa.UniqueConstraint('code', name=op.f('uq_station_code'))
    )
    op.create_table('stored_image',
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('size_bytes', sa.BigInteger(), nullable=False),
    sa.Column('content_type', sa.String(length=50), nullable=False),
    sa.Column('stored_at', services.core.time.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('sha256', name=op.f('pk_stored_image'))
    )
    with op.batch_alter_table('stored_image', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_stored_image_stored_at'), ['stored_at'], unique=False)

    op.create_table('device',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('station_id', sa.Integer(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', services.core.time.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['station_id'], ['station.id'], name=op.f('fk_device_station_id_station')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device')),
    sa.UniqueConstraint('code', name=op.f('uq_device_code'))
    )
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_station_id'), ['station_id'], unique=False)

    op.create_table('device_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('api_key_hash', sa.String(length=64), nullable=False),
    sa.Column('created_at', services.core.time.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', services.core.time.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_device_key_device_id_device')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_key')),
    sa.UniqueConstraint('key_id', name=op.f('uq_device_key_key_id'))
    )
    with op.batch_alter_table('device_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_key_device_id'), ['device_id'], unique=False)

    op.create_table('inspection',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('result_id', sa.String(length=36), nullable=False),
    sa.Column('module_id', sa.Integer(), nullable=False),
    sa.Column('device_id', sa.Integer(), nullable=False),
    sa.Column('station_code', sa.String(length=40), nullable=False),
    sa.Column('string_position', sa.SmallInteger(), nullable=False),
    sa.Column('stage', sa.String(length=30), nullable=False),
    sa.Column('captured_at', services.core.time.UTCDateTime(timezone=True), nullable=False),
    sa.Column('received_at', services.core.time.UTCDateTime(timezone=True), nullable=False),
    sa.Column('recipe', sa.String(length=60), nullable=False),
    sa.Column('grid_rows', sa.SmallInteger(), nullable=False),
    sa.Column('grid_cols', sa.SmallInteger(), nullable=False),
    sa.Column('model_name', sa.String(length=100), nullable=False),
    sa.Column('model_version', sa.String(length=50), nullable=False),
    sa.Column('model_sha256', sa.String(length=64), nullable=False),
    sa.Column('verdict', sa.String(length=5), nullable=False),
    sa.Column('error', sa.String(length=500), nullable=True),
    sa.Column('ng_cells', sa.SmallInteger(), nullable=False),
    sa.Column('image_sha256', sa.String(length=64), nullable=False),
    sa.Column('image_uploaded', sa.Boolean(), nullable=False),
    sa.Column('overlay_sha256', sa.String(length=64), nullable=True),
    sa.Column('image_width', sa.Integer(), nullable=True),
    sa.Column('image_height', sa.Integer(), nullable=True),
    sa.Column('timings_ms', sa.JSON(), nullable=False),
    sa.Column('schema_version', sa.SmallInteger(), nullable=False),
    sa.ForeignKeyConstraint(['device_id'], ['device.id'], name=op.f('fk_inspection_device_id_device')),
    sa.ForeignKeyConstraint(['module_id'], ['module.id'], name=op.f('fk_inspection_module_id_module')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inspection')),
    sa.UniqueConstraint('result_id', name=op.f('uq_inspection_result_id'))
    )
    with op.batch_alter_table('inspection', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_inspection_captured_at'), ['captured_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_device_id'), ['device_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_inspection_image_sha256'), ['image_sha256'], unique=False)
        batch_op.create_index('ix_inspection_module_captured', ['module_id', 'captured_at'], unique=False)

    op.create_table('cell_defect',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('inspection_id', sa.Integer(), nullable=False),
    sa.Column('row', sa.SmallInteger(), nullable=False),
    sa.Column('col', sa.SmallInteger(), nullable=False),
    sa.Column('cls', sa.String(length=40), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('ng', sa.Boolean(), nullable=False),
    sa.Column('box_x', sa.Integer(), nullable=False),
    sa.Column('box_y', sa.Integer(), nullable=False),
    sa.Column('box_w', sa.Integer(), nullable=False),
    sa.Column('box_h', sa.Integer(), nullable=False),
    sa.Column('defect_box', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['inspection_id'], ['inspection.id'], name=op.f('fk_cell_defect_inspection_id_inspection'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cell_defect'))
    )
    with op.batch_alter_table('cell_defect', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cell_defect_inspection_id'), ['inspection_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('cell_defect', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cell_defect_inspection_id'))

    op.drop_table('cell_defect')
    with op.batch_alter_table('inspection', schema=None) as batch_op:
        batch_op.drop_index('ix_inspection_module_captured')
        batch_op.drop_index(batch_op.f('ix_inspection_image_sha256'))
        batch_op.drop_index(batch_op.f('ix_inspection_device_id'))
        batch_op.drop_index(batch_op.f('ix_inspection_captured_at'))

    op.drop_table('inspection')
    with op.batch_alter_table('device_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_key_device_id'))

    op.drop_table('device_key')
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_station_id'))

    op.drop_table('device')
    with op.batch_alter_table('stored_image', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_stored_image_stored_at'))

    op.drop_table('stored_image')
    op.drop_table('station')
    op.drop_table('module')
