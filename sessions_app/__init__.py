"""Tenants, API keys, conversations, items, responses; append, resolve and fork."""
