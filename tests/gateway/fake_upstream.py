"""A fake OpenAI-compatible model server on loopback: /v1/responses and /v1/chat/completions, streaming or not.

The answer is deterministic: ``echo: <last user text>``, or ``tool result: <output>`` after a tool output.
A directive at the start of the last user text asks for something else:

    !tool NAME {json args}   a function call to NAME (both APIs, only when the request sent tools)
    !reason                  a reasoning item first (chat: ``reasoning_content``)
    !long N                  an answer of N words (many stream deltas)
    !slow N                  an answer of N words, streamed at 100 words per second
    !fail STATUS MESSAGE     an HTTP error in OpenAI's shape (404 → code model_not_found)
    !hang                    answer only once ``release`` is set (or after 30 s): a timeout
    !cut                     stream: close the connection after the first delta; non-stream: close without answering
    !hold [N]                stream: an N-word answer (40), two deltas, then wait for ``release``, then the rest

Every request is recorded (path, lower-cased headers, JSON body) so tests can check what the upstream was sent.
"""

from __future__ import annotations

import json
import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DIRECTIVE = re.compile(r"^!(tool|reason|long|slow|fail|hang|cut|hold)\b\s*(.*)$", re.S)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # 16 benchmark clients must not be reset by a short listen backlog


class FakeUpstream:
    def __init__(self, *, api_key: str | None = None):
        self.api_key = api_key
        self.requests: list[dict] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._counter = 0
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.fake = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> "FakeUpstream":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    @property
    def port(self) -> int:
        return self.server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def record(self, path: str, headers: dict, body: dict) -> int:
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "body": body})
            self._counter += 1
            return self._counter

    def calls(self, path_suffix: str = "") -> list[dict]:
        with self._lock:
            return [r for r in self.requests if r["path"].endswith(path_suffix)]


# --- what to answer --------------------------------------------------------------------------------


def _text_of(content) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def _last_turn(body: dict, chat: bool) -> tuple[str, str | None]:
    """(last user text, output of a tool call when that came last)."""
    entries = body.get("messages") if chat else body.get("input")
    if isinstance(entries, str):
        return entries, None
    last_user, tool_output = "", None
    for entry in entries or []:
        if entry.get("type") == "function_call_output" or (chat and entry.get("role") == "tool"):
            tool_output = _text_of(entry.get("content") if chat else entry.get("output"))
        elif entry.get("role") == "user":
            last_user, tool_output = _text_of(entry.get("content")), None
    return last_user, tool_output


class Plan:
    """What one request asks for: the answer text, an optional tool call and reasoning, and a mode."""

    def __init__(self, body: dict, chat: bool):
        text, tool_output = _last_turn(body, chat)
        self.mode, self.tool, self.reason, self.status, self.message = None, None, False, 200, ""
        words = None
        match = DIRECTIVE.match(text.strip()) if tool_output is None else None
        if match:
            name, rest = match.group(1), match.group(2).strip()
            if name == "tool" and body.get("tools"):
                tool, _, args = rest.partition(" ")
                self.tool = (tool, args.strip() or "{}")
            elif name == "reason":
                self.reason = True
            elif name == "long":
                words = int(rest or "50")
            elif name == "slow":
                self.mode, words = "slow", int(rest or "50")
            elif name == "hold":
                self.mode, words = "hold", int(rest or "40")
            elif name == "fail":
                status, _, message = rest.partition(" ")
                self.status, self.message = int(status), message or "upstream refused"
            else:
                self.mode = name
        if tool_output is not None:
            self.text = f"tool result: {tool_output}"
        elif words is not None:
            self.text = " ".join(f"w{i}" for i in range(words))
        else:
            self.text = f"echo: {text}"
        self.input_tokens = max(1, len(json.dumps(body.get("messages") or body.get("input") or "")) // 4)
        self.output_tokens = len(self.text.split()) + (3 if self.reason else 0)

    def deltas(self) -> list[str]:
        words = self.text.split(" ")
        return [w + (" " if i < len(words) - 1 else "") for i, w in enumerate(words)]


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes; a model server sets TCP_NODELAY too

    def log_message(self, *args):  # quiet
        pass

    @property
    def fake(self) -> FakeUpstream:
        return self.server.fake

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        number = self.fake.record(self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        if self.fake.api_key is not None and self.headers.get("Authorization") != f"Bearer {self.fake.api_key}":
            return self._error(401, "Incorrect API key provided.", "invalid_api_key")
        chat = self.path.endswith("/chat/completions")
        if not chat and not self.path.endswith("/responses"):
            return self._error(404, f"No route {self.path}.", "not_found")
        plan = Plan(body, chat)
        if plan.status != 200:
            code = {404: "model_not_found", 429: "rate_limit_exceeded"}.get(plan.status, "upstream_test_error")
            return self._error(plan.status, plan.message, code)
        if plan.mode == "hang":
            self.fake.release.wait(30)
        stream = bool(body.get("stream"))
        if plan.mode == "cut" and not stream:
            self.close_connection = True
            return
        model = body.get("model", "")
        if stream:
            events = _chat_chunks(plan, model, number, body) if chat else _responses_events(plan, model, number)
            return self._stream(events, plan, chat)
        answer = _chat_answer(plan, model, number) if chat else _responses_answer(plan, model, number)
        self._json(200, answer)

    def _json(self, status: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:  # the client gave up (a timeout test)
            self.close_connection = True

    def _error(self, status: int, message: str, code: str) -> None:
        kind = "rate_limit_error" if status == 429 else "invalid_request_error"
        self._json(status, {"error": {"message": message, "type": kind, "param": None, "code": code}})

    def _stream(self, events, plan: Plan, chat: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        deltas_sent = 0
        for name, payload in events:
            if name in ("delta",):
                deltas_sent += 1
                if plan.mode == "cut" and deltas_sent > 1:
                    self.wfile.flush()
                    return  # the connection closes with no terminal event
                if plan.mode == "hold" and deltas_sent == 3:
                    self.fake.release.wait(30)
            line = f"data: {json.dumps(payload)}\n\n" if chat else f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n"
            try:
                self.wfile.write(line.encode())
                self.wfile.flush()
            except OSError:
                return
            if plan.mode == "hold" and deltas_sent >= 3:
                time.sleep(0.005)  # pace the rest, so the reader may go away midway
            if plan.mode == "slow" and name == "delta":
                time.sleep(0.01)  # a model generating 100 tokens/s
        if chat:
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()


# --- chat completions --------------------------------------------------------------------------------


def _chat_usage(plan: Plan) -> dict:
    usage = {"prompt_tokens": plan.input_tokens, "completion_tokens": plan.output_tokens,
             "total_tokens": plan.input_tokens + plan.output_tokens}
    if plan.reason:
        usage["completion_tokens_details"] = {"reasoning_tokens": 3}
    return usage


def _chat_answer(plan: Plan, model: str, number: int) -> dict:
    message = {"role": "assistant", "content": None if plan.tool else plan.text}
    if plan.reason:
        message["reasoning_content"] = "Thinking it over."
    if plan.tool:
        message["tool_calls"] = [{"id": f"call_{number}", "type": "function",
                                  "function": {"name": plan.tool[0], "arguments": plan.tool[1]}}]
    finish = "tool_calls" if plan.tool else "stop"
    return {"id": f"chatcmpl-{number}", "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish}], "usage": _chat_usage(plan)}


def _chat_chunks(plan: Plan, model: str, number: int, body: dict):
    base = {"id": f"chatcmpl-{number}", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}

    def chunk(delta, finish=None):
        return {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    yield "start", chunk({"role": "assistant", "content": ""})
    if plan.reason:
        for piece in ("Thinking ", "it over."):
            yield "reasoning", chunk({"reasoning_content": piece})
    if plan.tool:
        name, args = plan.tool
        yield "tool", chunk({"tool_calls": [{"index": 0, "id": f"call_{number}", "type": "function",
                                             "function": {"name": name, "arguments": ""}}]})
        middle = len(args) // 2
        for piece in (args[:middle], args[middle:]):
            yield "delta", chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]})
        yield "finish", chunk({}, "tool_calls")
    else:
        for piece in plan.deltas():
            yield "delta", chunk({"content": piece})
        yield "finish", chunk({}, "stop")
    if (body.get("stream_options") or {}).get("include_usage"):
        yield "usage", {**base, "choices": [], "usage": _chat_usage(plan)}


# --- responses ---------------------------------------------------------------------------------------


def _responses_usage(plan: Plan) -> dict:
    return {"input_tokens": plan.input_tokens, "output_tokens": plan.output_tokens,
            "total_tokens": plan.input_tokens + plan.output_tokens,
            "input_tokens_details": {"cached_tokens": 0}, "output_tokens_details": {"reasoning_tokens": 3 if plan.reason else 0}}


def _responses_items(plan: Plan, number: int) -> list[dict]:
    items = []
    if plan.reason:
        items.append({"type": "reasoning", "id": f"rs_up{number}", "summary": [{"type": "summary_text", "text": "Thinking it over."}]})
    if plan.tool:
        items.append({"type": "function_call", "id": f"fc_up{number}", "call_id": f"call_{number}", "name": plan.tool[0],
                      "arguments": plan.tool[1], "status": "completed"})
    else:
        items.append({"type": "message", "id": f"msg_up{number}", "role": "assistant", "status": "completed",
                      "content": [{"type": "output_text", "text": plan.text, "annotations": []}]})
    return items


def _response(plan: Plan, model: str, number: int, status: str, output: list) -> dict:
    return {"id": f"resp_up{number}", "object": "response", "created_at": int(time.time()), "status": status, "model": model,
            "output": output, "usage": _responses_usage(plan) if status == "completed" else None, "error": None,
            "incomplete_details": None, "instructions": None, "metadata": {}, "parallel_tool_calls": True,
            "temperature": None, "tool_choice": "auto", "tools": [], "top_p": None}


def _responses_answer(plan: Plan, model: str, number: int) -> dict:
    return _response(plan, model, number, "completed", _responses_items(plan, number))


def _responses_events(plan: Plan, model: str, number: int):
    seq = iter(range(10_000))

    def event(kind, **fields):
        return {"type": kind, "sequence_number": next(seq), **fields}

    yield "start", event("response.created", response=_response(plan, model, number, "in_progress", []))
    yield "start", event("response.in_progress", response=_response(plan, model, number, "in_progress", []))
    items = _responses_items(plan, number)
    for index, item in enumerate(items):
        if item["type"] == "message":
            yield "item", event("response.output_item.added", output_index=index,
                                item={**item, "status": "in_progress", "content": []})
            part = {"type": "output_text", "text": "", "annotations": []}
            yield "part", event("response.content_part.added", item_id=item["id"], output_index=index, content_index=0, part=part)
            for piece in plan.deltas():
                yield "delta", event("response.output_text.delta", item_id=item["id"], output_index=index, content_index=0,
                                     delta=piece, logprobs=[])
            yield "done", event("response.output_text.done", item_id=item["id"], output_index=index, content_index=0,
                                text=plan.text, logprobs=[])
            yield "done", event("response.content_part.done", item_id=item["id"], output_index=index, content_index=0,
                                part={**part, "text": plan.text})
        elif item["type"] == "function_call":
            yield "item", event("response.output_item.added", output_index=index,
                                item={**item, "arguments": "", "status": "in_progress"})
            middle = len(item["arguments"]) // 2
            for piece in (item["arguments"][:middle], item["arguments"][middle:]):
                yield "delta", event("response.function_call_arguments.delta", item_id=item["id"], output_index=index, delta=piece)
            yield "done", event("response.function_call_arguments.done", item_id=item["id"], output_index=index,
                                arguments=item["arguments"])
        else:
            yield "item", event("response.output_item.added", output_index=index, item=item)
        yield "done", event("response.output_item.done", output_index=index, item=item)
    yield "end", event("response.completed", response=_response(plan, model, number, "completed", items))


def main() -> None:
    """Serve on a port of its own (bench/gateway.py runs it as a separate process): ``python -m tests.gateway.fake_upstream PORT``."""
    import sys

    fake = FakeUpstream()
    fake.server.server_close()
    fake.server = _Server(("127.0.0.1", int(sys.argv[1])), _Handler)
    fake.server.fake = fake
    fake.requests = _Forgetful()
    print(f"fake upstream on {fake.base_url}", flush=True)
    fake.server.serve_forever()


class _Forgetful(list):
    """A long-running fake keeps no request log."""

    def append(self, value):
        pass


if __name__ == "__main__":
    main()
