"""Token counts come from tiktoken's own o200k/cl100k encodings, offline, and never change for fixed text."""

import pytest

from convostore import tokens

SAMPLES = [
    "hello world!",
    "Héllo — wörld, 12345 tokens; naïve café 🙂",
    "def f(x):\n    return x**2  # ok\r\n\n\n",
    "<|endoftext|> is plain text here",
    "   leading and trailing   ",
    "日本語のテキストと中文文本",
    "I'm you're we'll they've she'd",
    "a" * 1000,
    "!" * 777,
]
# Counted with the encodings as OpenAI publishes them (tiktoken checks the files' SHA-256).
EXPECTED = {
    "o200k_base": [3, 17, 14, 11, 5, 9, 5, 125, 50],
    "cl100k_base": [3, 17, 14, 11, 5, 13, 10, 125, 98],
}


@pytest.mark.parametrize("encoding", tokens.ENCODINGS)
def test_counts_of_fixed_strings(encoding):
    assert [tokens.count_text(text, encoding=encoding) for text in SAMPLES] == EXPECTED[encoding]


def test_unknown_encoding_is_refused():
    with pytest.raises(tokens.UnknownEncoding):
        tokens.get_encoding("p50k_base")


def test_encodings_are_tiktokens_own():
    """The pattern and special tokens are tiktoken's (its openai_public plugin), not a copy kept here."""
    from tiktoken_ext import openai_public

    for name in tokens.ENCODINGS:
        encoding = tokens.get_encoding(name)
        spec = getattr(openai_public, name)()
        assert encoding._pat_str == spec["pat_str"] and encoding._special_tokens == spec["special_tokens"]
