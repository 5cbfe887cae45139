"""The ingest step: record a batch of results and move the rework loops, in the caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from services.contracts import ResultEnvelope
from services.inspection.repository import stored_summaries
from services.inspection.service import record_results
from services.rework.service import apply_results


def store_batch(
    *, session: Session, items: Sequence[tuple[ResultEnvelope, int]], loop_limit: int, plant_timezone: str = "UTC"
) -> list[str]:
    """Insert new results (duplicates ignored) and apply them to the loops; returns the result_ids that were new.

    A result and its consequences (a loop opened, closed or failed) land together or not at all.
    """
    new = record_results(session=session, items=items, plant_timezone=plant_timezone)
    apply_results(session=session, result_ids=new, loop_limit=loop_limit)
    return new


def differing_duplicates(*, session: Session, envelopes: Sequence[ResultEnvelope]) -> dict[int, str]:
    """Copies whose content differs from what is stored under their result_id: position in `envelopes` -> why.

    The same capture always has the same result_id; another verdict, model or time under it is not a
    redelivery but a second judgement (or a forgery), and must not vanish as a duplicate.
    """
    stored = stored_summaries(session, [e.result_id for e in envelopes])
    out: dict[int, str] = {}
    for pos, env in enumerate(envelopes):
        have = stored.get(env.result_id)
        if have is None:
            continue
        verdict, model_sha, ng, at = have
        now = (env.verdict.value, env.model.sha256, sum(1 for c in env.cells if c.ng), env.captured_at)
        if (verdict, model_sha, ng) != now[:3] or at != env.captured_at:
            out[pos] = (
                f"result_id already stored with different content: stored {verdict} ({ng} NG cells, model {model_sha[:12]},"
                f" {at.isoformat()}), this one {now[0]} ({now[2]} NG cells, model {now[1][:12]}, {now[3].isoformat()})"
            )
    return out
