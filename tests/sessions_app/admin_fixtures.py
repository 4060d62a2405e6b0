"""Fixtures for the admin tests: users for each role and conversations built through the services."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth.models import Group, User

from sessions_app.services import conversation_append, response_store

PASSWORD = "correct-horse-battery"


def turn(index: int) -> list[dict]:
    return [
        {"type": "message", "role": "user", "content": f"question number {index} about the invoice"},
        {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": f"answer number {index}"}]},
    ]


def build_conversation(tenant, conversation_id: str, items: int, *, metadata=None, with_call: bool = True):
    """A conversation of ``items`` items (messages, plus a function call and its output), in appends of 20."""
    payload = []
    if with_call:
        payload += [
            {"type": "function_call", "call_id": "call_1", "name": "lookup_invoice", "arguments": '{"invoice": "INV-42"}'},
            {"type": "function_call_output", "call_id": "call_1", "output": '{"status": "paid"}'},
        ]
    index = 0
    while len(payload) < items:
        payload += turn(index)
        index += 1
    payload = payload[:items]
    for start in range(0, len(payload), 20):
        conversation_append(
            tenant=tenant, conversation_id=conversation_id, items=payload[start : start + 20],
            metadata=metadata if start == 0 else None,
        )
    from sessions_app.models import Conversation

    return Conversation.objects.get(tenant=tenant, conversation_id=conversation_id)


def forked_pair(tenant):
    """A conversation of two responses and a fork made from the first one."""
    from sessions_app.models import Conversation

    first = response_store(tenant=tenant, conversation_id="conv_parent", response_id="resp_one",
                           input_items=turn(0)[:1], output_items=turn(0)[1:], model="gpt-test")
    response_store(tenant=tenant, previous_response_id="resp_one", response_id="resp_two",
                   input_items=turn(1)[:1], output_items=turn(1)[1:], model="gpt-test")
    forked = response_store(tenant=tenant, previous_response_id="resp_one", response_id="resp_fork",
                            input_items=[{"type": "message", "role": "user", "content": "a different follow-up"}],
                            output_items=[{"type": "message", "role": "assistant", "content": "forked answer"}])
    assert first.body["conversation_id"] == "conv_parent"
    parent = Conversation.objects.get(tenant=tenant, conversation_id="conv_parent")
    child = Conversation.objects.get(tenant=tenant, conversation_id=forked.body["conversation_id"])
    return parent, child


def support_group() -> Group:
    """The group the data migration made (recreated the same way when a transactional test flushed it)."""
    if not Group.objects.filter(name="support").exists():
        from django.apps import apps

        importlib.import_module("sessions_app.migrations.0004_support_group").create_support_group(apps, None)
    return Group.objects.get(name="support")


def _user(username: str, *, superuser=False, staff=True, group=False) -> User:
    user = User.objects.create_user(username, f"{username}@example.com", PASSWORD, is_staff=staff, is_superuser=superuser)
    if group:
        user.groups.add(support_group())
    return user


@pytest.fixture
def superuser(db):
    return _user("root", superuser=True)


@pytest.fixture
def support_user(db):
    return _user("helpdesk", group=True)


@pytest.fixture
def bare_staff(db):
    return _user("bystander")


@pytest.fixture
def admin_client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login
