"""The chaos workload of issue 11: conversations of mixed shapes, every read path, and Postgres's own answer.

``Workload.build`` makes conversations through the services (plain chains, function calls, forks and
forks of forks, summaries, archived segments cold and hot); ``Workload.write`` adds an append or a
stored response (sometimes a fork); ``Workload.compare`` reads every path of a conversation as the
API serves it and again with the hot Redis layer bypassed (every call raises RedisUnavailable, so
Postgres and the archive segments answer alone) and records each body that differs.
"""

from __future__ import annotations

import json
import random
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sessions_app.lifecycle import conversation_archive
from sessions_app.lifecycle import summary_refresh
from cache_app import keys, lru, redis_client
from sessions_app.support import transcripts as admin_support
from sessions_app.models import Conversation
from sessions_app.services import conversation_append, response_store
from sessions_app.services.portability import conversation_export
from sessions_app.services.tenants import hash_key

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
WORDS = "order shipped refund invoice parcel weather station alpha beta gamma delta tokens window fork".split()


@dataclass
class Figures:
    """What a chaos run did; ``mismatches`` must stay 0."""

    variant: str
    conversations: int = 0
    rounds: int = 0
    keys_deleted: int = 0
    fields_deleted: int = 0
    writes: int = 0
    reads_compared: int = 0
    mismatches: int = 0
    examples: list = field(default_factory=list)

    def record(self, **extra) -> dict:
        """Print the figures and write them to tests/artifacts/partial_loss_<variant>.json."""
        body = {k: v for k, v in vars(self).items() if k != "examples"} | extra | {"first_mismatches": self.examples[:5]}
        print(f"\npartial-loss chaos {json.dumps(body)}")
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / f"partial_loss_{self.variant}.json").write_text(json.dumps(body, indent=2) + "\n")
        return body


@dataclass
class Conv:
    conversation_id: str
    responses: list[str]  # oldest first; the last is the head unless an append followed it
    ancestors: list[str]  # conversation ids up the fork chain


class Workload:
    def __init__(self, *, tenant, api, rng: random.Random, figures: Figures, text_words: int = 12):
        self.tenant, self.api, self.rng, self.figures = tenant, api, rng, figures
        self.scale = max(1, text_words // 12)  # item texts are this many times longer than the default
        self.convs: dict[str, Conv] = {}
        self.serial = 0

    # --- writes ------------------------------------------------------------------------------------

    def _text(self, words: int = 12) -> str:
        return " ".join(self.rng.choice(WORDS) for _ in range(words * self.scale)) + f" #{self.rng.randrange(10**6)}"

    def _turn(self) -> tuple[list, list]:
        user = [{"role": "user", "content": self._text()}]
        if self.rng.random() < 0.3:
            call = f"call_{self.rng.randrange(10**9)}"
            user.append({"type": "function_call", "call_id": call, "name": "lookup", "arguments": json.dumps({"q": self._text(3)})})
            user.append({"type": "function_call_output", "call_id": call, "output": self._text(6)})
        return user, [{"role": "assistant", "content": [{"type": "output_text", "text": self._text(20)}]}]

    def _respond(self, conv: Conv, *, previous: str | None = None, new_id: str | None = None) -> Conv:
        """Store a response at the head (or after ``previous``, into the fork ``new_id``); returns its conversation."""
        self.serial += 1
        response_id = f"r{self.serial}"
        input_items, output_items = self._turn()
        previous = previous or (conv.responses[-1] if conv.responses else None)
        body = response_store(
            tenant=self.tenant, input_items=input_items, output_items=output_items, response_id=response_id,
            previous_response_id=previous, conversation_id=new_id or (None if previous else conv.conversation_id),
        ).body
        if body["forked"]:
            conv = Conv(body["conversation_id"], [], [conv.conversation_id, *conv.ancestors])
            self.convs[conv.conversation_id] = conv
        conv.responses.append(response_id)
        self.figures.writes += 1
        return conv

    def _append(self, conv: Conv) -> None:
        items = [{"role": "user", "content": self._text()}] if self.rng.random() < 0.6 else self._turn()[0]
        conversation_append(tenant=self.tenant, conversation_id=conv.conversation_id, items=items)
        if conv.responses:  # the last response is no longer the head: continuing from it would fork
            conv.responses.append(None)
        self.figures.writes += 1

    def _new(self, index: int) -> Conv:
        conv = Conv(f"c{index}", [], [])
        self.convs[conv.conversation_id] = conv
        conversation_append(tenant=self.tenant, conversation_id=conv.conversation_id, items=[{"role": "system", "content": "Be brief."}])
        return conv

    def _fork(self, parent: Conv) -> Conv:
        """A fork from one of the parent's responses (not its head when it has several), or the head if too deep."""
        if len(parent.ancestors) + 1 >= self.tenant.max_fork_depth:
            return self._respond(parent)
        stored = [r for r in parent.responses if r]
        self.serial += 1
        return self._respond(parent, previous=self.rng.choice(stored[:-1] or stored), new_id=f"f{self.serial}")

    def build(self, count: int) -> None:
        """``count`` conversations, shapes in rotation: chain, function calls, fork, summary, archived."""
        for index in range(count):
            shape = index % 5
            if shape == 2 and len(self.convs) > 3:
                parent = self.rng.choice([c for c in self.convs.values() if any(c.responses)])
                conv = self._fork(parent)
                for _ in range(self.rng.randint(0, 3)):
                    conv = self._respond(conv)
                continue
            conv = self._new(index)
            for _ in range(self.rng.randint(2, 9 if shape in (3, 4) else 5)):
                conv = self._respond(conv)
                if self.rng.random() < 0.2:
                    self._append(conv)
            row = Conversation.objects.get(tenant=self.tenant, conversation_id=conv.conversation_id)
            if shape == 3:
                summary_refresh(conversation=row, force=True)
            elif shape == 4:
                conversation_archive(conversation=row, keep_window=self.rng.random() < 0.5)
                if self.rng.random() < 0.5:
                    self._respond(conv)  # turns after the archived segments
        self.figures.conversations = len(self.convs)

    def write(self) -> Conv:
        """An append, a response at the head, or a fork of a random conversation; returns the one written."""
        conv = self.rng.choice(list(self.convs.values()))
        roll = self.rng.random()
        if roll < 0.3:
            self._append(conv)
            return conv
        if roll < 0.45 and any(conv.responses):
            return self._fork(conv)
        return self._respond(conv)

    # --- damage ------------------------------------------------------------------------------------

    def keys_of(self, conv: Conv) -> tuple[list[str], list[str]]:
        """(keys, hash keys) that hold a copy of something this conversation's reads use."""
        t = self.tenant.pk
        names, hashes = [], []
        for cid in [conv.conversation_id, *conv.ancestors]:
            names += [keys.window(t, cid), keys.window_meta(t, cid), keys.context_header(t, cid),
                      keys.lru_bucket(lru.bucket_of(t, cid))]
            hashes += [keys.window_meta(t, cid), keys.context_header(t, cid)]
        names += [keys.response_index(t, r) for r in conv.responses if r]
        names.append(keys.api_key(hash_key(self.api.raw_key)))
        return names, hashes

    def damage(self, raw, conv: Conv) -> None:
        """Delete a random subset of the conversation's keys and random single fields of its hashes."""
        names, hashes = self.keys_of(conv)
        fields_before = self.figures.fields_deleted
        for name in self.rng.sample(hashes, self.rng.randint(0, len(hashes))):
            fields = raw.hkeys(name)
            if fields:
                self.figures.fields_deleted += raw.hdel(name, self.rng.choice(fields))
        at_least = 0 if self.figures.fields_deleted > fields_before else 1
        chosen = self.rng.sample(names, self.rng.randint(at_least, min(len(names), 6)))
        if chosen:
            self.figures.keys_deleted += raw.delete(*chosen)

    def partial_windows(self, raw) -> list[Conv]:
        """Conversations whose window list or meta hash is in Redis without the other (EXISTS does not touch the LRU)."""
        pipe = raw.pipeline(transaction=False)
        convs = list(self.convs.values())
        for conv in convs:
            pipe.exists(keys.window(self.tenant.pk, conv.conversation_id))
            pipe.exists(keys.window_meta(self.tenant.pk, conv.conversation_id))
        found = pipe.execute()
        return [conv for conv, listed, meta in zip(convs, found[::2], found[1::2]) if listed != meta]

    # --- reads -------------------------------------------------------------------------------------

    def _pages(self, path: str, order: str, limit: int) -> list[bytes]:
        bodies, after = [], None
        while True:
            params = {"order": order, "limit": limit} | ({"after": after} if after else {})
            response = self.api.get(path, params)
            bodies.append(b"%d " % response.status_code + response.content)
            body = response.json() if response.status_code == 200 else {}
            if not body.get("has_more"):
                return bodies
            after = body["last_id"]

    def reads(self, conv: Conv) -> dict[str, object]:
        """Every read path of the conversation: name -> thunk returning a list of bodies (bytes)."""
        api, cid = self.api, conv.conversation_id
        limit = self.rng.randint(4, 16)
        stored = [r for r in conv.responses if r]

        def get(path, **params):
            return lambda: [(lambda r: b"%d " % r.status_code + r.content)(api.get(path, params))]

        paths = {f"resolve {r}": get("/v1/sessions/resolve", previous_response_id=r) for r in stored}
        if stored:
            paths["context of a response"] = get("/v1/sessions/context", previous_response_id=self.rng.choice(stored))
        paths["context"] = get(f"/v1/sessions/{cid}/context")
        paths["context recent_k"] = get(f"/v1/sessions/{cid}/context", recent_k=self.rng.randint(1, 5))
        for order in ("asc", "desc"):
            paths[f"items {order} /{limit}"] = lambda order=order: self._pages(f"/v1/sessions/{cid}/items", order, limit)
            paths[f"openai items {order} /{limit}"] = lambda order=order: self._pages(f"/v1/conversations/{cid}/items", order, limit)
        paths["admin transcript"] = lambda: self._transcript(cid)
        paths["export"] = lambda: [json.dumps(conversation_export(self._row(cid)), sort_keys=True).encode()]
        return paths

    def _row(self, cid: str) -> Conversation:
        return Conversation.objects.select_related("tenant", "parent").get(tenant=self.tenant, conversation_id=cid)

    def _transcript(self, cid: str) -> list[bytes]:
        row, bodies, page = self._row(cid), [], 1
        while True:
            transcript = admin_support.transcript_page(row, page, page_size=8)
            owners = [r.owner.conversation_id if r.owner else "" for r in transcript.rows]
            bodies.append(json.dumps([(r.seq, r.tokens, r.raw, o) for r, o in zip(transcript.rows, owners)]).encode())
            if page >= transcript.pages:
                return bodies
            page += 1

    def warm(self, conv: Conv) -> None:
        """Reads that recreate the conversation's copies: window, context header, response index entries."""
        for name, read in self.reads(conv).items():
            if name.startswith(("resolve", "context")):
                read()

    def compare(self, conv: Conv, *, label: str) -> None:
        """Read every path as served (in a random order), then with Redis bypassed; count and record differences."""
        paths = self.reads(conv)
        names = list(paths)
        self.rng.shuffle(names)
        served = {name: _guard(paths[name]) for name in names}
        with redis_bypassed():
            truth = {name: _guard(paths[name]) for name in names}
        for name in names:
            self.figures.reads_compared += len(truth[name])
            if served[name] != truth[name]:
                self.figures.mismatches += 1
                self.figures.examples.append({"at": label, "conversation": conv.conversation_id, "read": name,
                                              "served": [b.decode()[:300] for b in served[name]],
                                              "postgres": [b.decode()[:300] for b in truth[name]]})


def _guard(read) -> list[bytes]:
    """The read's bodies, or its exception as a body (an exception is a mismatch, not the end of the run)."""
    try:
        return read()
    except Exception as exc:  # noqa: BLE001 - recorded and compared
        return [f"raised {type(exc).__name__}: {exc}".encode()]


@contextmanager
def redis_bypassed():
    """Every hot-layer Redis call raises RedisUnavailable (as with an open breaker): Postgres answers alone."""
    original = redis_client.available
    redis_client.available = lambda alias="hot": alias != "hot" and original(alias)
    try:
        yield
    finally:
        redis_client.available = original
