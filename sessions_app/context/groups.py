"""Items the OpenAI API requires together: a trim for a token budget keeps or drops each group whole.

The rule (docs/context.md has it as a table):

- a ``reasoning`` item goes with the item that follows it (so a reasoning item before a call joins the call's group);
- ``function_call`` ↔ ``function_call_output``, ``custom_tool_call`` ↔ ``custom_tool_call_output``,
  ``computer_call`` ↔ ``computer_call_output``, ``local_shell_call`` ↔ ``local_shell_call_output``, and any
  other ``*_call`` ↔ ``*_call_output`` pair, matched by ``call_id``; parallel calls and all their outputs
  form one group (their spans overlap);
- ``mcp_approval_request`` ↔ ``mcp_approval_response``, matched by the request's ``id`` and the response's
  ``approval_request_id``;
- single-item calls without an output item (``mcp_call``, ``web_search_call``, ``file_search_call``,
  ``code_interpreter_call``, ``image_generation_call``) stand alone, but for a reasoning item before them;
- an output (or approval response) whose call (or request) is not among the items — it lies in the
  summary or was deleted — is never sent: every cut up to and including it is refused.

``blocked_cuts(entries)[c]`` is True when starting the verbatim turns at ``entries[c]`` would split a group.
"""

from __future__ import annotations

import json

from cache_app.hot_window import Entry

_HINTS = ('"type":"reasoning"', '"call_id"', '"type":"mcp_approval_')


def _spans(entries: list[Entry]) -> list[tuple[int, int]]:
    """(first, last) index of every pairing; first is -1 for an output whose call is missing."""
    spans: list[tuple[int, int]] = []
    calls: dict[str, int] = {}
    requests: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if not any(hint in entry.raw for hint in _HINTS):
            continue
        item = json.loads(entry.raw)
        kind = str(item.get("type", ""))
        if kind == "reasoning":
            if index + 1 < len(entries):
                spans.append((index, index + 1))
        elif kind == "mcp_approval_request" and isinstance(item.get("id"), str):
            requests.setdefault(item["id"], index)
        elif kind == "mcp_approval_response":
            spans.append((requests.get(item.get("approval_request_id"), -1), index))
        elif isinstance(item.get("call_id"), str):
            if kind.endswith("_output"):
                spans.append((calls.get(item["call_id"], -1), index))
            else:
                calls.setdefault(item["call_id"], index)
    return spans


def blocked_cuts(entries: list[Entry]) -> list[bool]:
    """blocked[c] (0 <= c <= len(entries)) is True when entries[c:] would split a group (see the module rule)."""
    diff = [0] * (len(entries) + 2)
    for first, last in _spans(entries):
        diff[first + 1] += 1  # cuts first+1 .. last fall inside the group
        diff[last + 1] -= 1
    blocked, running = [], 0
    for cut in range(len(entries) + 1):
        running += diff[cut]
        blocked.append(running > 0)
    return blocked
