"""Prometheus metrics of an edge worker."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

IMAGES = Counter("eltrace_edge_images_total", "Images judged", ["verdict"])
REJECTED = Counter("eltrace_edge_files_rejected_total", "Files refused before judging (no valid barcode)")
LATENCY = Histogram(
    "eltrace_edge_image_seconds",
    "Decode + segment + infer + decide per image",
    buckets=(0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1, 2),
)
OUTBOX = Gauge("eltrace_edge_outbox_results", "Results not yet confirmed by the API")
SENT = Counter("eltrace_edge_results_sent_total", "XADDs (first sends and re-sends)")
CONFIRMED = Counter("eltrace_edge_results_confirmed_total", "Results the API confirmed stored")
RESENT = Counter("eltrace_edge_results_resent_total", "Re-sends of results whose stream entry was gone")
PARKED = Counter("eltrace_edge_results_parked_total", "Rows refused for good and parked with their reason")
DISK_FULL = Gauge("eltrace_edge_disk_full", "1 while the outbox disk is full and new images wait unjudged")
MODEL_SWITCHES = Counter("eltrace_edge_model_switches_total", "Live model switches made on the API's assignment")
MODEL_REFUSED = Counter("eltrace_edge_model_refused_total", "Assigned models refused (bad signature, file or metadata)")
