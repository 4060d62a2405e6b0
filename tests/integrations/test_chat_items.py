"""convostore.integrations.chat_items: the LiteLLM hook's chat ↔ items mapping (importable without litellm)."""

from convostore.integrations import chat_items

TURN = [
    {"role": "user", "content": "Weather in Rome?"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Rome"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
    {"role": "tool", "tool_call_id": "call_1", "content": "warm"},
    {"role": "tool", "tool_call_id": "call_2", "content": "noon"},
    {"role": "assistant", "content": "Warm at noon."},
]


def test_messages_round_trip_through_items():
    items = chat_items.messages_to_items(TURN)
    assert [i["type"] for i in items] == ["message", "function_call", "function_call", "function_call_output",
                                          "function_call_output", "message"]
    assert chat_items.items_to_messages(items) == TURN


def test_leading_system_messages_are_split_off_and_stored_ones_come_back_as_system():
    leading, new = chat_items.split_leading([{"role": "system", "content": "Be brief."}, {"role": "developer", "content": "x"},
                                             {"role": "user", "content": "Hi"}, {"role": "system", "content": "late"}])
    assert [m["role"] for m in leading] == ["system", "developer"] and [m["role"] for m in new] == ["user", "system"]
    summary = {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Summary: …"}]}
    assert chat_items.items_to_messages([summary]) == [{"role": "system", "content": "Summary: …"}]


def test_an_answer_and_its_usage_in_the_responses_shape():
    message = {"role": "assistant", "content": "Sure.", "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": None}}]}
    assert chat_items.answer_items(message) == [
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "Sure.", "annotations": []}]},
        {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"}]
    assert chat_items.usage_of({"prompt_tokens": 5, "completion_tokens": 2}) == {"input_tokens": 5, "output_tokens": 2, "total_tokens": 7}
    assert chat_items.usage_of(None) is None

