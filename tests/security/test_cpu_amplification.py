"""Issue 19, item 3: no write path lets a request's CPU grow far beyond its bytes.

The reproduction: an append of 20 items × 1 MiB of "!" spent ~25 s in tiktoken (BPE on one megabyte-long
piece). Every write path counts tokens through convostore.tokens.count_item, which never hands the BPE a
run of LONG_RUN characters of one class. These tests count the BPE's input, not time; bench/abuse.py
measures the time and memory.
"""

import pytest
from django.conf import settings

from convostore import tokens
from tests.bpe import FeedLog, long_run_re

pytestmark = pytest.mark.django_db


@pytest.fixture
def bpe_input(monkeypatch):
    """Every string the BPE is asked to encode during the test, for any encoding."""
    fed, real = [], tokens.get_encoding

    def spy(name=tokens.DEFAULT_ENCODING):
        return FeedLog(real(name), fed)

    monkeypatch.setattr(tokens, "get_encoding", spy)
    return fed


def _no_long_run(fed):
    pattern = long_run_re(tokens.LONG_RUN)
    return all(pattern.search(text) is None for text in fed)


def _largest_content(char: str) -> str:
    """The longest message content that keeps the canonical item within CONVOSTORE_MAX_ITEM_BYTES."""
    return char * (settings.CONVOSTORE_MAX_ITEM_BYTES - 200)


def test_the_reproduction_append_is_stored_byte_identical_without_feeding_the_run_to_the_bpe(api, bpe_input):
    content = _largest_content("!")
    items = [{"role": "user", "content": content} for _ in range(settings.CONVOSTORE_MAX_ITEMS_PER_APPEND)]
    response = api.post("/v1/sessions/abuse/append", {"items": items}, format="json")
    assert response.status_code == 201, response.content[:300]
    assert _no_long_run(bpe_input)
    assert sum(map(len, bpe_input)) < 1000
    stored = api.get("/v1/sessions/abuse/items?limit=100").json()["data"]
    assert len(stored) == len(items) and all(item["content"] == content for item in stored)


WRITES = {
    "native append": lambda api, item: api.post("/v1/sessions/w1/append", {"items": [item]}, format="json"),
    "store response": lambda api, item: api.post(
        "/v1/sessions/responses", {"conversation_id": "w2", "input": [item], "output": [{"role": "assistant", "content": "ok"}], "model": "m"},
        format="json",
    ),
    "openai conversation create": lambda api, item: api.post("/v1/conversations", {"items": [item]}, format="json"),
}


@pytest.mark.parametrize("write", WRITES)
@pytest.mark.parametrize("char", ["a", "\n", "[", "e\u0301"])
def test_every_write_path_keeps_long_runs_from_the_bpe(api, bpe_input, write, char):
    content = _largest_content(char)[: settings.CONVOSTORE_MAX_ITEM_BYTES // 4]
    response = WRITES[write](api, {"role": "user", "content": content})
    assert response.status_code in (200, 201), response.content[:300]
    assert _no_long_run(bpe_input)


def test_random_unicode_after_a_prose_head_reaches_the_bpe_only_as_its_head(api, bpe_input):
    """bench/abuse.py's crafted case (3.23x prose per byte): a spaceless prose head then random unicode was
    BPE'd exactly up to NO_CUT characters; the rare windows (tokens.RARE_WINDOW) keep it from the BPE."""
    import random

    rng = random.Random(3)
    head = ("公园里有很多人，有的在跑步，有的在下棋。" * 200)[:3072]
    content = head + "".join(chr(rng.randint(0xA0, 0x2FFF)) for _ in range(20_000))
    response = api.post("/v1/sessions/rare/append", {"items": [{"role": "user", "content": content}]}, format="json")
    assert response.status_code == 201, response.content[:300]
    assert sum(map(len, bpe_input)) <= len(head) + 100


def test_openai_items_create_keeps_long_runs_from_the_bpe(api, bpe_input):
    created = api.post("/v1/conversations", {}, format="json").json()
    response = api.post(f"/v1/conversations/{created['id']}/items", {"items": [{"role": "user", "content": _largest_content("!")}]}, format="json")
    assert response.status_code in (200, 201), response.content[:300]
    assert _no_long_run(bpe_input)


def test_token_counts_stored_for_a_run_are_an_upper_bound(api):
    """The count kept for context budgets is never below tiktoken's: a budget cannot overflow a window."""
    import json

    from sessions_app.models import Item

    content = "Some words first. " + "!" * 50_000 + " and after."
    assert api.post("/v1/sessions/bound/append", {"role": "user", "content": content}, format="json").status_code == 201
    stored = Item.objects.get(conversation__conversation_id="bound")
    exact = tokens.TOKENS_PER_MESSAGE + len(tokens.encode(tokens._item_text(json.loads(stored.raw))))
    assert stored.token_count >= exact > 3000


class SliceCount(str):
    """A str that adds up the length of every slice taken from it."""

    sliced = 0

    def __getitem__(self, key):
        part = super().__getitem__(key)
        if isinstance(key, slice):
            SliceCount.sliced += len(part)
        return part


@pytest.mark.parametrize("text", ["a." * 20_000, "word " * 20_000, "Dr. Who " * 5_000])
def test_the_semantic_guard_reads_a_text_in_linear_work(text):
    """meaning() used to copy the whole text before each word (text[:start]): quadratic in the words."""
    from cache_app import semantic_guard

    SliceCount.sliced = 0
    semantic_guard.meaning(SliceCount(text))
    assert SliceCount.sliced <= 20 * len(text)


def _sentence_initial_before(text: str, start: int) -> bool:
    """The guard's sentence test as it was (it copied text[:start]), kept to check the linear one agrees."""
    import re

    from cache_app.semantic_lexicon import _ABBREVIATIONS

    before = text[:start].rstrip(" \t\"'“‘(*-–—")
    if not before:
        return True
    if before[-1] in ":;\n!?":
        return True
    if before[-1] == ".":
        previous = re.findall(r"[\w.]+$", before[:-1])
        return not (previous and previous[0].lower() in _ABBREVIATIONS)
    return False


def test_the_linear_sentence_test_agrees_with_the_old_one():
    from hypothesis import given, settings as hsettings
    from hypothesis import strategies as st

    from cache_app import semantic_guard

    @hsettings(max_examples=500, deadline=None)
    @given(st.text(alphabet=st.sampled_from(list("aDrEtcgi.e. \t\n\"'(-:!?_1")), max_size=40), st.data())
    def check(text, data):
        start = data.draw(st.integers(0, len(text)))
        assert semantic_guard._sentence_initial(text, start) == _sentence_initial_before(text, start)

    check()


@pytest.fixture
def text_array_bytes(monkeypatch):
    """Bytes of str elements psycopg quoted into text-format array literals (a Python pass per backslash/quote)."""
    from psycopg.types.array import ListDumper

    seen = []
    dump = ListDumper.dump

    def counting(self, obj):
        seen.append(sum(len(x) for x in obj if isinstance(x, str)))
        return dump(self, obj)

    monkeypatch.setattr(ListDumper, "dump", counting)
    return seen


@pytest.mark.parametrize("prepare", [True, False])
def test_item_bodies_are_bound_in_binary_not_quoted_into_array_literals(api, settings, text_array_bytes, prepare):
    """Text full of newlines, quotes or backslashes is a backslash per character in its JSON: quoting 20 MiB of
    that into a text[] literal cost ~18 s of Python; bound in binary it is a copy. With or without preparation."""
    settings.CONVOSTORE = {**settings.CONVOSTORE, "PREPARE_STATEMENTS": prepare}
    body = "\n\"\\" * 20_000
    assert api.post("/v1/sessions/bin/append", {"role": "user", "content": body}, format="json").status_code == 201
    assert sum(text_array_bytes) < 4096, text_array_bytes  # ids, types and roles only
    assert api.get("/v1/sessions/bin/items").json()["data"][0]["content"] == body
