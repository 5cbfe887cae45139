"""EL review: an operator confirms or clears the cells the model was unsure of (REVIEW -> NG / OK)."""
