"""Relevance gates, chosen by dotted path (CONVOSTORE["RECALL_GATE"]): keep or drop each recall candidate."""

from __future__ import annotations

import json
import logging
import re

from django.conf import settings
from django.utils.module_loading import import_string

from convostore import openai_client

logger = logging.getLogger(__name__)


class RelevanceGate:
    """Keeps or drops each recall candidate (archive_app.selectors.Recalled) before it is used."""

    def filter(self, *, query: str, candidates: list) -> list:
        return candidates


class OpenAICompatibleRelevanceGate(RelevanceGate):
    """Asks an OpenAI-compatible chat endpoint which candidates are relevant to the new message.

    Fails open: when the endpoint is down or answers nonsense, the candidates are used ungated.
    """

    prompt = (
        "You filter memories for an assistant. Given the user's new message and numbered memories, answer with "
        'JSON only: {"keep": [numbers of the memories that help answer the message]}.'
    )

    def __init__(self, *, base_url=None, api_key=None, model=None, timeout=None, retries=None):
        config = settings.CONVOSTORE
        self.base_url = base_url if base_url is not None else config.get("OPENAI_BASE_URL", "")
        self.api_key = api_key if api_key is not None else config.get("OPENAI_API_KEY", "")
        self.model = model or config.get("RECALL_GATE_MODEL") or config.get("SUMMARY_MODEL", "gpt-4o-mini")
        self.timeout = timeout if timeout is not None else config.get("RECALL_GATE_TIMEOUT_SECONDS", 5.0)
        self.retries = retries if retries is not None else 0

    def filter(self, *, query: str, candidates: list) -> list:
        if not candidates:
            return candidates
        listing = "\n".join(f"{number}. {candidate.excerpt[:1000]}" for number, candidate in enumerate(candidates, 1))
        messages = [
            {"role": "system", "content": self.prompt},
            {"role": "user", "content": f"New message:\n{query}\n\nMemories:\n{listing}"},
        ]
        try:
            answer = openai_client.chat_text(base_url=self.base_url, api_key=self.api_key, model=self.model,
                                             messages=messages, max_tokens=200, timeout=self.timeout, retries=self.retries)
            keep = _kept_numbers(answer)
        except (openai_client.OpenAIError, ValueError) as exc:
            logger.warning("relevance gate failed, using candidates ungated: %s", exc)
            return candidates
        return [candidate for number, candidate in enumerate(candidates, 1) if number in keep]


def _kept_numbers(answer: str) -> set[int]:
    match = re.search(r"\{.*\}", answer, re.DOTALL)
    if not match:
        raise ValueError(f"gate answer is not JSON: {answer[:100]!r}")
    keep = json.loads(match.group(0)).get("keep")
    if not isinstance(keep, list):
        raise ValueError("gate answer has no 'keep' list")
    return {int(number) for number in keep if isinstance(number, (int, str)) and str(number).isdigit()}


def get_gate() -> RelevanceGate | None:
    """The configured relevance gate (CONVOSTORE["RECALL_GATE"], a dotted path), or None: off by default."""
    path = settings.CONVOSTORE.get("RECALL_GATE", "")
    return import_string(path)() if path else None
