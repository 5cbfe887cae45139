"""Drift watch: the live model on the line, day by day, against its own control limits and its validation scores."""
