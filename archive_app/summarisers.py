"""Summarisers, chosen by dotted path (CONVOSTORE["SUMMARISER"]): a local extractive default and any OpenAI-compatible chat endpoint."""

from __future__ import annotations

import json
import logging
import math
import re
from collections import Counter

from django.conf import settings
from django.utils.module_loading import import_string

from convostore import openai_client

logger = logging.getLogger(__name__)

_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+|\n+")
_WORD = re.compile(r"[^\W_]{3,}", re.UNICODE)
_STOPWORDS = frozenset(
    "the and for are but not you your with this that these those from have has had was were will would could should "
    "can what when where which who why how all any some into onto over under then than them they their there here "
    "its it's our out about just also very been being does did doing done get got let may might must shall".split()
)


class SummariserError(Exception):
    """The summariser could not produce a summary; the previous summary stays in place."""


def item_text(item: dict) -> str:
    """One line a reader (or a model) can follow: role or call name, then the item's text."""
    kind = item.get("type", "message")
    if kind == "message":
        return f"{item.get('role', 'unknown')}: {_content_text(item.get('content'))}".strip()
    if kind.endswith("_call_output"):
        return f"tool output: {_content_text(item.get('output'))}".strip()
    if kind.endswith("_call"):
        arguments = item.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments, sort_keys=True, ensure_ascii=False) if arguments is not None else ""
        return f"tool call {item.get('name', kind)}({arguments})"
    return f"{kind}: {_content_text(item.get('summary') or item.get('content'))}".strip()


def _content_text(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    if content is None:
        return ""
    return json.dumps(content, sort_keys=True, ensure_ascii=False)


class BaseSummariser:
    """summarise(previous summary, turns that left the verbatim window) -> the next summary."""

    name = "base"
    model = ""

    def summarise(self, *, previous: str, turns: list[dict]) -> str:
        raise NotImplementedError

    @property
    def label(self) -> str:
        return f"{self.name}:{self.model}" if self.model else self.name


class ExtractiveSummariser(BaseSummariser):
    """Local default: keeps the most informative sentences (word-frequency scoring), in order. No network.

    Deterministic: the same input always gives the same summary.
    """

    name = "extractive"

    def __init__(self, *, max_chars: int | None = None, max_sentence_chars: int = 300):
        self.max_chars = max_chars or settings.CONVOSTORE.get("SUMMARY_MAX_CHARS", 2000)
        self.max_sentence_chars = max_sentence_chars

    def summarise(self, *, previous: str, turns: list[dict]) -> str:
        units = [line.strip() for line in previous.splitlines() if line.strip()]
        for turn in turns:
            text = item_text(turn)
            role, _, body = text.partition(": ") if ": " in text[:40] else ("", "", text)
            for sentence in _SENTENCE_SPLIT.split(body):
                sentence = " ".join(sentence.split())
                if sentence:
                    sentence = sentence[: self.max_sentence_chars]
                    units.append(f"{role}: {sentence}" if role else sentence)
        if not units:
            return previous
        frequency = Counter(word for unit in units for word in self._words(unit))
        scores = []
        for position, unit in enumerate(units):
            words = set(self._words(unit))
            score = sum(frequency[word] for word in words) / math.sqrt(len(words) + 1)
            scores.append((-score, position))
        chosen, size = set(), 0
        for _, position in sorted(scores):
            cost = len(units[position]) + 1
            if size + cost > self.max_chars:
                continue
            chosen.add(position)
            size += cost
        return "\n".join(units[position] for position in sorted(chosen))

    @staticmethod
    def _words(text: str) -> list[str]:
        return [word for word in (w.lower() for w in _WORD.findall(text)) if word not in _STOPWORDS]


class OpenAICompatibleSummariser(BaseSummariser):
    """Any OpenAI-compatible /v1/chat/completions endpoint (vLLM, OpenAI) through the openai SDK (convostore.openai_client).

    ``retries`` and ``timeout`` (seconds per attempt) go to the SDK; a failure after them is SummariserError.
    """

    name = "openai"
    prompt = (
        "You keep a running summary of a conversation between a user and an assistant. Update the previous "
        "summary with the new turns. Keep facts, names, numbers, decisions, tool results and open questions; "
        "drop pleasantries. Answer with the updated summary only."
    )

    def __init__(self, *, base_url=None, api_key=None, model=None, timeout=None, retries=None, max_tokens=None):
        config = settings.CONVOSTORE
        self.base_url = base_url if base_url is not None else config.get("OPENAI_BASE_URL", "")
        self.api_key = api_key if api_key is not None else config.get("OPENAI_API_KEY", "")
        self.model = model or config.get("SUMMARY_MODEL", "gpt-4o-mini")
        self.timeout = timeout if timeout is not None else config.get("SUMMARY_TIMEOUT_SECONDS", 30.0)
        self.retries = retries if retries is not None else config.get("SUMMARY_RETRIES", 2)
        self.max_tokens = max_tokens or config.get("SUMMARY_MAX_TOKENS", 512)

    def summarise(self, *, previous: str, turns: list[dict]) -> str:
        transcript = "\n".join(item_text(turn) for turn in turns)
        messages = [
            {"role": "system", "content": self.prompt},
            {"role": "user", "content": f"Previous summary:\n{previous or '(none)'}\n\nNew turns:\n{transcript}"},
        ]
        try:
            return openai_client.chat_text(base_url=self.base_url, api_key=self.api_key, model=self.model, messages=messages,
                                           max_tokens=self.max_tokens, timeout=self.timeout, retries=self.retries)
        except (openai_client.OpenAIError, ValueError) as exc:
            raise SummariserError(f"chat completion at {self.base_url} failed: {exc}") from exc


def get_summariser() -> BaseSummariser:
    """The configured summariser (CONVOSTORE["SUMMARISER"], a dotted path to a BaseSummariser subclass)."""
    return import_string(settings.CONVOSTORE["SUMMARISER"])()
