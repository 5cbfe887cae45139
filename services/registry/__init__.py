"""The model registry: model versions, and which one each station runs live or in shadow since when."""
