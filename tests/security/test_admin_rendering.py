"""Issue 19 item 2: any item the API accepted renders on every admin page, in the whole-item view and in the export.

Items go in through the real API (so they are exactly what it accepts) and come out through Django's test
client as a superuser and as a member of the support group: the transcript (hot and archived), the whole-item
view, the response page, the lists and the dashboard answer 200; tenant text appears escaped, never as markup.
"""

from __future__ import annotations

import io
import itertools
import json
import os

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils.html import escape
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from sessions_app import lifecycle
from sessions_app.models import Conversation, Item, Response
from sessions_app.services.portability import conversations_export_lines
from sessions_app.support import rendering
from tests.sessions_app.admin_fixtures import superuser, support_user  # noqa: F401

pytestmark = pytest.mark.django_db

PROBE = "<b>&probe</b>"  # starts every string a page shows as it is: it must come back escaped
ODD = [
    "\u202eevil\u202c", "\u200f\u05e9\u05dc\u05d5\u05dd \u0645\u0631\u062d\u0628\u0627", "e\u0301\u0327", "\U0001f600\u200d\U0001f4bb",
    "\ufeff", "\uffff", "\U0010ffff", "\u2028\u2029", "\r\n\t", "\\u0000", "\\ud800", "\\udfff\\ud800x", "\x01\x1f\x7f",
    "</pre><script>alert(1)</script>", "&amp;&lt;", "{{ request }}", "{% csrf_token %}", "'\"`", "\\", "]]>", "<!--",
]
odd_text = st.lists(
    st.one_of(st.sampled_from(ODD), st.text(st.characters(codec="utf-8", exclude_characters="\x00"), max_size=20)),
    max_size=6,
).map("".join)
scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70),
                    st.floats(allow_nan=False, allow_infinity=False), odd_text)
values = st.recursive(scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4),
                      max_leaves=24)
# Depths around and beyond what the parser takes (about 900 levels): the API answers 400 past its limit, and what it
# takes must render. Pretty-printers recurse, so the depths just below the limit are the ones that break pages.
depths = st.one_of(st.sampled_from([1, 63, 64, 65, 300, 600, 800, 850, 870, 880, 890, 895, 900, 1000]), st.integers(1, 1100))
EXAMPLES = int(os.environ.get("CONVOSTORE_RENDER_EXAMPLES", "25"))  # each example is an append and ~12 admin pages


@st.composite
def deep_json(draw) -> str:
    """JSON text nested ``depth`` deep (written as text: the test's own encoder would recurse)."""
    depth = draw(depths)
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"k":', "}"), ('[{"a":[', "]}]")]))
    return opener * depth + json.dumps(draw(scalars), ensure_ascii=False) + closer * depth


@st.composite
def deep_string(draw) -> str:
    """A string holding deep or broken JSON: brackets, objects, unbalanced, escapes that decode to NUL or surrogates."""
    depth = draw(st.one_of(st.sampled_from([64, 65, 900, 1000, 1500]), st.integers(1, 1500)))
    return draw(st.sampled_from([
        "[" * depth + "]" * depth, '{"a":' * depth + "1" + "}" * depth, "[" * depth,
        "[" + ", ".join(['"\\ud83d\\u0000<\\udc00>"'] * depth) + "]",  # JSON whose strings decode to NUL and lone surrogates
    ]))


huge_text = st.integers(rendering.PREVIEW_CHARS - 5, 3 * rendering.PRETTY_MAX_CHARS).map(
    lambda n: ("lorem <ipsum> & dolor \u202e sit \U0001f600 amet, " * (n // 30 + 1))[:n])
huge_json = st.integers(200, 12_000).map(lambda n: json.dumps([{"n": i, "t": "<x>"} for i in range(n)]))
strings = st.one_of(odd_text, deep_string(), huge_text, huge_json, values.map(lambda v: json.dumps(v, ensure_ascii=False)))
anything = st.one_of(values, strings)
OTHER_TYPES = ["web_search_call", "file_search_call", "computer_call", "computer_call_output", "mcp_call", "x-custom"]


@st.composite
def accepted_item(draw) -> tuple[dict, str, dict]:
    """(item, probe, splices): the probe is a string a page shows as it is; a splice puts deep JSON text in place."""
    splices: dict[str, str] = {}

    def hostile():
        """Any value, a string holding deep or broken JSON, or (spliced) a structure nested up to the parser's limit."""
        choice = draw(st.sampled_from(["value", "string", "deep string", "deep structure"]))
        if choice == "deep structure":
            marker = f"__splice_{len(splices)}__"
            splices[marker] = draw(deep_json())
            return marker
        return draw({"value": values, "string": strings, "deep string": deep_string()}[choice])

    kind = draw(st.sampled_from(["message", "function_call", "function_call_output", "reasoning", "other"]))
    probe = PROBE + draw(odd_text)
    if kind == "message":
        role = draw(st.sampled_from(["user", "assistant", "system", "developer"]) | odd_text.filter(lambda r: 0 < len(r) <= 32))
        content = draw(st.sampled_from(["text", "long text", "parts"]))
        content = probe if content == "text" else probe + draw(strings) if content == "long text" else [
            {"type": "input_text", "text": probe}, *(hostile() for _ in range(draw(st.integers(0, 3))))]
        item = {"type": kind, "role": role, "content": content}
    elif kind == "function_call":
        item = {"type": kind, "call_id": hostile(), "name": probe, "arguments": hostile()}
    elif kind == "function_call_output":
        item = {"type": kind, "call_id": probe, "output": hostile()}
    elif kind == "reasoning":
        item = {"type": kind, "summary": [{"type": "summary_text", "text": probe}, hostile()], "content": hostile()}
    else:
        item = {"type": draw(st.sampled_from(OTHER_TYPES)), "content": probe, "status": hostile()}
    for key in draw(st.lists(st.sampled_from(["extra", "deep", "payload", "x"]), max_size=2, unique=True)):
        item[key] = hostile()
    return item, probe, splices


def body_text(body: dict, splices: dict) -> str:
    text = json.dumps(body, ensure_ascii=False)
    for marker, deep in splices.items():
        text = text.replace(json.dumps(marker), deep)
    return text


def admin_clients(*users) -> list[Client]:
    clients = []
    for user in users:
        client = Client()
        client.force_login(user)
        clients.append(client)
    return clients


def assert_renders(clients, conversation: Conversation, probe: str, raws: dict[int, str]) -> None:
    """Every page that shows this conversation answers 200 and shows the probe escaped; the whole-item view is exact."""
    change = reverse("admin:sessions_app_conversation_change", args=[conversation.pk])
    for client in clients:
        page = client.get(change)
        assert page.status_code == 200
        html = page.content.decode()
        assert escape(probe[:60]) in html
        assert PROBE not in html  # never as markup
        for seq, raw in raws.items():
            whole = client.get(reverse("admin:sessions_app_conversation_item_raw", args=[conversation.pk, seq]))
            assert whole.status_code == 200 and whole["Content-Type"] == "text/plain; charset=utf-8"
            assert whole.content.decode() == raw
        for response in Response.objects.filter(conversation=conversation).only("pk"):
            assert client.get(reverse("admin:sessions_app_response_change", args=[response.pk])).status_code == 200
        for name in ("sessions_app_conversation", "sessions_app_response"):
            listing = client.get(reverse(f"admin:{name}_changelist"), {"q": probe[:100]})
            assert listing.status_code == 200


def assert_exports(conversation: Conversation, raws: dict[int, str]) -> None:
    [line] = conversations_export_lines(Conversation.objects.filter(pk=conversation.pk).select_related("tenant", "parent"))
    exported = json.loads(line)
    assert {item["seq"]: item["raw"] for item in exported["items"]} == raws


SEQ = itertools.count()


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                                   HealthCheck.data_too_large])
@given(generated=accepted_item(),
       usage=st.one_of(st.none(), st.dictionaries(odd_text, values, max_size=3), deep_json().map(lambda deep: '{"u":%s}' % deep)),
       store_as_response=st.booleans(), archive=st.booleans())
def test_any_accepted_item_renders_for_superuser_and_support(api, tenant, superuser, support_user, generated, usage,
                                                             store_as_response, archive):
    item, probe, splices = generated
    conversation_id = f"conv-render-{next(SEQ)}"
    if isinstance(usage, str):  # deep usage, spliced in as text
        splices = {**splices, "__usage__": usage}
        usage = "__usage__"
    if store_as_response:
        body = {"conversation_id": conversation_id, "input": [item], "model": "m", "usage": usage}
        answer = api.generic("POST", "/v1/sessions/responses", body_text(body, splices), content_type="application/json")
    else:
        body = {"items": [item], "metadata": {"user": probe[:512]} if len(probe) <= 512 else None}
        answer = api.generic("POST", f"/v1/sessions/{conversation_id}/append", body_text(body, splices),
                             content_type="application/json")
    assert answer.status_code < 500, answer.content[:500]
    if answer.status_code >= 400:
        event(f"refused by the API: {answer.json()['error']['code']}")
        return
    event(f"accepted {item['type'] if item['type'] in ('message', 'function_call', 'function_call_output', 'reasoning') else 'other'}")
    event(f"accepted with JSON spliced in: {max((len(text) // 1000 for text in splices.values()), default='none')}k characters")
    conversation = Conversation.objects.get(tenant=tenant, conversation_id=conversation_id)
    raws = dict(Item.objects.filter(conversation=conversation).values_list("seq", "raw"))
    clients = admin_clients(superuser, support_user)
    assert_renders(clients, conversation, probe, raws)
    assert_exports(conversation, raws)
    if archive:
        lifecycle.conversation_archive(conversation=conversation, keep_window=False)
        conversation.refresh_from_db()
        assert conversation.tier == "cold" and not Item.objects.filter(conversation=conversation).exists()
        assert_renders(clients, conversation, probe, raws)
        assert_exports(conversation, raws)


def test_a_function_call_of_ten_thousand_nested_brackets_renders_for_support_and_superuser(api, tenant, superuser,
                                                                                            support_user):
    """The reproduction: arguments '[' * 10000 + ']' * 10000 is a string the API accepts; the page answered 500."""
    arguments = "[" * 10_000 + "]" * 10_000
    answer = api.post("/v1/sessions/conv-brackets/append", {"items": [
        {"type": "function_call", "call_id": "call_1", "name": "nest", "arguments": arguments}]}, format="json")
    assert answer.status_code == 201, answer.content
    conversation = Conversation.objects.get(tenant=tenant, conversation_id="conv-brackets")
    for client in admin_clients(superuser, support_user):
        page = client.get(reverse("admin:sessions_app_conversation_change", args=[conversation.pk]))
        assert page.status_code == 200
        html = page.content.decode()
        assert escape(arguments[: rendering.PREVIEW_CHARS // 2]) in html  # shown as stored, cut
        assert "shown as stored" in html and "first 20,000 of 20,000" not in html


def test_escapes_that_decode_to_nul_or_lone_surrogates_render(api, tenant, superuser):
    """Arguments '["\\ud83d", "\\u0000"]' are accepted (escapes in a string); decoded for re-indenting they are a lone
    surrogate (a page cannot be encoded with one) and a NUL: the page shows them as escapes."""
    arguments = '["\\ud83d", "\\u0000", "<i>"]'
    answer = api.post("/v1/sessions/conv-escapes/append", {"items": [
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": arguments}]}, format="json")
    assert answer.status_code == 201, answer.content
    conversation = Conversation.objects.get(tenant=tenant, conversation_id="conv-escapes")
    [client] = admin_clients(superuser)
    page = client.get(reverse("admin:sessions_app_conversation_change", args=[conversation.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "\\ud83d" in html and "&lt;i&gt;" in html and "<i>" not in html


def test_the_deepest_structure_the_api_accepts_renders_everywhere(api, tenant, superuser, support_user):
    """Bisect the deepest item the API takes (its parser's limit) and render it on every page and in the export."""
    def append(depth: int, conversation_id: str):
        text = '{"items": [{"type": "function_call", "name": "%s", "call_id": "c", "arguments": "{}", "deep": %s1%s}]}' % (
            PROBE, "[" * depth, "]" * depth)
        return api.generic("POST", f"/v1/sessions/{conversation_id}/append", text, content_type="application/json")

    low, high = 1, 5000
    while low < high:  # the deepest accepted depth, every probe either 201 or a 400
        middle = (low + high + 1) // 2
        status = append(middle, f"conv-probe-{middle}").status_code
        assert status in (201, 400), status
        low, high = (middle, high) if status == 201 else (low, middle - 1)
    assert append(low, "conv-deepest").status_code == 201
    print(f"the API accepts items nested {low} deep")
    usage = '{"conversation_id": "conv-deepest", "input": [{"role": "user", "content": "x"}], "usage": {"u": %s1%s}}' % (
        "[" * (low - 4), "]" * (low - 4))
    assert api.generic("POST", "/v1/sessions/responses", usage, content_type="application/json").status_code == 201
    conversation = Conversation.objects.get(tenant=tenant, conversation_id="conv-deepest")
    raws = dict(Item.objects.filter(conversation=conversation).values_list("seq", "raw"))
    clients = admin_clients(superuser, support_user)
    assert_renders(clients, conversation, PROBE, raws)
    assert_exports(conversation, raws)
    out = io.StringIO()
    call_command("export_conversations", "--tenant", tenant.name, stdout=out, stderr=io.StringIO())
    assert len(out.getvalue().splitlines()) == Conversation.objects.filter(tenant=tenant).count()
    for client in clients:
        assert client.get(reverse("admin:dashboard")).status_code == 200


def test_a_mebibyte_string_is_shown_cut_with_its_length(api, tenant, superuser):
    """A string of a MiB is neither re-indented nor sent whole: the page shows PREVIEW_CHARS and says how long it is."""
    output = json.dumps(["<row>"] * 80_000)  # 720 000 characters of JSON in one string: too long to re-indent
    answer = api.post("/v1/sessions/conv-huge/append", {"items": [
        {"type": "function_call_output", "call_id": "c", "output": output}]}, format="json")
    assert answer.status_code == 201, answer.content[:300]
    conversation = Conversation.objects.get(tenant=tenant, conversation_id="conv-huge")
    [client] = admin_clients(superuser)
    html = client.get(reverse("admin:sessions_app_conversation_change", args=[conversation.pk])).content.decode()
    assert f"first {rendering.PREVIEW_CHARS:,} of" in html and "too long to re-indent, shown as stored" in html
    assert len(html) < 250_000  # two previews of PREVIEW_CHARS (escaped: '"<' grows fivefold) and the page around them
    whole = client.get(reverse("admin:sessions_app_conversation_item_raw", args=[conversation.pk, 1]))
    assert whole.content.decode() == Item.objects.get(conversation=conversation).raw
