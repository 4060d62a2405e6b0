"""cache_app keeps its state in Redis; no tables."""
