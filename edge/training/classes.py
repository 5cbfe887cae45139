"""The cell classes the classifier knows: 'ok' plus the 12 defect types of the product brief."""

from __future__ import annotations

OK = "ok"
DEFECT_CLASSES: tuple[str, ...] = (
    "crack",
    "star_crack",
    "broken_cell",
    "finger_interruption",
    "pseudo_soldering",
    "black_core",
    "dark_spot",
    "dark_cell",
    "dead_cell",
    "scratch",
    "edge_chip",
    "black_edge",
)
CLASSES: tuple[str, ...] = (OK, *DEFECT_CLASSES)
LABELS = {
    "ok": "OK",
    "crack": "crack",
    "star_crack": "star crack",
    "broken_cell": "broken cell / inactive fragment",
    "finger_interruption": "finger interruption",
    "pseudo_soldering": "pseudo-soldering (cold joint)",
    "black_core": "black core",
    "dark_spot": "dark spot / contamination",
    "dark_cell": "dark (low-efficiency) cell",
    "dead_cell": "short-circuit / dead cell",
    "scratch": "scratch",
    "edge_chip": "corner / edge chip",
    "black_edge": "black edge",
}
