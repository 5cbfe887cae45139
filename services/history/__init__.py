"""A module's whole life, assembled from every domain (one layer above them)."""
