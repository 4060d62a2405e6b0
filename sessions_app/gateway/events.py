"""Responses streaming events (OpenAI's names and fields) rendered as Server-Sent Events, with sequence numbers.

Order per output item: ``response.output_item.added``, for a message ``response.content_part.added``, the
``response.output_text.delta``s, ``response.output_text.done``, ``response.content_part.done``; for a function
call the ``response.function_call_arguments.delta``s and ``.done``; then ``response.output_item.done``. The
stream starts with ``response.created`` and ``response.in_progress`` and ends with exactly one of
``response.completed``, ``response.incomplete`` or ``response.failed``.
"""

from __future__ import annotations

import copy
import json

from convostore import canonical

from .upstream import Op

ID_PREFIXES = {**canonical.ID_PREFIXES, "message": "msg", "function_call": "fc", "reasoning": "rs"}


def output_with_ids(item: dict) -> dict:
    """An upstream output item under a ConvoStore id (a reasoning item with encrypted_content keeps its upstream id,
    which the upstream needs to read it back)."""
    if item.get("type") == "reasoning" and item.get("encrypted_content") and item.get("id"):
        return dict(item)
    return {**item, "id": canonical.new_id(ID_PREFIXES.get(item.get("type", ""), "item"))}


def sse(event: dict) -> bytes:
    return f"event: {event['type']}\ndata: {json.dumps(event, ensure_ascii=False, separators=(',', ':'))}\n\n".encode()


class StreamRenderer:
    """Turns upstream Ops (upstream.Op) into SSE bytes and builds the final output items.

    ``keep_ids`` (replay of a stored response): items keep the ids they carry; otherwise each gets a new id.
    """

    def __init__(self, skeleton: dict, *, keep_ids: bool = False):
        self.skeleton = skeleton
        self.keep_ids = keep_ids
        self.sequence = 0
        self.states: dict = {}  # key -> state dict
        self.order: list = []  # keys by output_index

    def event(self, kind: str, **fields) -> bytes:
        payload = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return sse(payload)

    def start(self) -> list[bytes]:
        snapshot = {**self.skeleton, "status": "in_progress", "output": [], "usage": None}
        return [self.event("response.created", response=snapshot), self.event("response.in_progress", response=snapshot)]

    def apply(self, op) -> list[bytes]:
        if op.kind == "open":
            return self._open(op)
        state = self.states.get(op.key)
        if state is None:
            return []
        if op.kind == "text" and state["type"] == "message":
            state["text"] += op.delta
            return [self.event("response.output_text.delta", item_id=state["id"], output_index=state["index"], content_index=0,
                               delta=op.delta, logprobs=[])]
        if op.kind == "args" and state["type"] == "function_call":
            state["args"] += op.delta
            return [self.event("response.function_call_arguments.delta", item_id=state["id"], output_index=state["index"], delta=op.delta)]
        if op.kind == "reasoning":
            state["reasoning"] += op.delta
            return []
        if op.kind == "close":
            return self._close(state, op.item)
        return []

    def _open(self, op) -> list[bytes]:
        events = []
        for key in self.order:  # a reasoning item never resumes once another item starts
            if self.states[key]["type"] == "reasoning" and not self.states[key]["done"]:
                events += self._close(self.states[key], None)
        item = dict(op.item or {"type": op.item_type})
        item["id"] = item["id"] if self.keep_ids and item.get("id") else output_with_ids(item)["id"]
        state = {"index": len(self.order), "id": item["id"], "type": item.get("type"), "item": item, "text": "", "args": "",
                 "reasoning": "", "done": False, "final": None}
        self.states[op.key] = state
        self.order.append(op.key)
        added = dict(item)
        if state["type"] == "message":
            added.update(status="in_progress", content=[])
        elif state["type"] == "function_call":
            added.update(status="in_progress", arguments="")
        events.append(self.event("response.output_item.added", output_index=state["index"], item=added))
        if state["type"] == "message":
            events.append(self.event("response.content_part.added", item_id=state["id"], output_index=state["index"], content_index=0,
                                     part={"type": "output_text", "text": "", "annotations": []}))
        return events

    def _close(self, state, upstream_item: dict | None) -> list[bytes]:
        if state["done"]:
            return []
        state["done"] = True
        final = dict(upstream_item) if upstream_item else self._built(state)
        final["id"] = state["id"]
        state["final"] = final
        events, where = [], {"item_id": state["id"], "output_index": state["index"]}
        if state["type"] == "message":
            parts = final.get("content") or [{"type": "output_text", "text": state["text"], "annotations": []}]
            text = "".join(p.get("text", "") for p in parts if p.get("type") == "output_text")
            events.append(self.event("response.output_text.done", **where, content_index=0, text=text, logprobs=[]))
            events.append(self.event("response.content_part.done", **where, content_index=0, part=parts[0]))
        elif state["type"] == "function_call":
            events.append(self.event("response.function_call_arguments.done", **where, arguments=final.get("arguments", "")))
        events.append(self.event("response.output_item.done", output_index=state["index"], item=final))
        return events

    def _built(self, state) -> dict:
        item = dict(state["item"])
        if state["type"] == "message":
            item.update(status="completed", content=[{"type": "output_text", "text": state["text"], "annotations": []}])
        elif state["type"] == "function_call":
            item.update(status="completed", arguments=state["args"])
        elif state["type"] == "reasoning" and state["reasoning"]:
            item["summary"] = [{"type": "summary_text", "text": state["reasoning"]}]
        return item

    def close_all(self) -> list[bytes]:
        events = []
        for key in self.order:
            events += self._close(self.states[key], None)
        return events

    def output(self) -> list[dict]:
        """The final output items, in output_index order (after close_all)."""
        return [self.states[key]["final"] for key in self.order]

    def finished(self, response: dict) -> bytes:
        """The terminal event for a finished response object: completed or incomplete."""
        kind = "response.incomplete" if response.get("status") == "incomplete" else "response.completed"
        return self.event(kind, response=response)

    def failed(self, error: dict) -> bytes:
        snapshot = {**self.skeleton, "status": "failed", "error": error, "output": [], "usage": None}
        return self.event("response.failed", response=snapshot)


def replay(response: dict) -> list[bytes]:
    """The SSE of a stored response object, rebuilt from it (an idempotent replay of a stream: true request)."""
    renderer = StreamRenderer(response, keep_ids=True)
    events = renderer.start()
    for index, item in enumerate(copy.deepcopy(response.get("output") or [])):
        events += renderer.apply(Op("open", key=index, item_type=item.get("type", ""), item=item))
        if item.get("type") == "message":
            text = "".join(p.get("text", "") for p in item.get("content") or [] if p.get("type") == "output_text")
            events += renderer.apply(Op("text", key=index, delta=text))
        elif item.get("type") == "function_call":
            events += renderer.apply(Op("args", key=index, delta=item.get("arguments", "")))
        events += renderer.apply(Op("close", key=index, item=item))
    events.append(renderer.finished(response))
    return events
