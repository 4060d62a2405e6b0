"""Responses items ↔ Chat Completions messages, in one place (the table in docs/gateway.md is this module).

Formats: OpenAI's Responses input/output items (``message``, ``function_call``, ``function_call_output``,
``reasoning``) and Chat Completions messages/choices (``system``/``user``/``assistant``/``tool``, ``tool_calls``,
``reasoning_content`` as vLLM, SGLang and llama.cpp return it).
"""

from __future__ import annotations

from convostore.errors import ValidationFailed

TEXT_PARTS = ("input_text", "output_text", "text", "summary_text")


def _text(content) -> str:
    """The text of message content: a string, or the text (and refusal) parts of a list, joined."""
    if isinstance(content, str):
        return content
    pieces = []
    for part in content or []:
        if isinstance(part, dict):
            if part.get("type") in TEXT_PARTS and isinstance(part.get("text"), str):
                pieces.append(part["text"])
            elif part.get("type") == "refusal" and isinstance(part.get("refusal"), str):
                pieces.append(part["refusal"])
    return "".join(pieces)


def _user_content(content):
    """User content for chat: a string stays a string; parts become chat parts (text, image_url); others are left out."""
    if isinstance(content, str):
        return content
    parts = []
    for part in content or []:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind in TEXT_PARTS:
            parts.append({"type": "text", "text": part.get("text", "")})
        elif kind == "input_image" and part.get("image_url"):
            parts.append({"type": "image_url", "image_url": {"url": part["image_url"], "detail": part.get("detail") or "auto"}})
    if all(p["type"] == "text" for p in parts):
        return "".join(p["text"] for p in parts)
    return parts


def items_to_messages(items: list[dict], *, instructions: str | None) -> list[dict]:
    """Chat messages for a Responses context (see the translation table in docs/gateway.md).

    ``instructions`` and every system/developer message before the first other message become one leading
    system message (strict chat templates accept a system message only first). Reasoning items and item
    types chat has no form for (web_search_call, …) are left out; they stay in the store.
    """
    messages: list[dict] = []
    leading = [instructions] if instructions else []
    for item in items:
        kind = item.get("type", "message")
        if kind == "message":
            role = "system" if item.get("role") == "developer" else item.get("role", "user")
            if role == "system" and not messages:
                leading.append(_text(item.get("content")))
            elif role == "assistant":
                messages.append({"role": "assistant", "content": _text(item.get("content"))})
            elif role == "system":
                messages.append({"role": "system", "content": _text(item.get("content"))})
            else:
                messages.append({"role": role, "content": _user_content(item.get("content"))})
        elif kind == "function_call":
            call = {"id": item.get("call_id", ""), "type": "function",
                    "function": {"name": item.get("name", ""), "arguments": item.get("arguments") or ""}}
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":
                last.setdefault("tool_calls", []).append(call)  # the text and the calls of one turn, or parallel calls
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            messages.append({"role": "tool", "tool_call_id": item.get("call_id", ""),
                             "content": output if isinstance(output, str) else _text(output)})
    if leading:
        messages.insert(0, {"role": "system", "content": "\n\n".join(leading)})
    return messages


def items_for_responses(items: list[dict]) -> list[dict]:
    """Context items for a stateless ``responses`` upstream: ConvoStore's ids are dropped (they mean nothing there);
    reasoning items are sent only with their ``encrypted_content`` (and then with their upstream id)."""
    sent = []
    for item in items:
        if item.get("type") == "reasoning":
            if item.get("encrypted_content"):
                sent.append(item)
            continue
        sent.append({key: value for key, value in item.items() if key != "id"})
    return sent


# --- request parameters ------------------------------------------------------------------------------


def tools_for_chat(tools: list[dict]) -> list[dict]:
    """Responses function tools as chat tools; any other tool type is a 400 (chat has no form for it)."""
    converted = []
    for index, tool in enumerate(tools):
        if tool.get("type") != "function":
            raise ValidationFailed(
                f"Tool type {tool.get('type')!r} is not available with this model's upstream (chat_completions); "
                "only function tools are.", param=f"tools[{index}].type", code="unsupported_value",
            )
        function = {key: tool[key] for key in ("name", "description", "parameters", "strict") if tool.get(key) is not None}
        converted.append({"type": "function", "function": function})
    return converted


def tool_choice_for_chat(choice):
    if choice is None or isinstance(choice, str):
        return choice
    if choice.get("type") == "function" and choice.get("name"):
        return {"type": "function", "function": {"name": choice["name"]}}
    raise ValidationFailed("This tool_choice has no chat_completions form; use a string or a function.", param="tool_choice",
                           code="unsupported_value")


def response_format_for_chat(text: dict | None):
    fmt = (text or {}).get("format") or {}
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") == "json_schema":
        schema = {key: fmt[key] for key in ("name", "schema", "strict", "description") if key in fmt}
        return {"type": "json_schema", "json_schema": schema}
    return None


def chat_params(request) -> dict:
    """The chat.completions.create arguments for a GatewayRequest (fields chat has no form for are not sent)."""
    params = {"temperature": request.temperature, "top_p": request.top_p, "max_tokens": request.max_output_tokens,
              "user": request.user, "response_format": response_format_for_chat(request.text)}
    if request.tools:
        params["tools"] = tools_for_chat(request.tools)
        params["tool_choice"] = tool_choice_for_chat(request.tool_choice)
        params["parallel_tool_calls"] = request.parallel_tool_calls
    if request.reasoning and request.reasoning.get("effort"):
        params["reasoning_effort"] = request.reasoning["effort"]
    return {key: value for key, value in params.items() if value is not None}


# --- answers -----------------------------------------------------------------------------------------

FINISH_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def reasoning_item(text: str) -> dict:
    return {"type": "reasoning", "summary": [{"type": "summary_text", "text": text}]}


def message_item(text: str, refusal: str | None = None, status: str = "completed") -> dict:
    parts = [{"type": "output_text", "text": text, "annotations": []}] if text or not refusal else []
    if refusal:
        parts.append({"type": "refusal", "refusal": refusal})
    return {"type": "message", "role": "assistant", "status": status, "content": parts}


def function_call_item(call_id: str, name: str, arguments: str) -> dict:
    return {"type": "function_call", "call_id": call_id, "name": name, "arguments": arguments or "", "status": "completed"}


def status_of(finish_reason) -> tuple[str, dict | None]:
    """(Responses status, incomplete_details) for a chat finish_reason."""
    reason = FINISH_INCOMPLETE.get(finish_reason or "")
    return ("incomplete", {"reason": reason}) if reason else ("completed", None)


def chat_output(message: dict, finish_reason) -> list[dict]:
    """Output items for a chat answer: reasoning (from ``reasoning_content``), the message, then the function calls."""
    items = []
    reasoning = message.get("reasoning_content") or message.get("reasoning")
    if reasoning:
        items.append(reasoning_item(reasoning))
    if message.get("content") or message.get("refusal"):
        status = "incomplete" if finish_reason in FINISH_INCOMPLETE else "completed"
        items.append(message_item(message.get("content") or "", message.get("refusal"), status))
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        items.append(function_call_item(call.get("id", ""), function.get("name", ""), function.get("arguments", "")))
    return items


def chat_usage(usage: dict | None) -> dict | None:
    """Chat usage (prompt/completion tokens) in the Responses usage shape."""
    if not usage:
        return None
    prompt, completion = usage.get("prompt_tokens") or 0, usage.get("completion_tokens") or 0
    return {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": (usage.get("completion_tokens_details") or {}).get("reasoning_tokens") or 0},
        "total_tokens": usage.get("total_tokens") or prompt + completion,
    }


# --- the other way: Chat Completions requests and answers (POST /v1/chat/completions) ----------------


def _chat_user_item(content) -> dict:
    if isinstance(content, str):
        return {"type": "message", "role": "user", "content": content}
    parts = []
    for part in content or []:
        if isinstance(part, dict) and part.get("type") == "text":
            parts.append({"type": "input_text", "text": part.get("text", "")})
        elif isinstance(part, dict) and part.get("type") == "image_url":
            image = part.get("image_url") or {}
            parts.append({"type": "input_image", "image_url": image.get("url", ""), "detail": image.get("detail") or "auto"})
    return {"type": "message", "role": "user", "content": parts}


def messages_to_items(messages: list[dict]) -> list[dict]:
    """Responses input items for chat messages (the inverse of items_to_messages): an assistant message becomes
    its text message then one function_call per tool call; a tool message a function_call_output."""
    items: list[dict] = []
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        if role in ("system", "developer"):
            items.append({"type": "message", "role": role, "content": _text(message.get("content"))})
        elif role == "user":
            items.append(_chat_user_item(message.get("content")))
        elif role == "assistant":
            text = _text(message.get("content"))
            if text or not message.get("tool_calls"):
                items.append({"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": text, "annotations": []}]})
            for call in message.get("tool_calls") or []:
                function = call.get("function") or {}
                items.append(function_call_item(call.get("id", ""), function.get("name", ""), function.get("arguments", "")))
        elif role == "tool":
            items.append({"type": "function_call_output", "call_id": message.get("tool_call_id", ""), "output": _text(message.get("content"))})
        else:
            raise ValidationFailed("Each message needs a role: system, developer, user, assistant or tool.",
                                   param=f"messages[{index}].role", code="invalid_value")
    return items


def chat_message(output: list[dict]) -> tuple[dict, list[dict]]:
    """(the assistant message of a chat answer, its tool_calls) for Responses output items."""
    text = "".join(p.get("text", "") for i in output if i.get("type") == "message" for p in i.get("content") or []
                   if p.get("type") == "output_text")
    refusal = "".join(p.get("refusal", "") for i in output if i.get("type") == "message" for p in i.get("content") or []
                      if p.get("type") == "refusal")
    reasoning = "".join(_text(i.get("summary")) for i in output if i.get("type") == "reasoning")
    calls = [{"id": i.get("call_id", ""), "type": "function", "function": {"name": i.get("name", ""), "arguments": i.get("arguments", "")}}
             for i in output if i.get("type") == "function_call"]
    message = {"role": "assistant", "content": text or None, "refusal": refusal or None}
    if reasoning:
        message["reasoning_content"] = reasoning
    if calls:
        message["tool_calls"] = calls
    return message, calls


def finish_reason_of(response: dict, has_calls: bool) -> str:
    """The chat finish_reason of a Responses object."""
    reason = (response.get("incomplete_details") or {}).get("reason")
    if reason == "max_output_tokens":
        return "length"
    if reason == "content_filter":
        return "content_filter"
    return "tool_calls" if has_calls else "stop"


def usage_for_chat(usage: dict | None) -> dict:
    usage = usage or {}
    prompt, completion = usage.get("input_tokens") or 0, usage.get("output_tokens") or 0
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
