"""A trim never splits items the OpenAI API requires together (reasoning + what follows, calls + outputs, approvals)."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cache_app.hot_window import Entry
from sessions_app.context.assembly import assemble
from sessions_app.context.groups import blocked_cuts

CALL_KINDS = ("function_call", "custom_tool_call", "computer_call", "local_shell_call")
SINGLE_CALLS = ("mcp_call", "web_search_call", "file_search_call", "code_interpreter_call", "image_generation_call")


def entries_of(items, tokens=10):
    return [Entry(seq, tokens, json.dumps(item, sort_keys=True, separators=(",", ":"))) for seq, item in enumerate(items, 1)]


@st.composite
def conversations(draw):
    """Random, well-formed sequences of messages, reasoning items, (parallel) calls with outputs, approvals."""
    items, n = [], 0
    for _ in range(draw(st.integers(1, 14))):
        n += 1
        reasoning = draw(st.booleans())
        if reasoning:
            items.append({"type": "reasoning", "id": f"rs_{n}", "summary": []})
        block = draw(st.sampled_from(["message", "calls", "single", "approval"]))
        if block == "message":
            items.append({"type": "message", "role": draw(st.sampled_from(["user", "assistant"])), "content": f"m{n}"})
        elif block == "single":
            items.append({"type": draw(st.sampled_from(SINGLE_CALLS)), "id": f"sc_{n}"})
        elif block == "approval":
            items.append({"type": "mcp_approval_request", "id": f"ar_{n}", "name": "t", "arguments": "{}", "server_label": "s"})
            items.append({"type": "mcp_approval_response", "approval_request_id": f"ar_{n}", "approve": True})
        else:
            kind = draw(st.sampled_from(CALL_KINDS))
            ids = [f"c{n}_{k}" for k in range(draw(st.integers(1, 3)))]
            items.extend({"type": kind, "call_id": call_id, "id": f"fc_{call_id}"} for call_id in ids)
            for call_id in draw(st.permutations(ids)):
                items.append({"type": f"{kind}_output", "call_id": call_id, "output": "ok"})
    return items


def valid_input(items) -> bool:
    """The OpenAI rule for an input: every output has its call, every approval response its request, and a
    reasoning item is never the one before the first item (its follower kept without it)."""
    calls = {item["call_id"] for item in items if "call_id" in item and not item["type"].endswith("_output")}
    requests = {item["id"] for item in items if item["type"] == "mcp_approval_request"}
    for item in items:
        if item["type"].endswith("_output") and item["call_id"] not in calls:
            return False
        if item["type"] == "mcp_approval_response" and item["approval_request_id"] not in requests:
            return False
    return True


@settings(max_examples=300, deadline=None)
@given(items=conversations(), budget=st.integers(0, 400), recent_k=st.one_of(st.none(), st.integers(0, 20)))
def test_the_kept_suffix_is_always_a_valid_input_ending_with_the_latest_item(items, budget, recent_k):
    entries = entries_of(items)
    assembly = assemble(entries, max_tokens=budget, recent_k=recent_k)
    kept = [json.loads(entry.raw) for entry in assembly.verbatim]
    assert valid_input(kept)
    if kept:
        assert assembly.verbatim[-1] == entries[-1]
        start = len(entries) - len(kept)
        assert start == 0 or items[start - 1]["type"] != "reasoning"  # a reasoning item goes with what follows it


def test_reasoning_stays_with_the_call_it_precedes():
    """The issue's reproduction: recent_k=3 used to start at fc_1 without rs_1 (OpenAI rejects that input)."""
    items = [
        {"type": "message", "role": "user", "content": "look up order 42"},
        {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAA"},
        {"type": "function_call", "id": "fc_1", "call_id": "call_1", "name": "lookup", "arguments": '{"order":42}'},
        {"type": "function_call_output", "call_id": "call_1", "output": "shipped"},
        {"type": "message", "role": "assistant", "content": "Order 42 has shipped."},
    ]
    kept = [json.loads(e.raw) for e in assemble(entries_of(items), max_tokens=10_000, recent_k=3).verbatim]
    assert [item.get("id") for item in kept] == [None]  # rs_1 + fc_1 + output + answer is 4 > 3: only the answer
    kept = [json.loads(e.raw) for e in assemble(entries_of(items), max_tokens=10_000, recent_k=4).verbatim]
    assert [item.get("id") for item in kept][:2] == ["rs_1", "fc_1"]


@pytest.mark.parametrize(
    "items,blocked",
    [
        ([{"type": "function_call_output", "call_id": "x", "output": "orphan"}, {"type": "message", "role": "user", "content": "q"}],
         [True, False, False]),  # the orphan is never sent; the message after it may start the turns
        ([{"type": "mcp_approval_request", "id": "a"}, {"type": "mcp_approval_response", "approval_request_id": "a"}],
         [False, True, False]),
        ([{"type": "reasoning", "id": "r"}, {"type": "web_search_call", "id": "w"}, {"type": "web_search_call", "id": "v"}],
         [False, True, False, False]),
    ],
)
def test_blocked_cuts_table(items, blocked):
    assert blocked_cuts(entries_of(items)) == blocked
