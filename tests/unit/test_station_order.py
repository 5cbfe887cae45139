"""The rework station's defect order."""

from __future__ import annotations


def test_the_station_walks_string_by_string_sure_defects_first_then_by_cell() -> None:
    from services.rework.schemas import LoopDefect
    from services.rework.views import order_for_station

    def d(pos: int, row: int, col: int, score: float, area: int = 100) -> LoopDefect:
        return LoopDefect(
            loop_id=pos, defect_id=pos * 100 + row * 10 + col, string_position=pos, row=row, col=col,
            cls="crack", score=score, box=[0, 0, 1, 1], defect_box=None, area=area,
        )  # fmt: skip

    cells = [d(2, 1, 1, 0.99), d(1, 1, 9, 0.5, area=90_000), d(1, 1, 3, 0.95), d(1, 2, 1, 0.97), d(1, 1, 2, 0.6)]
    got = [(x.string_position, x.row, x.col) for x in order_for_station(cells)]
    assert got == [(1, 1, 3), (1, 2, 1), (1, 1, 2), (1, 1, 9), (2, 1, 1)]
