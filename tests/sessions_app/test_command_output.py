"""Long commands: a bar on a terminal, plain periodic lines otherwise (no \\r), one summary line with correct plurals."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from convostore.progress import Progress, counted
from sessions_app import lifecycle
from sessions_app.models import Conversation
from tests.sessions_app.admin_fixtures import build_conversation

pytestmark = pytest.mark.django_db


class Terminal(io.StringIO):
    def isatty(self):
        return True


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def last_line(text: str) -> str:
    return text.strip().splitlines()[-1]


def test_counted_says_one_and_many_correctly():
    assert [counted(1, "conversation"), counted(0, "conversation"), counted(2, "summary"), counted(1, "memory"),
            counted(3, "memory")] == ["1 conversation", "0 conversations", "2 summaries", "1 memory", "3 memories"]


def test_progress_writes_plain_periodic_lines_when_not_a_terminal():
    now = [0.0]
    stream = io.StringIO()
    with Progress("archive", total=500, stream=stream, interval=10, clock=lambda: now[0]) as progress:
        progress.update(100)  # within the first interval: quiet
        now[0] = 10.5
        progress.update(20)
        now[0] = 12
        progress.update(5)
        now[0] = 21
        progress.update(1)
    assert stream.getvalue() == "archive: 120/500 conversations (24%)\narchive: 126/500 conversations (25%)\n"


def test_progress_draws_a_bar_on_a_terminal():
    terminal = Terminal()
    with Progress("evict", total=3, stream=terminal) as progress:
        for _ in progress.iterate(range(3)):
            pass
    assert "\r" in terminal.getvalue() and "3/3" in terminal.getvalue()


def test_long_commands_end_with_one_summary_line_and_no_carriage_returns(tenant):
    build_conversation(tenant, "one", 80)
    build_conversation(tenant, "two", 6, with_call=False)
    outputs = {}
    outputs["evict"] = run("evict", "--idle-seconds", "0", "--tenant", tenant.name)
    outputs["archive"] = run("archive", "--conversation", "one", "--tenant", tenant.name)
    outputs["verify"] = run("verify_archives")
    outputs["rehydrate"] = run("rehydrate", "one")
    outputs["summarise"] = run("summarise", "--tenant", tenant.name)
    outputs["embed"] = run("embed", "--tenant", tenant.name)
    outputs["reindex"] = run("reindex_embeddings")
    outputs["export"] = run("export_conversations", "--tenant", tenant.name)
    assert last_line(outputs["evict"][0]) == "2 conversations evicted"
    assert last_line(outputs["archive"][0]).startswith("1 conversation archived (80 items, ")
    assert last_line(outputs["rehydrate"][0]) == "80 items restored to one (tier hot)"
    assert last_line(outputs["verify"][0]) == "1 segment checked: 1 ok, 0 corrupt (80 items decoded)"
    assert last_line(outputs["summarise"][0]).startswith("0 summaries written, ")
    memories = last_line(outputs["embed"][0])
    assert memories.endswith("written for 2 conversations") and "memories" in memories
    assert last_line(outputs["reindex"][0]).endswith("memories re-embedded")
    assert [json.loads(line)["conversation_id"] for line in outputs["export"][0].splitlines()] == ["one", "two"]
    assert last_line(outputs["export"][1]) == "2 conversations exported"  # stdout is the export: summary on stderr
    for name, (out, err) in outputs.items():
        assert "\r" not in out + err, name


def test_summarise_tells_written_from_already_current(tenant):
    conversation = build_conversation(tenant, "long", 80)
    out, _ = run("summarise", "--conversation", "long", "--force")
    assert last_line(out) == "1 summary written, 0 already current"
    out, _ = run("summarise", "--conversation", "long", "--force")
    assert last_line(out) == "0 summaries written, 1 already current"
    lifecycle.conversation_archive(conversation=Conversation.objects.get(pk=conversation.pk), keep_window=False)


def test_import_and_purge_summaries(tenant, tmp_path):
    build_conversation(tenant, "gone", 4, with_call=False)
    export = tmp_path / "t.jsonl"
    export.write_text(run("export_conversations", "--tenant", tenant.name)[0])
    assert last_line(run("import_conversations", str(export))[0]) == "0 conversations imported, 1 already present"
    assert last_line(run("purge_conversation", "gone", "--tenant", tenant.name)[0]) == "1 conversation purged (with its forks): gone"
    assert last_line(run("import_conversations", str(export))[0]) == "1 conversation imported, 0 already present"
    assert last_line(run("purge_tenant", tenant.name, "--yes")[0]) == f"1 conversation of tenant {tenant.name} purged; tenant deleted"
    assert last_line(run("purge_expired")[0]) == "0 conversations purged"
