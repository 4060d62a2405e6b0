"""A stand-in for tiktoken's Encoding that records what the BPE is asked to encode (tests count work, not time)."""


class FeedLog:
    """Wraps a real Encoding; ``fed`` lists every string given to ``encode_ordinary``, in order."""

    def __init__(self, real, fed: list | None = None):
        self.real, self.fed = real, [] if fed is None else fed

    def encode_ordinary(self, text):
        self.fed.append(text)
        return self.real.encode_ordinary(text)

    def __getattr__(self, name):  # everything else (token_byte_values, ...) is the real Encoding's
        return getattr(self.real, name)
