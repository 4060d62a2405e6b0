"""A request body is walked once for what no stored value may hold: NUL, lone surrogates, non-finite numbers.

convostore.parsers.StrictJSONParser does it for every body (issue 19, "CPU amplification": a body used to be
walked up to three times); serializers and the item service do not walk it again. Items that did not come
through the parser (an upstream's output) are checked on the canonical bytes the item service makes anyway.
"""

from __future__ import annotations

import json

import pytest

from convostore import canonical, parsers
from convostore.errors import ValidationFailed
from tests.security.test_edge_input import BODIES, KEY, assert_400, cold, poisoned, string_positions  # noqa: F401

pytestmark = pytest.mark.django_db

MARK = "__non_finite__"


def json_path(position) -> str | None:
    """("items", 0, "content") as the parser names it: items[0].content."""
    path = None
    for step in position:
        path = f"{path or ''}[{step}]" if isinstance(step, int) else (f"{path}.{step}" if path else step)
    return path


def value_positions(body):
    return [position for position in string_positions(body) if KEY not in position]


@pytest.mark.parametrize("literal", ["1e999", "-1e999", "1" + "0" * 400 + ".5", "0.1e400"])
@pytest.mark.parametrize("method, path", list(BODIES))
def test_a_number_beyond_a_float_anywhere_in_a_body_is_400_naming_its_path(cold, method, path, literal):  # noqa: F811
    from sessions_app.models import Conversation, Item, Response

    before = (Conversation.objects.count(), Item.objects.count(), Response.objects.count())
    body = BODIES[(method, path)]
    for position in value_positions(body):
        payload = json.dumps(poisoned(body, position, MARK)).replace(f'"{MARK}"', literal).encode()
        response = getattr(cold, method)(path, payload, content_type="application/json")
        assert_400(response, json_path(position))
        assert response.json()["error"]["code"] == "invalid_value"
    assert (Conversation.objects.count(), Item.objects.count(), Response.objects.count()) == before


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_stay_invalid_json(cold, constant):  # noqa: F811
    payload = f'{{"items": [{{"role": "user", "content": [{{"type": "input_text", "text": {constant}}}]}}]}}'.encode()
    response = cold.post("/v1/sessions/cold/append", payload, content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json", response.content


def test_a_syntax_error_after_an_overflowing_number_is_invalid_json(cold):  # noqa: F811
    response = cold.post("/v1/sessions/cold/append", b'{"items": [1e999, {', content_type="application/json")
    assert response.status_code == 400 and response.json()["error"]["code"] == "invalid_json", response.content


class Spy:
    """Counts calls of a function and calls it."""

    def __init__(self, monkeypatch, module, name):
        self.calls = []
        real = getattr(module, name)

        def spy(*args, **kwargs):
            self.calls.append(args)
            return real(*args, **kwargs)

        monkeypatch.setattr(module, name, spy)


def strings_and_keys(value) -> int:
    if isinstance(value, str):
        return 1
    if isinstance(value, dict):
        return sum(1 + strings_and_keys(nested) for nested in value.values())
    if isinstance(value, list):
        return sum(strings_and_keys(nested) for nested in value)
    return 0


BODY = {"items": [{"role": "user", "content": [{"type": "input_text", "text": "caf\u00e9 \U0001f600"}], "score": 0.5}] * 3,
        "metadata": {"k": "v"}}


@pytest.mark.parametrize("ascii_escapes", [False, True], ids=["utf8", "escaped"])
def test_each_string_of_a_body_is_checked_once(cold, monkeypatch, ascii_escapes):  # noqa: F811
    # Escaped, the emoji is a surrogate pair (\ud83d\ude00): the parser must walk the body to tell it from a lone one.
    parser_strings = Spy(monkeypatch, parsers, "_check")
    floats = Spy(monkeypatch, parsers, "_finite_float")
    item_walks = Spy(monkeypatch, canonical, "check_text")
    payload = json.dumps(BODY, ensure_ascii=ascii_escapes).encode()
    response = cold.post("/v1/sessions/cold/append", payload, content_type="application/json")
    assert response.status_code == 201, response.content
    assert len(parser_strings.calls) == (strings_and_keys(BODY) if ascii_escapes else 0)
    assert len(floats.calls) == 3  # one per float literal, as the scanner reads it
    assert item_walks.calls == []


@pytest.mark.parametrize("bad, fault", [("nul\u0000", "NUL"), ("\ud800", "surrogates"), (float("inf"), "finite"),
                                        (float("nan"), "NaN")])
def test_an_item_that_did_not_come_through_the_parser_is_still_refused_naming_it(bad, fault):
    item = canonical.normalise_item({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": bad}]},
                                    "output[2]")
    with pytest.raises(ValidationFailed) as caught:
        canonical.encode_item(item, "output[2]")
    assert caught.value.param == "output[2]" and fault in str(caught.value)


def test_the_six_characters_backslash_u0000_are_text_not_a_nul():
    item = canonical.normalise_item({"role": "user", "content": "a \\u0000 in a regex"}, "items[0]")
    raw, size = canonical.encode_item(item, "items[0]")
    assert json.loads(raw)["content"] == "a \\u0000 in a regex" and size == len(raw.encode())
