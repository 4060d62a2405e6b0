"""Lifecycle tasks: evict, enforce the hot budget, archive, purge."""
