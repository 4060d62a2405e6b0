"""Pure context assembly: budget, pair integrity, priorities, fingerprint."""

import json

from sessions_app.context import assembly as context
from convostore import tokens
from cache_app.hot_window import Entry


def entry(seq, item, encoding="o200k_base"):
    raw = json.dumps(item, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return Entry(seq, tokens.count_item(item, encoding=encoding), raw)


def message(seq, role, text):
    return entry(seq, {"type": "message", "role": role, "content": text, "id": f"msg_{seq}"})


def tool_history():
    items = [message(1, "user", "What is the weather in Paris and Oslo?")]
    items.append(entry(2, {"type": "function_call", "call_id": "c1", "name": "weather", "arguments": '{"city":"Paris"}', "id": "fc_2"}))
    items.append(entry(3, {"type": "function_call", "call_id": "c2", "name": "weather", "arguments": '{"city":"Oslo"}', "id": "fc_3"}))
    items.append(entry(4, {"type": "function_call_output", "call_id": "c1", "output": "Sunny, 21 degrees in Paris", "id": "fco_4"}))
    items.append(entry(5, {"type": "function_call_output", "call_id": "c2", "output": "Rain, 9 degrees in Oslo", "id": "fco_5"}))
    items.append(message(6, "assistant", "Paris is sunny at 21; Oslo has rain at 9."))
    items.append(message(7, "user", "Thanks! And tomorrow?"))
    return items


def pairs_intact(verbatim):
    calls, outputs = set(), set()
    for e in verbatim:
        item = json.loads(e.raw)
        if item["type"] == "function_call":
            calls.add(item["call_id"])
        elif item["type"] == "function_call_output":
            outputs.add(item["call_id"])
    return calls == outputs


def test_every_budget_respects_the_limit_and_never_splits_a_call_from_its_output():
    history = tool_history()
    total = sum(e.tokens for e in history) + tokens.TOKENS_REPLY_PRIMING
    for budget in range(1, total + 5):
        assembly = context.assemble(history, max_tokens=budget)
        assert assembly.estimated_input_tokens <= budget
        assert pairs_intact(assembly.verbatim), budget
        assert assembly.verbatim == history[len(history) - len(assembly.verbatim):]  # a suffix, oldest first
        assert assembly.truncated["items"] == len(history) - len(assembly.verbatim)
    assert context.assemble(history, max_tokens=total).verbatim == history


def test_an_output_whose_call_lies_in_the_summary_is_never_sent():
    history = tool_history()[3:]  # starts with the output of c1 (its call was summarised)
    assembly = context.assemble(history, max_tokens=100_000)
    assert [json.loads(e.raw)["id"] for e in assembly.verbatim] == ["msg_6", "msg_7"]
    assert assembly.truncated["items"] == 2


def test_recent_k_caps_the_verbatim_items_and_still_keeps_pairs():
    history = tool_history()
    assert [e.seq for e in context.assemble(history, max_tokens=10_000, recent_k=2).verbatim] == [6, 7]
    # four items would start inside the c1/c2 block: the cut moves later rather than split
    assert [e.seq for e in context.assemble(history, max_tokens=10_000, recent_k=4).verbatim] == [6, 7]
    assert [e.seq for e in context.assemble(history, max_tokens=10_000, recent_k=6).verbatim] == [2, 3, 4, 5, 6, 7]
    assert context.assemble(history, max_tokens=10_000, recent_k=0).verbatim == []


def test_instructions_are_never_cut_even_past_the_budget():
    history = tool_history()
    instructions = "You are a careful assistant. " * 50
    assembly = context.assemble(history, max_tokens=20, instructions=instructions)
    assert assembly.verbatim == [] and len(assembly.prefix) == 1
    assert assembly.estimated_input_tokens > 20
    assert json.loads(assembly.prefix[0])["content"] == instructions
    assert assembly.truncated["items"] == len(history)


def test_order_is_instructions_summary_recalled_then_verbatim():
    history = tool_history()[5:]
    span = context.RecalledSpan("conv_x", "turn", 1, 1, "user: my dog is called Rex", 0.9)
    assembly = context.assemble(
        history,
        max_tokens=10_000,
        instructions="Be brief.\r\nAlways.",
        summary=context.SummaryPart(5, "user asked about weather"),
        recalled=[span],
    )
    messages = json.loads(assembly.messages_json())
    assert messages[0]["content"] == "Be brief.\nAlways."  # one line-ending convention
    assert messages[1]["content"].startswith("Summary of the earlier conversation (items 1-5):\n")
    assert messages[2]["content"].endswith("user: my dog is called Rex")
    assert [m.get("id") for m in messages[3:]] == ["msg_6", "msg_7"]
    assert assembly.summary_upto_seq == 5 and assembly.recalled == [span]
    expected = sum(e.tokens for e in history) + 3 + sum(tokens.count_item(m) for m in messages[:3])
    assert assembly.estimated_input_tokens == expected


def test_fingerprint_covers_exactly_the_prefix():
    history = tool_history()
    base = context.assemble(history, max_tokens=10_000, instructions="Be brief.")
    shorter = context.assemble(history[:4], max_tokens=10_000, instructions="Be brief.")
    other = context.assemble(history, max_tokens=10_000, instructions="Be verbose.")
    crlf = context.assemble(history, max_tokens=10_000, instructions="Be brief.".replace("\n", "\r\n"))
    assert base.prefix_fingerprint == shorter.prefix_fingerprint == crlf.prefix_fingerprint
    assert base.prefix_fingerprint != other.prefix_fingerprint
    import hashlib

    assert base.prefix_fingerprint == hashlib.sha256(("[" + base.prefix[0] + "]").encode()).hexdigest()


def test_summary_that_does_not_fit_is_reported_and_left_out():
    history = tool_history()[5:]
    summary = context.SummaryPart(5, "word " * 500)
    assembly = context.assemble(history, max_tokens=60, summary=summary)
    assert assembly.truncated["summary"] is True and assembly.summary_upto_seq is None
    assert assembly.estimated_input_tokens <= 60


def test_render_is_canonical_json():
    assembly = context.assemble(tool_history(), max_tokens=10_000)
    body = context.render(conversation_id="c", response_id=None, version=3, assembly=assembly, with_recall=False)
    parsed = json.loads(body)
    assert body == json.dumps(parsed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert set(parsed) == {"conversation_id", "version", "messages", "estimated_input_tokens", "prefix_fingerprint", "truncated", "summary_upto_seq"}
