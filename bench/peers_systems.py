"""The four systems of bench/peers.py behind one shape: ``create(n) -> thread``, ``append(thread, message)``,
``read(thread) -> list`` (the whole thread, decoded), ``close()``.

The peers' packages (``bench`` extra) are imported only when their system is opened.
"""

from __future__ import annotations

import json
import os
import uuid

SYSTEMS = {
    "langgraph": "LangGraph PostgresSaver (in-process)",
    "redis_history": "Redis chat history (in-process)",
    "convostore_http": "ConvoStore over HTTP",
    "convostore": "ConvoStore in-process",
}

# What each system promises for an acknowledged append (the systems' docs and code, as benchmarked here).
GUARANTEES = {
    "langgraph": {
        "durable": "yes (Postgres commit)",
        "idempotent retry": "no key: a retried step writes a second checkpoint",
        "ordering / CAS": "no CAS: two writers on one thread both fork its latest checkpoint, one history is lost",
        "Redis lost": "n/a (no Redis)",
    },
    "redis_history": {
        "durable": "no (acknowledged in Redis memory; AOF/RDB at best)",
        "idempotent retry": "no: a retried RPUSH duplicates",
        "ordering / CAS": "list order; no CAS",
        "Redis lost": "history lost",
    },
    "convostore_http": {
        "durable": "yes (Postgres commit before the answer)",
        "idempotent retry": "yes (Idempotency-Key)",
        "ordering / CAS": "seq order; expected_version (409 on conflict)",
        "Redis lost": "nothing lost (Redis is a copy)",
    },
}
GUARANTEES["convostore"] = GUARANTEES["convostore_http"]

PAGE = 100  # the API's largest items page
WHOLE = 1_000_000  # the context endpoint's largest token budget: every item verbatim
CHUNK = 20  # CONVOSTORE_MAX_ITEMS_PER_APPEND


def message(i: int) -> dict:
    """A chat turn of ~200 bytes, alternating roles."""
    return {"role": "user" if i % 2 == 0 else "assistant", "content": f"Turn {i}: " + "some words here " * 12}


class LangGraph:
    """Checkpoints as a LangGraph graph writes them with a ``messages`` channel: each append reads the latest
    checkpoint of the thread and puts the next one (the whole message list is the channel's new blob)."""

    def __init__(self, context: dict):
        # lazy: peers from the bench extra
        import psycopg
        from langgraph.checkpoint.postgres import PostgresSaver
        from psycopg.rows import dict_row

        self.conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True, prepare_threshold=0, row_factory=dict_row)
        self.saver = PostgresSaver(self.conn)
        self.saver.setup()

    @staticmethod
    def _lc(item: dict):
        from langchain_core.messages import AIMessage, HumanMessage  # lazy: peers from the bench extra

        return (HumanMessage if item["role"] == "user" else AIMessage)(content=item["content"])

    def _put(self, config: dict, messages: list, previous: dict | None, step: int) -> dict:
        from langgraph.checkpoint.base import create_checkpoint, empty_checkpoint  # lazy: peers from the bench extra

        checkpoint = create_checkpoint(previous, None, step) if previous else empty_checkpoint()
        version = self.saver.get_next_version(previous["channel_versions"].get("messages") if previous else None, None)
        checkpoint["channel_values"] = {"messages": messages}
        checkpoint["channel_versions"] = {**checkpoint["channel_versions"], "messages": version}
        return self.saver.put(config, checkpoint, {"source": "loop", "step": step}, {"messages": version})

    def create(self, n: int) -> dict:
        config = {"configurable": {"thread_id": uuid.uuid4().hex, "checkpoint_ns": ""}}
        self._put(config, [self._lc(message(i)) for i in range(n)], None, 0)
        return config

    def append(self, config: dict, item: dict) -> None:
        latest = self.saver.get_tuple(config)
        messages = latest.checkpoint["channel_values"]["messages"] + [self._lc(item)]
        self._put(latest.config, messages, latest.checkpoint, latest.metadata.get("step", 0) + 1)

    def read(self, config: dict) -> list:
        return self.saver.get_tuple(config).checkpoint["channel_values"]["messages"]

    def close(self) -> None:
        self.conn.close()


class RedisHistory:
    def __init__(self, context: dict):
        self.url = os.environ["REDIS_URL"]

    def create(self, n: int):
        # lazy: peers from the bench extra
        from langchain_community.chat_message_histories import RedisChatMessageHistory

        history = RedisChatMessageHistory(f"peers-{uuid.uuid4().hex}", url=self.url, key_prefix="peers:")
        history.add_messages([LangGraph._lc(message(i)) for i in range(n)])
        return history

    def append(self, history, item: dict) -> None:
        history.add_message(LangGraph._lc(item))

    def read(self, history) -> list:
        return history.messages

    def close(self) -> None:
        pass


class ConvoStoreHttp:
    def __init__(self, context: dict):
        from convostore.client import Client  # lazy: Django-free client, as a gateway would use it

        self.client = Client(context["base_url"], context["key"], max_retries=0)

    def create(self, n: int) -> str:
        thread = f"peers-{uuid.uuid4().hex}"
        for start in range(0, n, CHUNK):
            self.client.append(thread, [message(i) for i in range(start, min(n, start + CHUNK))])
        return thread

    def append(self, thread: str, item: dict) -> None:
        self.client.append(thread, [item])

    def read(self, thread: str) -> list:
        """The whole thread in one request, as a gateway reads it before a model call: the context with a
        budget that holds it all (GET /v1/sessions/{id}/context?max_tokens=…)."""
        return self.client.context(thread, max_tokens=WHOLE)["messages"]

    def read_pages(self, thread: str) -> list:
        """The whole thread as items pages of PAGE (the OpenAI conversations.items.list way)."""
        items, after = [], None
        while True:
            page = self.client.items(thread, after=after, limit=PAGE)
            items += page["data"]
            if not page["has_more"]:
                return items
            after = page["last_id"]

    def close(self) -> None:
        self.client.close()


class ConvoStoreInProcess(ConvoStoreHttp):
    """The service functions the views call: conversation_append, then conversation_get + items_page per page."""

    def __init__(self, context: dict):
        from sessions_app.models import Tenant  # lazy: Django is set up by then

        self.tenant = Tenant.objects.get(pk=context["tenant_id"])

    def create(self, n: int) -> str:
        thread = f"peers-{uuid.uuid4().hex}"
        for start in range(0, n, CHUNK):
            self.append_many(thread, [message(i) for i in range(start, min(n, start + CHUNK))])
        return thread

    def append_many(self, thread: str, items: list) -> None:
        from sessions_app.services import conversation_append  # lazy: Django is set up by then

        conversation_append(tenant=self.tenant, conversation_id=thread, items=items)

    def append(self, thread: str, item: dict) -> None:
        self.append_many(thread, [item])

    def read(self, thread: str) -> list:
        """The service functions the context view calls, with a budget that holds the whole thread."""
        # lazy: Django is set up by then
        from sessions_app.context.build import ContextRequest, context_build
        from sessions_app.context.targets import context_target, context_target_hot

        target = context_target_hot(tenant=self.tenant, conversation_id=thread) or context_target(tenant=self.tenant, conversation_id=thread)
        return json.loads(context_build(tenant=self.tenant, target=target, request=ContextRequest(max_tokens=WHOLE)))["messages"]

    def read_pages(self, thread: str) -> list:
        # lazy: Django is set up by then
        from sessions_app import selectors
        from sessions_app.api.serializers import item_body

        items, after = [], None
        while True:
            conversation = selectors.conversation_get(tenant=self.tenant, conversation_id=thread)
            page = selectors.items_page(tenant=self.tenant, conversation=conversation, after=after, limit=PAGE, order="asc")
            items += [item_body(entry) for entry in page.entries]
            if not page.has_more:
                return items
            after = items[-1]["id"]

    def close(self) -> None:
        from django.db import connections  # lazy: Django is set up by then

        connections.close_all()


_CLASSES = {"langgraph": LangGraph, "redis_history": RedisHistory, "convostore_http": ConvoStoreHttp, "convostore": ConvoStoreInProcess}


def open_system(name: str, context: dict):
    return _CLASSES[name](context)
