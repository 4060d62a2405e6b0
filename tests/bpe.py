"""A stand-in for tiktoken's Encoding that records what the BPE is asked to encode (tests count work, not time),
and the regular expression of long runs the token counter's tables are checked against."""

from functools import lru_cache

import regex

from convostore.tokens import _CLASSES


@lru_cache(maxsize=8)
def long_run_re(length: int) -> regex.Pattern:
    """Runs of ``length`` or more characters of one class of convostore.tokens._CLASSES, each found once at its
    first character: the definition convostore.tokens._runs implements with numpy tables."""
    return regex.compile("|".join(f"(?<!{c}){c}{{{length},}}" for c in _CLASSES))


class FeedLog:
    """Wraps a real Encoding; ``fed`` lists every string given to ``encode_ordinary``, in order."""

    def __init__(self, real, fed: list | None = None):
        self.real, self.fed = real, [] if fed is None else fed

    def encode_ordinary(self, text):
        self.fed.append(text)
        return self.real.encode_ordinary(text)

    def __getattr__(self, name):  # everything else (token_byte_values, ...) is the real Encoding's
        return getattr(self.real, name)
