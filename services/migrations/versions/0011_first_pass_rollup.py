"""first-pass flags on inspections and the daily first-pass roll-up the dashboard reads

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 08:00:00
"""
from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Plain ALTER TABLE, not a batch: SQLite adds a column with a constant default in place, where a
    # batch rebuild of this table would trip the foreign keys of the rows pointing at it.
    op.add_column('inspection', sa.Column('first_pass', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.add_column('inspection', sa.Column('first_of_module', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table('first_pass_day',
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('station_code', sa.String(length=40), nullable=False),
    sa.Column('shift', sa.String(length=20), nullable=False),
    sa.Column('verdict', sa.String(length=6), nullable=False),
    sa.Column('strings', sa.Integer(), nullable=False),
    sa.Column('modules', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'station_code', 'shift', 'verdict')
    )
    # Existing history: a string's (a module's) first look is its earliest string EL capture, as ingest decides.
    earlier = (
        "SELECT 1 FROM inspection j WHERE j.module_id = inspection.module_id AND j.stage = 'string_el'{same_string}"
        " AND (j.captured_at < inspection.captured_at OR (j.captured_at = inspection.captured_at AND j.id < inspection.id))"
    )
    for flag, same_string in (('first_pass', ' AND j.string_position = inspection.string_position'), ('first_of_module', '')):
        op.execute(
            f"UPDATE inspection SET {flag} = true WHERE stage = 'string_el'"
            f" AND NOT EXISTS ({earlier.format(same_string=same_string)})"
        )
    zone = ZoneInfo(os.environ.get('ELTRACE_PLANT_TIMEZONE', 'Asia/Shanghai'))
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT captured_at, station_code, shift, verdict, first_of_module FROM inspection WHERE first_pass"
    ))
    strings: Counter[tuple[str, str, str, str]] = Counter()
    modules: Counter[tuple[str, str, str, str]] = Counter()
    for at, station, shift, verdict, first_of_module in rows:
        key = (_utc(at).astimezone(zone).date().isoformat(), station, shift or '?', verdict)
        strings[key] += 1
        modules[key] += int(bool(first_of_module))
    table = sa.table('first_pass_day', *(sa.column(c) for c in ('day', 'station_code', 'shift', 'verdict', 'strings', 'modules')))
    if strings:
        op.bulk_insert(table, [
            {'day': d, 'station_code': st, 'shift': sh, 'verdict': v, 'strings': n, 'modules': modules[(d, st, sh, v)]}
            for (d, st, sh, v), n in strings.items()
        ])


def _utc(at: datetime | str) -> datetime:
    """Stored instants are UTC; SQLite hands them back as naive text."""
    value = datetime.fromisoformat(at) if isinstance(at, str) else at
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def downgrade() -> None:
    op.drop_table('first_pass_day')
    # Not a batch either (SQLite 3.35+ drops a column in place).
    op.drop_column('inspection', 'first_of_module')
    op.drop_column('inspection', 'first_pass')
