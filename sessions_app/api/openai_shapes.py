"""OpenAI output shapes over stored items: presentation only, the stored bytes never change."""

from __future__ import annotations

import json

from convostore.errors import NotFound

# Item types whose SDK model requires ``status``; every other type is returned exactly as stored.
STATUS_REQUIRED = frozenset(
    {
        "message",
        "function_call",
        "function_call_output",
        "file_search_call",
        "web_search_call",
        "computer_call",
        "computer_call_output",
        "code_interpreter_call",
        "image_generation_call",
        "local_shell_call",
        "shell_call",
        "shell_call_output",
        "apply_patch_call",
        "apply_patch_call_output",
        "tool_search_call",
        "tool_search_output",
    }
)
OUTPUT_ROLES = frozenset({"assistant"})


def item_shape(raw: str) -> dict:
    """A stored item in OpenAI shape: string message content becomes one text part; status when required."""
    item = json.loads(raw)
    kind = item.get("type")
    if kind == "message" and isinstance(item.get("content"), str):
        item["content"] = [_text_part(item.get("role"), item["content"])]
    if kind in STATUS_REQUIRED and "status" not in item:
        item["status"] = "completed"
    return item


def _text_part(role, text: str) -> dict:
    if role in OUTPUT_ROLES:
        return {"type": "output_text", "text": text, "annotations": []}
    return {"type": "input_text", "text": text}


def item_id(raw: str) -> str:
    return json.loads(raw).get("id", "")


def list_body(entries, *, has_more: bool) -> dict:
    data = [item_shape(entry.raw) for entry in entries]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0].get("id") if data else None,
        "last_id": data[-1].get("id") if data else None,
        "has_more": has_more,
    }


def page(entries: list, *, after: str | None, limit: int, order: str) -> dict:
    """One cursor page (``after`` an item id) over entries held oldest first."""
    ordered = list(reversed(entries)) if order == "desc" else list(entries)
    start = 0
    if after:
        for index, entry in enumerate(ordered):
            if item_id(entry.raw) == after:
                start = index + 1
                break
        else:
            raise NotFound(f"No item found with id {after!r} here.", param="after")
    chosen = ordered[start : start + limit]
    return list_body(chosen, has_more=start + limit < len(ordered))


def unix(moment) -> int:
    return int(moment.timestamp())


def conversation_shape(conversation) -> dict:
    return {
        "id": conversation.conversation_id,
        "object": "conversation",
        "created_at": unix(conversation.created_at),
        "metadata": conversation.metadata or {},
    }


def conversation_deleted_shape(conversation_id: str) -> dict:
    return {"id": conversation_id, "object": "conversation.deleted", "deleted": True}


def response_shape(response, output_entries) -> dict:
    """A stored response as the Responses API's ``response`` object.

    Responses created through POST /v1/responses echo their request (instructions, tools, metadata and
    ``params``); ones stored natively, or before those were kept, answer OpenAI's defaults. ``conversation``
    is null unless the create named one (native responses always name theirs).
    """
    created, params = unix(response.created_at), response.params or {}
    shape = {
        "id": response.response_id,
        "object": "response",
        "created_at": created,
        "completed_at": created if response.status == "completed" else None,
        "status": response.status,
        "background": False,
        "error": None,
        "incomplete_details": params.get("incomplete_details"),
        "instructions": response.instructions,
        "max_output_tokens": params.get("max_output_tokens"),
        "metadata": response.metadata or {},
        "model": response.model,
        "output": [item_shape(entry.raw) for entry in output_entries],
        "parallel_tool_calls": params.get("parallel_tool_calls", True),
        "previous_response_id": response.previous_response_id or None,
        "conversation": _conversation_of(response, params),
        "store": params.get("store", True),
        "temperature": params.get("temperature"),
        "tool_choice": params.get("tool_choice", "auto"),
        "tools": response.tools or [],
        "top_p": params.get("top_p"),
        "truncation": params.get("truncation", "disabled"),
        "usage": response.usage,
    }
    for name in ECHOED_WHEN_SENT:
        if params.get(name) is not None:
            shape[name] = params[name]
    return shape


def _conversation_of(response, params: dict) -> dict | None:
    if "conversation" in params:
        return {"id": params["conversation"]} if params["conversation"] else None
    return {"id": response.conversation.conversation_id}


# Request fields the Responses object carries only when the create sent them.
ECHOED_WHEN_SENT = ("text", "reasoning", "user", "safety_identifier", "prompt_cache_key")


def response_deleted_shape(response_id: str) -> dict:
    return {"id": response_id, "object": "response.deleted", "deleted": True}
