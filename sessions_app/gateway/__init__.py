"""Gateway mode: POST /v1/responses in front of a stateless OpenAI-compatible model server (see docs/gateway.md)."""
