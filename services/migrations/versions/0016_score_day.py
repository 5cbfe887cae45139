"""daily roll-up of the live model's cell scores per station, model version, decision and score bin (drift watch)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 02:00:00
"""
from __future__ import annotations

import json
import os
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision: str = '0016'
down_revision: str | None = '0015'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# services.contracts.scores.SCORE_EDGES as of this revision (a migration does not follow later code).
_EDGES = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 0.7, 0.9)


def upgrade() -> None:
    op.create_table('score_day',
    sa.Column('day', sa.String(length=10), nullable=False),
    sa.Column('station_code', sa.String(length=40), nullable=False),
    sa.Column('model_version', sa.String(length=50), nullable=False),
    sa.Column('decision', sa.String(length=6), nullable=False),
    sa.Column('bin', sa.SmallInteger(), nullable=False),
    sa.Column('cells', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('day', 'station_code', 'model_version', 'decision', 'bin')
    )
    # Existing history: every string EL image's cell scores, as ingest now counts them.
    zone = ZoneInfo(os.environ.get('ELTRACE_PLANT_TIMEZONE', 'Asia/Shanghai'))
    conn = op.get_bind()
    rows = conn.execute(sa.text(
        "SELECT captured_at, station_code, model_version, cell_scores FROM inspection"
        " WHERE stage = 'string_el' AND cell_scores IS NOT NULL"
    ))
    counts: Counter[tuple[str, str, str, str, int]] = Counter()
    for at, station, version, cells in rows:
        day = _utc(at).astimezone(zone).date().isoformat()
        for cell in json.loads(cells) if isinstance(cells, str) else cells:
            if cell[3] is not None:
                counts[(day, station, version, str(cell[2]), bisect_right(_EDGES, float(cell[3])))] += 1
    table = sa.table('score_day', *(sa.column(c) for c in ('day', 'station_code', 'model_version', 'decision', 'bin', 'cells')))
    if counts:
        op.bulk_insert(table, [
            {'day': d, 'station_code': st, 'model_version': v, 'decision': dec, 'bin': b, 'cells': n}
            for (d, st, v, dec, b), n in counts.items()
        ])


def _utc(at: datetime | str) -> datetime:
    """Stored instants are UTC; SQLite hands them back as naive text."""
    value = datetime.fromisoformat(at) if isinstance(at, str) else at
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def downgrade() -> None:
    op.drop_table('score_day')
