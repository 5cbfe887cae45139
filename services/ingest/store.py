"""The ingest step: record a batch of results and move the rework loops, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from services.contracts import ResultEnvelope
from services.inspection.service import record_results
from services.rework.service import apply_results


def store_batch(*, session: Session, items: Sequence[tuple[ResultEnvelope, int]], loop_limit: int) -> list[str]:
    """Insert new results (duplicates ignored) and apply them to the loops; returns the result_ids that were new.

    A result and its consequences (a loop opened, closed or failed) land together or not at all.
    """
    new = record_results(session=session, items=items)
    apply_results(session=session, result_ids=new, loop_limit=loop_limit)
    return new
