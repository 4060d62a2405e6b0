"""Chat Completions messages ↔ Responses items, for the LiteLLM hook's chat calls (no litellm, no Django).

The same mapping as ConvoStore's gateway (docs/gateway.md, "Translation"): ``user``/``assistant`` text ↔
``message``, an assistant's tool calls ↔ ``function_call`` items, ``tool`` ↔ ``function_call_output``; stored
``system``/``developer`` messages (summaries, recalled memories) go back as ``system`` messages.
"""

from __future__ import annotations

import json

LEADING = ("system", "developer")


def text_of(content) -> str:
    """A message's text: a string, or the ``text`` of its parts (input_text, output_text, text)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(part.get("text", "") for part in content if isinstance(part, dict))
    return ""


def split_leading(messages: list[dict]) -> tuple[list[dict], list[dict]]:
    """(the leading system/developer messages, sent every call and never stored; the new messages)."""
    count = 0
    while count < len(messages) and messages[count].get("role") in LEADING:
        count += 1
    return messages[:count], messages[count:]


def messages_to_items(messages: list[dict]) -> list[dict]:
    """New chat messages as the items ConvoStore stores."""
    items = []
    for message in messages:
        role = message.get("role")
        if role == "tool":
            items.append({"type": "function_call_output", "call_id": message.get("tool_call_id", ""),
                          "output": text_of(message.get("content"))})
            continue
        if message.get("content") or not message.get("tool_calls"):
            items.append({"type": "message", "role": role, "content": text_of(message.get("content"))})
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            items.append({"type": "function_call", "call_id": call.get("id", ""), "name": function.get("name", ""),
                          "arguments": function.get("arguments") or "{}"})
    return items


def items_to_messages(items: list[dict]) -> list[dict]:
    """Stored items (a context's ``messages``) as chat messages; consecutive function calls join one assistant turn."""
    messages: list[dict] = []
    for item in items:
        kind = item.get("type", "message")
        if kind == "function_call":
            call = {"id": item.get("call_id", ""), "type": "function",
                    "function": {"name": item.get("name", ""), "arguments": item.get("arguments", "{}")}}
            if messages and messages[-1]["role"] == "assistant" and "tool_calls" in messages[-1]:
                messages[-1]["tool_calls"].append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append({"role": "tool", "tool_call_id": item.get("call_id", ""),
                             "content": output if isinstance(output, str) else json.dumps(output)})
        elif kind == "message":
            role = item.get("role", "user")
            messages.append({"role": "system" if role in LEADING else role, "content": text_of(item.get("content"))})
    return messages


def answer_items(message: dict) -> list[dict]:
    """A chat answer's message (``choices[0].message``, as a dict) as output items."""
    items = []
    if message.get("content"):
        items.append({"type": "message", "role": "assistant",
                      "content": [{"type": "output_text", "text": text_of(message["content"]), "annotations": []}]})
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        items.append({"type": "function_call", "call_id": call.get("id", ""), "name": function.get("name", ""),
                      "arguments": function.get("arguments") or "{}"})
    return items


def usage_of(usage: dict | None) -> dict | None:
    """Chat usage (prompt/completion tokens) in the Responses shape ConvoStore keeps."""
    if not isinstance(usage, dict):
        return None
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    return {"input_tokens": prompt, "output_tokens": completion, "total_tokens": int(usage.get("total_tokens") or prompt + completion)}
