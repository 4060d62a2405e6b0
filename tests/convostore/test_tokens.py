"""Token counts come from tiktoken's own o200k/cl100k encodings, offline, and never change for fixed text."""

import base64
import inspect
import json
import random

import numpy as np
import pytest
import regex

from convostore import tokens
from tests.bpe import FeedLog, long_run_re

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
    assert [len(tokens.encode(text, encoding=encoding)) for text in SAMPLES] == EXPECTED[encoding]
    # count_text is exact, except for a run of LONG_RUN characters of one class: its UTF-8 length.
    bounded = [len(text.encode()) if len(text) >= tokens.LONG_RUN and len(set(text)) == 1 else n for text, n in zip(SAMPLES, EXPECTED[encoding])]
    assert [tokens.count_text(text, encoding=encoding) for text in SAMPLES] == bounded


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


# --- Bounded work per byte: long runs never reach the BPE, and what replaces them is an upper bound. ---

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

# Every character class tiktoken's patterns tell apart, and the whitespace str.isspace() and White_Space disagree on.
ALPHABET = list(" \t\n\r\x0b\x1c\u00a0\u3000\u2028aZé\u0301s'1٣!/_-[]{}日本🙂\u200b")


@pytest.fixture
def fed(monkeypatch):
    logs, real = {}, tokens.get_encoding

    def spy(name=tokens.DEFAULT_ENCODING):
        return logs.setdefault(name, FeedLog(real(name)))

    monkeypatch.setattr(tokens, "get_encoding", spy)
    return logs


def _exact(text, encoding=tokens.DEFAULT_ENCODING):
    return len(tokens.get_encoding(encoding).encode_ordinary(text))


PATHOLOGICAL = {
    "one punctuation character": "!" * 300_000,
    "one letter": "a" * 300_000,
    "spaces": "x" + " " * 300_000 + "y",
    "newlines": "\n" * 300_000,
    "nesting in a string": "[" * 150_000 + "]" * 150_000,
    "letters and combining marks": "e\u0301" * 150_000,
    "punctuation then newlines and slashes": "!" + "\n/" * 150_000,
    "a word without spaces among prose": "Some prose. " * 1000 + "q" * 300_000 + " and more prose." * 1000,
}


@pytest.mark.parametrize("name", PATHOLOGICAL)
def test_the_bpe_is_never_fed_a_long_run(fed, name):
    """The reproduction of issue 19 (a megabyte of "!" took ~1 s of BPE): no run of LONG_RUN characters of
    one class reaches tiktoken, so the BPE's work per byte is that of ordinary text."""
    text = PATHOLOGICAL[name]
    tokens.count_text(text)
    for part in fed[tokens.DEFAULT_ENCODING].fed:
        assert long_run_re(tokens.LONG_RUN).search(part) is None, (name, len(part))
    assert sum(map(len, fed[tokens.DEFAULT_ENCODING].fed)) < 30_000  # prose around the run is still counted


@pytest.mark.parametrize("encoding", tokens.ENCODINGS)
@pytest.mark.parametrize("name", PATHOLOGICAL)
def test_a_bounded_count_is_never_below_the_exact_count(name, encoding):
    text = PATHOLOGICAL[name]
    assert tokens.count_text(text, encoding=encoding) >= _exact(text, encoding)


def test_ordinary_text_is_counted_exactly_in_one_call(fed):
    text = "The quick brown fox jumps over the lazy dog. " * 20_000
    expected = _exact(text)
    fed[tokens.DEFAULT_ENCODING].fed.clear()
    assert tokens.count_text(text) == expected
    parts = fed[tokens.DEFAULT_ENCODING].fed
    assert "".join(parts) == text and max(map(len, parts)) <= tokens.CHUNK + 100


def test_dense_text_is_sampled_then_bounded(fed):
    """base64 (~0.7 tokens per byte, ~4x prose's BPE cost): SAMPLE bytes are counted exactly, the rest as bytes."""
    text = base64.b64encode(random.Random(1).randbytes(300_000)).decode()
    text = " ".join(text[i:i + 76] for i in range(0, len(text), 76))
    expected = _exact(text)
    fed[tokens.DEFAULT_ENCODING].fed.clear()
    assert expected <= tokens.count_text(text) <= 2 * expected
    assert sum(map(len, fed[tokens.DEFAULT_ENCODING].fed)) <= tokens.SAMPLE + tokens.CHUNK


@pytest.mark.parametrize("alphabet", ["base64", "random unicode"])
def test_a_stretch_without_a_safe_cut_is_bounded_not_fed_whole(fed, alphabet):
    """No space to cut at, so neither chunking nor sampling applies: base64 or random unicode of 300 000
    characters went to the BPE in one call (~5x prose's time per byte in bench/abuse.py). Past NO_CUT
    characters such a stretch counts as its UTF-8 length."""
    rng = random.Random(7)
    if alphabet == "base64":
        text = base64.b64encode(rng.randbytes(225_000)).decode()
    else:
        text = "".join(chr(rng.choice([rng.randrange(0x4E00, 0x9FFF), rng.randrange(0x0400, 0x04FF), rng.randrange(0x1F300, 0x1F5FF)]))
                       for _ in range(300_000))
    expected = _exact(text)
    fed[tokens.DEFAULT_ENCODING].fed.clear()
    assert tokens.count_text(text) == len(text.encode("utf-8")) >= expected
    assert sum(map(len, fed[tokens.DEFAULT_ENCODING].fed)) == 0
    short = text[:4 * tokens.PROBE]  # up to 4 * PROBE characters: exact, unless rare (RARE_WINDOW's rule)
    if not tokens._runs(short, tokens.LONG_RUN, tokens.DEFAULT_ENCODING):
        assert tokens.count_text(short) == _exact(short)
    else:
        assert alphabet == "random unicode" and tokens.count_text(short) == len(short.encode("utf-8"))


# --- A chunk without a safe cut is probed: dense (text the vocabulary barely knows) counts as bytes. ---

_ZH = "今天天气很好，我们一起去公园散步。公园里有很多人，有的在跑步，有的在下棋，还有的在唱歌。孩子们在草地上玩耍，老人们坐在长椅上聊天。"
_JA = "今日はとても良い天気なので、友達と一緒に公園へ散歩に行きました。桜の花がきれいに咲いていて、多くの人が写真を撮っていました。"


def _random_points(low, high, count, seed):
    rng = random.Random(seed)
    points = (rng.randint(low, high) for _ in range(count * 2))
    return "".join(chr(p) for p in points if not 0xD800 <= p < 0xE000)[:count]


# name: (text of 4 * PROBE to NO_CUT characters without a space, the largest count / exact count allowed).
# Spaceless prose and minified JSON stay exact; dense text counts as bytes (≤ 1/DENSE = 2x over when the
# whole is as dense as its probe); a dense head on prose is the rule's worst overcount (bytes / exact).
CORPUS = {
    "Chinese prose": ((_ZH * 200)[:12_000], 1.0),
    "Japanese prose": ((_JA * 200)[:12_000], 1.0),
    "minified JSON": (json.dumps([{"id": n, "name": f"item-{n}", "tags": ["a"], "ok": n % 2 == 0} for n in range(500)],
                                 separators=(",", ":"))[:20_000], 1.0),
    "random unicode": (_random_points(0xA0, 0x2FFF, 20_000, 1), 2.0),
    "random CJK": (_random_points(0x4E00, 0x9FFF, 20_000, 2), 2.0),
    "emoji": (_random_points(0x1F300, 0x1F64F, 20_000, 3), 2.0),
    "random code points": (_random_points(0xA0, 0x10FFFF, 20_000, 4), 2.0),
    "base64": (base64.b64encode(random.Random(5).randbytes(15_000)).decode(), 2.0),
    "random unicode then Chinese prose": (_random_points(0xA0, 0x2FFF, 2_000, 6) + (_ZH * 200)[:18_000], 4.0),
}


@pytest.mark.parametrize("encoding", tokens.ENCODINGS)
@pytest.mark.parametrize("name", CORPUS)
def test_the_probe_errs_over_within_its_bound_on_a_generated_corpus(name, encoding):
    text, bound = CORPUS[name]
    assert " " not in text and 4 * tokens.PROBE < len(text) <= tokens.NO_CUT
    expected = _exact(text, encoding)
    assert expected <= tokens.count_text(text, encoding=encoding) <= bound * expected


@pytest.mark.parametrize("name", [name for name, (_, bound) in CORPUS.items() if bound > 1])
def test_a_dense_chunk_without_a_cut_costs_the_bpe_at_most_one_probe(fed, name):
    """Random CJK and emoji are long runs of one class, random unicode is rare (RARE_WINDOW): never fed at
    all; base64 is probed once."""
    text = CORPUS[name][0]
    assert tokens.count_text(text) == len(text.encode("utf-8"))
    assert fed[tokens.DEFAULT_ENCODING].fed in ([], [text[:tokens.PROBE]])
    short = text[:4 * tokens.PROBE]  # at the threshold: exact, unless a long run or rare (LONG_RUN, RARE_WINDOW)
    if not tokens._runs(short, tokens.LONG_RUN, tokens.DEFAULT_ENCODING):
        assert tokens.count_text(short) == _exact(short)


@pytest.mark.parametrize("name", [name for name, (_, bound) in CORPUS.items() if bound == 1])
def test_spaceless_prose_is_counted_exactly_after_the_probe(fed, name):
    text = CORPUS[name][0]
    assert tokens.count_text(text) == _exact(text)
    assert fed[tokens.DEFAULT_ENCODING].fed[:2] == [text[:tokens.PROBE], text]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=60) | st.text(alphabet=st.sampled_from(ALPHABET), max_size=60), st.integers(2, 5))
def test_runs_are_those_of_the_regular_expression(text, run):
    """_runs (a numpy table of every code point) finds exactly the runs the character-class expressions find."""
    found = sorted((m.start(), m.end()) for members in tokens._CLASSES
                   for m in regex.finditer(f"{members}{{{run},}}", text))
    merged = []
    for start, end in found:
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    assert tokens._runs(text, run) == merged


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=st.sampled_from(ALPHABET), max_size=80), st.data())
def test_safe_cuts_split_the_count_exactly(text, data):
    """A space after a non-whitespace character starts a piece in o200k and cl100k alike, so the counts of
    the two sides add up to the count of the whole: the spans lose nothing and add nothing."""
    cuts = [i for i in range(1, len(text)) if text[i] == " " and not text[i - 1].isspace()]
    if not cuts:
        return
    cut = data.draw(st.sampled_from(cuts))
    for encoding in tokens.ENCODINGS:
        assert _exact(text, encoding) == _exact(text[:cut], encoding) + _exact(text[cut:], encoding)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(ALPHABET), st.integers(1, 12)), max_size=30), st.integers(3, 8))
def test_spans_cover_the_text_and_bound_the_count(runs, run):
    """With short runs (LONG_RUN lowered) the rule is exercised on small texts: the spans tile the text, each
    boundary is a safe cut, and the sum of exact and bounded spans is never below the exact count."""
    text = "".join(char * count for char, count in runs)
    parts = list(tokens.spans(text, run=run))
    assert "".join(text[a:b] for a, b, _ in parts) == text
    assert all(a < b for a, b, _ in parts) and [b for _, b, _ in parts[:-1]] == [a for a, _, _ in parts[1:]]
    for _, boundary, _ in parts[:-1]:
        assert text[boundary] == " " and not text[boundary - 1].isspace()
    for encoding in tokens.ENCODINGS:
        bounded = sum(_exact(text[a:b], encoding) if exact else len(text[a:b].encode()) for a, b, exact in parts)
        assert bounded >= _exact(text, encoding)
        assert all(long_run_re(run).search(text[a:b]) is None for a, b, exact in parts if exact)


# --- Text the vocabulary barely knows counts as bytes wherever it is (RARE_WINDOW, RARE_MIN). ---

_KO = "오늘은 날씨가 아주 좋아서 친구와 함께 공원에 산책을 갔습니다. 벚꽃이 예쁘게 피어 있었고 많은 사람들이 사진을 찍고 있었습니다. "
_AR = "ذهبت اليوم مع صديقي إلى الحديقة لأن الطقس كان جميلا جدا. كانت الأزهار متفتحة وكان كثير من الناس يلتقطون الصور. "
_HI = "आज मौसम बहुत अच्छा था, इसलिए मैं अपने दोस्त के साथ पार्क में टहलने गया। फूल खिले हुए थे और बहुत से लोग तस्वीरें ले रहे थे। "
_EN = "The committee met on Tuesday to review the quarterly figures. Revenue rose slightly, while costs held steady. "


def _rare(text, encoding):
    return tokens._rare_table(encoding)[np.frombuffer(text.encode("utf-32-le"), np.uint32)]


# name: (text with or without spaces, the largest count / exact count allowed in o200k and cl100k). Prose of
# every script, code and JSON stay exact; text the vocabulary barely knows errs over, by at most 2x here.
RARE_CORPUS = {
    "Chinese prose": ((_ZH * 300)[:20_000], 1.0),
    "Japanese prose": ((_JA * 300)[:20_000], 1.0),
    "Korean prose": ((_KO * 300)[:20_000], 1.0),
    "Arabic prose": ((_AR * 300)[:20_000], 1.0),
    "Hindi prose": ((_HI * 300)[:20_000], 1.0),
    "mixed scripts and emoji": (((_EN + _ZH + _KO + _AR + _HI + "🙂 ") * 60)[:20_000], 1.0),
    "code": (inspect.getsource(tokens)[:20_000], 1.0),
    "minified JSON": (CORPUS["minified JSON"][0], 1.0),
    "random unicode": (_random_points(0xA0, 0x2FFF, 20_000, 1), 2.0),
    "random CJK": (_random_points(0x4E00, 0x9FFF, 20_000, 2), 2.0),
    "emoji": (_random_points(0x1F300, 0x1F64F, 20_000, 3), 2.0),
    "random unicode after a Chinese head": ((_ZH * 40)[:1024] + _random_points(0xA0, 0x2FFF, 20_000, 6), 2.0),
    "random unicode words in English": ("".join(_EN * 3 + _random_points(0xA0, 0x2FFF, 300, n) + " " for n in range(40)), 2.0),
    "random unicode stretches in Chinese": ("".join(_ZH * 3 + _random_points(0xA0, 0x2FFF, 300, n) for n in range(40)), 2.0),
}


@pytest.mark.parametrize("encoding", tokens.ENCODINGS)
@pytest.mark.parametrize("name", RARE_CORPUS)
def test_rare_windows_err_over_within_their_bound_on_a_generated_corpus(name, encoding):
    text, bound = RARE_CORPUS[name]
    expected = _exact(text, encoding)
    counted = tokens.count_text(text, encoding=encoding)
    assert expected <= counted <= bound * expected
    if bound == 1:  # real prose is far from the rule: at most 19 of 64 rare (cl100k, Korean) against RARE_MIN = 40
        rare = np.concatenate(([0], np.cumsum(_rare(text, encoding))))
        assert (rare[tokens.RARE_WINDOW:] - rare[:-tokens.RARE_WINDOW]).max() <= tokens.RARE_MIN // 2


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.sampled_from([_ZH, _EN]), st.integers(0, 6_000), st.integers(tokens.RARE_WINDOW, 20_000), st.integers(0, 6_000),
       st.integers(0, 2**32), st.sampled_from(tokens.ENCODINGS))
def test_a_dense_stretch_anywhere_feeds_the_bpe_none_of_itself(fed, prose, head, dense, tail, seed, encoding):
    """The issue-19 miss: a prose head made the probe pass, and the dense rest (up to NO_CUT characters)
    was BPE'd exactly at 3-6x prose's cost per byte. Now a stretch of random unicode at any position, of
    any length, between prose pieces with or without spaces, reaches the BPE only as the probe's head."""
    text = (prose * 200)[:head] + _random_points(0xA0, 0x2FFF, dense, seed) + (prose * 200)[:tail]
    fed.clear()
    counted = tokens.count_text(text, encoding=encoding)
    assert sum(map(len, fed[encoding].fed)) <= head + tail + tokens.PROBE
    assert counted >= _exact(text, encoding)


def test_the_crafted_case_of_bench_abuse_feeds_the_bpe_at_most_its_head(fed):
    """bench/abuse.py's "random unicode after 1 024 characters of prose": 3.23x prose per byte before."""
    text = (_ZH * 200)[:3 * 1024] + _random_points(0xA0, 0x2FFF, 20_000, 9)
    assert tokens.count_text(text) == len(text.encode("utf-8"))
    assert sum(map(len, fed[tokens.DEFAULT_ENCODING].fed)) <= 3 * 1024


@settings(max_examples=500, deadline=None)
@given(st.characters(exclude_categories=["Cs"]), st.sampled_from(tokens.ENCODINGS))
def test_the_rare_table_is_its_definition(char, encoding):
    """Rare: the character's UTF-8 is not one token of the vocabulary, so the BPE gives it more than one."""
    assert bool(tokens._rare_table(encoding)[ord(char)]) == (len(tokens.get_encoding(encoding).encode_ordinary(char)) > 1)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(list("a的e 公🙂\u2f00\u1234\u0bf5!")), st.integers(1, 40)), max_size=20),
       st.sampled_from(tokens.ENCODINGS))
def test_rare_windows_are_the_union_of_the_dense_windows(blocks, encoding):
    """_runs (numpy prefix sums) covers exactly the windows of RARE_WINDOW characters holding RARE_MIN rare."""
    text = "".join(char * count for char, count in blocks)
    rare, window = _rare(text, encoding), tokens.RARE_WINDOW
    covered = [False] * len(text)
    for start in range(len(text) - window + 1):
        if rare[start:start + window].sum() >= tokens.RARE_MIN:
            covered[start:start + window] = [True] * window
    expected, start = [], None
    for i, flag in enumerate(covered + [False]):
        if flag and start is None:
            start = i
        elif not flag and start is not None:
            expected.append((start, i))
            start = None
    assert tokens._runs(text, len(text) + 1, encoding) == expected
