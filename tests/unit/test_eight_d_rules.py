"""The 8D form rules on their own: what counts as filled in, the containment numbers, the shapes a field accepts."""

from __future__ import annotations

from typing import Any

import pytest

from services.complaints import eight_d
from services.core.errors import InvalidInput

LOCS = eight_d.LOCATIONS


def _d3(**row: Any) -> dict[str, Any]:
    base = {"suspect": 10, "checked": 10, "bad": 1, "verified": True}
    rows = [{"location": loc, **base} for loc in LOCS]
    rows[0] = {"location": LOCS[0], **{**base, **row}}
    for key in [k for k, v in row.items() if v is None]:
        del rows[0][key]
    return {"locations": rows, "actions": "hold", "verification": "re-test"}


def test_what_counts_as_filled_in() -> None:
    d1 = {"champion": "pm", "leader": "qe1"}
    assert eight_d.missing_fields("D1", {**d1, "members": ["qe1"]}) == []  # one member is enough
    assert eight_d.missing_fields("D1", {**d1, "members": []}) == ["Members (one per line)"]
    assert eight_d.missing_fields("D1", {**d1, "members": ["qe1"], "leader": "  "}) == ["Team leader"]
    assert eight_d.missing_fields("D0", {"actions": 5, "customer_informed": "phone"}) == []  # a value is a value
    d2 = {k: "x" for k in ("what", "where", "when", "who", "why", "how", "how_many")}
    half = [{"dimension": "lot", "is": "CL-1", "is_not": ""}]
    assert eight_d.missing_fields("D2", {**d2, "is_is_not": half}) == ["IS / IS NOT (dimension | is | is not, one per line)"]
    both = [{"dimension": "lot", "is": "CL-1", "is_not": "CL-2"}]
    assert eight_d.missing_fields("D2", {**d2, "is_is_not": both}) == []


@pytest.mark.parametrize(
    "row, problem",
    [
        ({"suspect": 0, "checked": 0, "bad": 0}, None),  # nothing suspect at a location is a valid answer
        ({"suspect": 5, "checked": 5, "bad": 5}, None),  # every checked one bad: still consistent
        ({"suspect": 5, "checked": 6, "bad": 1}, "numbers"),
        ({"suspect": 5, "checked": 5, "bad": 6}, "numbers"),
        ({"suspect": -1, "checked": 0, "bad": 0}, "numbers"),
        ({"suspect": None, "checked": 0, "bad": 0}, "numbers"),  # a number left out is not zero
        ({"checked": None, "bad": 0}, "numbers"),
        ({"bad": None}, "numbers"),
        ({"suspect": "many"}, "numbers"),
        ({"verified": False}, "verified"),
    ],
)
def test_containment_numbers_at_their_edges(row: dict[str, Any], problem: str | None) -> None:
    missing = eight_d.missing_fields("D3", _d3(**row))
    if problem is None:
        assert missing == []
    else:
        assert len(missing) == 1 and problem in missing[0] and LOCS[0] in missing[0]


@pytest.mark.parametrize(
    "code, data, accepted",
    [
        ("D0", {"actions": None}, True),  # clearing a text field
        ("D0", {"actions": "x" * 10_000}, True),
        ("D0", {"actions": "x" * 10_001}, False),
        ("D0", {"actions": 5}, False),
        ("D1", {"members": ["x" * 500]}, True),
        ("D1", {"members": ["x" * 501]}, False),
        ("D1", {"members": "qe1"}, False),  # a text is not a list of texts
        ("D1", {"members": [1]}, False),
        ("D2", {"is_is_not": [{"dimension": "a", "is": "b", "is_not": "c"}] * 50}, True),
        ("D2", {"is_is_not": [{"dimension": "a", "is": "b", "is_not": "c"}] * 51}, False),
        ("D2", {"is_is_not": {"dimension": "a"}}, False),
        ("D2", {"is_is_not": ["a | b | c"]}, False),
        ("D6", {"containment_removed": True}, True),
        ("D6", {"containment_removed": "yes"}, False),
        ("D0", {"colour": "red"}, False),
    ],
)
def test_the_shapes_a_field_accepts(code: str, data: dict[str, Any], accepted: bool) -> None:
    if accepted:
        assert eight_d.validate_data(code, data) == data
    else:
        with pytest.raises(InvalidInput):
            eight_d.validate_data(code, data)
