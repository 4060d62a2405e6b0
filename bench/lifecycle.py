"""Lifecycle benchmark: evict+archive throughput, Redis bytes per hot item, cold rehydrate latency (and lix-open-cache's).

    .venv/bin/python scripts/devservers.py exec .venv/bin/python bench/lifecycle.py [--conversations N] [--rounds R]

Writes bench/results/lifecycle.json and prints a markdown table. Medians throughout.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "convostore.settings.base")

import django  # noqa: E402

django.setup()

from django.utils import timezone  # noqa: E402

from archive_app.models import ArchiveSegment  # noqa: E402
from sessions_app import lifecycle  # noqa: E402
from archive_app.segments import segment_raw  # noqa: E402
from sessions_app.lifecycle.tasks import archive_sweep  # noqa: E402
from cache_app import hot_window, keys  # noqa: E402
from cache_app.redis_client import connection  # noqa: E402
from sessions_app.models import Conversation, Item, Tenant  # noqa: E402
from sessions_app.selectors import response_resolve  # noqa: E402
from sessions_app.services import conversation_append, response_store  # noqa: E402

WORDS = ("the model answered that python lists keep insertion order while sets do not and dictionaries preserve keys "
         "please explain how the cache evicts idle sessions after thirty minutes and why postgres stays the source of truth "
         "error traceback line file function return value request response token budget window summary").split()


def text(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def turn_items(rng: random.Random, n: int) -> list[dict]:
    items = []
    for i in range(n):
        if i % 5 == 3:
            items.append({"type": "function_call", "call_id": f"call_{i}", "name": "search", "arguments": json.dumps({"q": text(rng, 2, 6)})})
        elif i % 5 == 4:
            items.append({"type": "function_call_output", "call_id": f"call_{i - 1}", "output": text(rng, 10, 40)})
        else:
            items.append({"role": "user" if i % 2 == 0 else "assistant", "content": text(rng, 8, 60)})
    return items


def make_tenant(label: str) -> Tenant:
    return Tenant.objects.create(name=f"bench-lifecycle-{label}-{uuid.uuid4().hex[:8]}", window_size=64)


def fill(tenant: Tenant, count: int, items_each: int, rng: random.Random) -> list[Conversation]:
    for n in range(count):
        items = turn_items(rng, items_each)
        for start in range(0, items_each, 20):
            conversation_append(tenant=tenant, conversation_id=f"c{n}", items=items[start : start + 20])
    return list(Conversation.objects.filter(tenant=tenant).order_by("pk"))


def redis_bytes_per_item(tenant: Tenant, conversations: list[Conversation]) -> dict:
    client = connection("hot")
    ratios = []
    for c in conversations:
        used = (client.memory_usage(keys.window(tenant.pk, c.conversation_id), samples=0) or 0) + (
            client.memory_usage(keys.window_meta(tenant.pk, c.conversation_id), samples=0) or 0
        )
        raw = sum(Item.objects.filter(conversation=c).values_list("byte_size", flat=True))
        ratios.append(used / raw)
    return {"median_ratio": round(statistics.median(ratios), 3), "conversations": len(ratios),
            "json_bytes_per_item": round(statistics.median(c.byte_count / c.item_count for c in conversations), 1)}


def evict_archive_round(tenant: Tenant, conversations: list[Conversation]) -> float:
    """One worker's work for a batch: the evict sweep, then the archive sweep (task bodies called in-process)."""
    started = time.perf_counter()
    evicted = lifecycle.evict_idle(now=timezone.now() + timedelta(days=1), tenant=tenant)
    archived = archive_sweep.run()
    elapsed = time.perf_counter() - started
    assert evicted == archived == len(conversations), (evicted, archived, len(conversations))
    assert not Item.objects.filter(conversation__tenant=tenant).exists()
    return len(conversations) / elapsed


def cold_rehydrate(tenant: Tenant, conversation: Conversation, response_id: str, repeats: int) -> dict:
    """Resolve of a cold 200-item conversation with nothing in Redis: decode segments, rebuild the window."""
    reads, restores, decodes = [], [], []
    segment = ArchiveSegment.objects.get(conversation=conversation)
    for _ in range(repeats):
        started = time.perf_counter()
        segment_raw(segment)
        decodes.append((time.perf_counter() - started) * 1000)
    for _ in range(repeats):
        hot_window.window_drop(tenant_id=tenant.pk, conversation_id=conversation.conversation_id, response_ids=[response_id])
        started = time.perf_counter()
        resolved = response_resolve(tenant=tenant, response_id=response_id)
        reads.append((time.perf_counter() - started) * 1000)
        assert resolved.source == "postgres" and len(resolved.entries) == 200
    for _ in range(max(3, repeats // 4)):
        hot_window.window_drop(tenant_id=tenant.pk, conversation_id=conversation.conversation_id, response_ids=[response_id])
        started = time.perf_counter()
        assert lifecycle.conversation_rehydrate(conversation=conversation) == 200
        restores.append((time.perf_counter() - started) * 1000)
        conversation.refresh_from_db()
        lifecycle.conversation_archive(conversation=conversation, keep_window=False)
    return {"resolve_p50_ms": round(statistics.median(reads), 2), "resolve_p90_ms": round(sorted(reads)[int(len(reads) * 0.9)], 2),
            "segment_decode_p50_ms": round(statistics.median(decodes), 2),
            "rehydrate_to_rows_p50_ms": round(statistics.median(restores), 2), "samples": len(reads)}


def cold_conversation(tenant: Tenant, rng: random.Random) -> tuple[Conversation, str]:
    items = turn_items(rng, 200)
    for start in range(0, 180, 20):
        conversation_append(tenant=tenant, conversation_id="cold200", items=items[start : start + 20])
    out = response_store(tenant=tenant, conversation_id="cold200", input_items=items[180:190], output_items=items[190:200])
    conversation = Conversation.objects.get(tenant=tenant, conversation_id="cold200")
    lifecycle.conversation_evict(conversation=conversation)
    lifecycle.conversation_archive(conversation=conversation, keep_window=False)
    conversation.refresh_from_db()
    assert conversation.tier == "cold"
    return conversation, out.body["response_id"]


def lix_peer(conversation: Conversation, response_id: str, repeats: int) -> dict:
    try:
        from lix_open_cache import ConversationArchive
    except ImportError as exc:
        return {"usable": False, "why": f"lix-open-cache is not installed ({exc})"}
    from sessions_app.selectors import context_entries

    turns = [json.loads(e.raw) for e in context_entries(conversation, conversation.last_seq)]
    with tempfile.TemporaryDirectory() as directory:
        archive = ConversationArchive(archive_dir=directory)
        archive.append_turns("cold200", turns)
        times = []
        for _ in range(repeats):
            started = time.perf_counter()
            loaded = archive.load_all("cold200")
            times.append((time.perf_counter() - started) * 1000)
            assert len(loaded) == 200
        size = os.path.getsize(os.path.join(directory, "cold200.huff"))
    return {"usable": True, "what": "ConversationArchive.load_all of the same 200 items from its Huffman .huff file (no Redis)",
            "load_p50_ms": round(statistics.median(times), 2), "file_bytes": size}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--conversations", type=int, default=150, help="conversations of 40 items per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=40)
    args = parser.parse_args()
    rng = random.Random(42)
    results = {"setup": {"items_per_conversation": 40, "conversations_per_round": args.conversations, "rounds": args.rounds,
                         "cpus": os.cpu_count(), "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]}}

    rates, ratio = [], None
    for round_no in range(args.rounds):
        tenant = make_tenant(f"r{round_no}")
        conversations = fill(tenant, args.conversations, 40, rng)
        if ratio is None:
            ratio = redis_bytes_per_item(tenant, conversations)
        rates.append(evict_archive_round(tenant, conversations))
    results["evict_archive_per_second"] = {"median": round(statistics.median(rates), 1), "rounds": [round(r, 1) for r in rates], "goal": 200}
    results["redis_bytes_per_json_byte"] = {**ratio, "goal": 1.3}

    tenant = make_tenant("cold")
    conversation, response_id = cold_conversation(tenant, rng)
    results["cold_200_items"] = {**cold_rehydrate(tenant, conversation, response_id, args.repeats), "goal_p50_ms": 20}
    results["lix_open_cache"] = lix_peer(conversation, response_id, args.repeats)

    out = ROOT / "bench" / "results" / "lifecycle.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    cold, lix = results["cold_200_items"], results["lix_open_cache"]
    print("| measure | value | goal |\n|---|---|---|")
    print(f"| evicted + archived per second (40-item conversations, one worker) | {results['evict_archive_per_second']['median']} | ≥ 200 |")
    print(f"| Redis bytes per hot item ÷ its JSON bytes | {ratio['median_ratio']} | ≤ 1.3 |")
    print(f"| resolve of a cold 200-item conversation, p50 | {cold['resolve_p50_ms']} ms | ≤ 20 ms |")
    print(f"| of which: decode + CRC check of its segment, p50 | {cold['segment_decode_p50_ms']} ms | |")
    print(f"| rehydrate 200 items into rows + window, p50 | {cold['rehydrate_to_rows_p50_ms']} ms | |")
    if lix.get("usable"):
        print(f"| lix-open-cache load_all of the same 200 items, p50 | {lix['load_p50_ms']} ms | (peer) |")
    else:
        print(f"| lix-open-cache | not usable: {lix['why']} | |")
    print(f"\nwritten to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
