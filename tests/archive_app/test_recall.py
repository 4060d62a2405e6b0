"""Recall over Memory rows: scopes (fork ancestry, end user, tenant), never across tenants, verbatim exclusion, gate."""

import pytest

from archive_app.models import Memory
from archive_app.gates import OpenAICompatibleRelevanceGate
from archive_app.selectors import recall
from sessions_app.lifecycle import conversation_embed
from sessions_app.models import Conversation
from sessions_app.services import conversation_append, response_store
from tests.archive_app.test_summarisers import FakeChat

pytestmark = pytest.mark.django_db

FACTS = [
    "My giraffe is named Gerald and he eats acacia leaves.",
    "The invoice for the Berlin warehouse is overdue by three weeks.",
    "Our kubernetes cluster runs out of memory during nightly batch jobs.",
    "Grandma's lasagna recipe needs ricotta, nutmeg and fresh basil.",
]


def talk(tenant, conversation_id, facts, metadata=None):
    for fact in facts:
        conversation_append(
            tenant=tenant,
            conversation_id=conversation_id,
            items=[{"role": "user", "content": fact}, {"role": "assistant", "content": "Noted."}],
            metadata=metadata,
        )
    conversation = Conversation.objects.get(tenant=tenant, conversation_id=conversation_id)
    conversation_embed(conversation=conversation)
    return conversation


def excerpts(found):
    return [r.excerpt.split("\n")[0] for r in found]


def test_conversation_scope_finds_the_relevant_turn(tenant):
    conversation = talk(tenant, "a", FACTS)
    found = recall(tenant=tenant, conversation=conversation, query="what does my giraffe Gerald eat?", k=2)
    assert excerpts(found)[0] == "user: " + FACTS[0]
    assert (found[0].first_seq, found[0].last_seq, found[0].kind) == (1, 2, "turn")
    assert found[0].score >= found[1].score


def test_conversation_scope_follows_fork_ancestry_but_not_sibling_history(tenant):
    first = response_store(tenant=tenant, conversation_id="root", input_items=[{"role": "user", "content": FACTS[0]}],
                           output_items=[{"role": "assistant", "content": "Noted."}])
    root_id = first.body["conversation_id"]
    response_store(tenant=tenant, previous_response_id=first.body["response_id"],
                   input_items=[{"role": "user", "content": FACTS[1]}], output_items=[{"role": "assistant", "content": "Noted."}])
    fork = response_store(tenant=tenant, previous_response_id=first.body["response_id"],
                          input_items=[{"role": "user", "content": FACTS[2]}], output_items=[{"role": "assistant", "content": "Ok."}])
    assert fork.body["forked"] is True
    root = Conversation.objects.get(tenant=tenant, conversation_id=root_id)
    child = Conversation.objects.get(tenant=tenant, conversation_id=fork.body["conversation_id"])
    conversation_embed(conversation=root)
    conversation_embed(conversation=child)
    found = excerpts(recall(tenant=tenant, conversation=child, query="giraffe Gerald acacia invoice Berlin warehouse kubernetes", k=10))
    assert "user: " + FACTS[0] in found  # inherited from the parent up to the fork point
    assert "user: " + FACTS[2] in found  # the fork's own turn
    assert "user: " + FACTS[1] not in found  # the parent's turn after the fork point belongs to another branch


def test_user_scope_spans_the_end_users_conversations_only(tenant):
    mine = talk(tenant, "u1-a", FACTS[:1], metadata={"user": "alice"})
    talk(tenant, "u1-b", FACTS[3:], metadata={"user": "alice"})
    talk(tenant, "u2-a", ["Alice's lasagna needs ricotta too, says Bob."], metadata={"user": "bob"})
    found = recall(tenant=tenant, conversation=mine, query="lasagna ricotta", k=5, scope="user")
    assert {r.conversation_id for r in found} == {"u1-a", "u1-b"}
    assert excerpts(found)[0] == "user: " + FACTS[3]
    # another metadata key name selects the user through the conversation's metadata
    other = talk(tenant, "acct-a", FACTS[:1], metadata={"account": "acme"})
    talk(tenant, "acct-b", FACTS[3:], metadata={"account": "acme"})
    found = recall(tenant=tenant, conversation=other, query="lasagna ricotta", k=5, scope="user", user_key="account")
    assert {r.conversation_id for r in found} == {"acct-a", "acct-b"}


def test_tenant_scope_never_crosses_tenants(tenant, other_tenant):
    mine = talk(tenant, "t-a", FACTS[:1])
    talk(tenant, "t-b", FACTS[1:2])
    talk(other_tenant, "t-b", FACTS[1:2])
    talk(other_tenant, "secret", ["The invoice for the Berlin warehouse is overdue; secret tenant two."])
    found = recall(tenant=tenant, conversation=mine, query="Berlin warehouse invoice overdue", k=10, scope="tenant")
    assert {r.conversation_id for r in found} == {"t-a", "t-b"}
    assert Memory.objects.filter(tenant=other_tenant).count() == 2
    for scope in ("conversation", "user", "tenant"):
        for r in recall(tenant=tenant, conversation=mine, query="secret tenant two", k=10, scope=scope):
            assert "secret" not in r.excerpt


def test_excluded_seqs_are_never_recalled(tenant):
    conversation = talk(tenant, "x", FACTS)
    found = recall(tenant=tenant, conversation=conversation, query="giraffe lasagna invoice kubernetes", k=10, exclude_seqs=range(5, 9))
    assert sorted(r.first_seq for r in found) == [1, 3]


def test_context_recall_excludes_verbatim_items(api, tenant):
    talk(tenant, "ctx", FACTS * 3)
    body = api.get("/v1/sessions/ctx/context", {"recall_k": 5, "query": "giraffe Gerald", "max_tokens": 200}).json()
    verbatim = [m for m in body["messages"] if m["role"] != "system"]
    assert body["recalled"], body
    assert body["recalled"][0]["kind"] == "turn"
    first_verbatim_seq = 24 - len(verbatim) + 1
    assert all(span["last_seq"] < first_verbatim_seq for span in body["recalled"])
    recalled_messages = [m for m in body["messages"] if m["role"] == "system"]
    assert len(recalled_messages) == len(body["recalled"])
    assert "giraffe" in recalled_messages[0]["content"]
    assert body["estimated_input_tokens"] <= 200
    again = api.get("/v1/sessions/ctx/context", {"recall_k": 5, "query": "giraffe Gerald", "max_tokens": 200})
    assert again.content == api.get("/v1/sessions/ctx/context", {"recall_k": 5, "query": "giraffe Gerald", "max_tokens": 200}).content


def test_relevance_gate_keeps_what_the_endpoint_keeps_and_fails_open(tenant):
    conversation = talk(tenant, "g", FACTS)
    with FakeChat() as server:
        server.reply = '{"keep": [2]}'
        gate = OpenAICompatibleRelevanceGate(base_url=server.base_url, model="gate", timeout=2)
        baseline = recall(tenant=tenant, conversation=conversation, query="giraffe invoice", k=3, gate=False)
        gated = recall(tenant=tenant, conversation=conversation, query="giraffe invoice", k=3, gate=gate)
        assert gated == [baseline[1]]
        assert "giraffe invoice" in server.requests[0]["body"]["messages"][-1]["content"]
        server.mode = "error"
        assert recall(tenant=tenant, conversation=conversation, query="giraffe invoice", k=3, gate=gate) == baseline
