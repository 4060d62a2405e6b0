"""Issue 19 item 4: no admin list answers a guess about a column it does not offer as a filter.

Every model admin on the site (ours, django-celery-beat's, django.contrib.auth's) is tried with a lookup on
each of its model's columns and on columns one relation away; whatever its own filters, date hierarchy and
``allowed_lookups`` do not use is refused with 400 for a superuser and for the support group (403 where the
group may not see the model at all). The filters the pages offer keep working, search fields and sortable
columns never reach SECRET_COLUMNS, and what support may search is pinned (docs/admin.md lists the same).
"""

from __future__ import annotations

import logging
import re
from html import unescape

import pytest
from django.contrib import admin
from django.contrib.admin.utils import get_fields_from_path
from django.test import Client, RequestFactory
from django.urls import reverse

from convostore.admin_mixins import SECRET_COLUMNS, AllowListedLookupsMixin
from convostore.observability import ClientErrorOneLine
from sessions_app.models import ApiKey, Conversation, IdempotencyRecord, ModelRoute, SemanticNamespace, TokenUsage
from sessions_app.services import api_key_create, conversation_append
from tests.gateway.conftest import upstream_settings
from tests.sessions_app.admin_fixtures import superuser, support_user  # noqa: F401

pytestmark = pytest.mark.django_db

SUFFIXES = ("", "__exact", "__startswith", "__regex", "__gt", "__in", "__isnull")
# What the support group may type into each list's search box (docs/admin.md, "What support can filter, search
# and sort by"); the conversation list adds its own search (ids, user, metadata, recent item text, summaries).
SUPPORT_SEARCH = {
    "sessions_app.tenant": ("name",),
    "sessions_app.apikey": ("prefix", "name", "tenant__name"),
    "sessions_app.conversation": ("conversation_id", "tenant__name"),
    "sessions_app.response": ("response_id", "previous_response_id", "conversation__conversation_id"),
    "archive_app.archivesegment": ("conversation__conversation_id",),
    "archive_app.codetable": (),
    "archive_app.summary": ("conversation__conversation_id", "text"),
    "archive_app.memory": ("conversation__conversation_id", "user_key"),
    "archive_app.lifecycleevent": (),
}


def label(model) -> str:
    return f"{model._meta.app_label}.{model._meta.model_name}"


def changelist(model) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")


def allowed(model_admin, user) -> frozenset[str]:
    request = RequestFactory().get("/")
    request.user = user
    return model_admin.allowed_lookup_names(request)


def candidate_lookups(model) -> list[str]:
    """Each column with common lookups, the FK columns by attname, and every column one relation away."""
    names = []
    for field in model._meta.concrete_fields:
        names += [f"{field.name}{suffix}" for suffix in SUFFIXES]
        if field.attname != field.name:
            names.append(f"{field.attname}__gt")
    for relation in [f for f in model._meta.get_fields() if f.is_relation and f.related_model is not None]:
        # relation.name is the lookup name both ways (a reverse relation's is its related_query_name)
        names += [f"{relation.name}__{field.name}__startswith" for field in relation.related_model._meta.concrete_fields]
    return names


@pytest.fixture
def data(tenant, settings):
    """One row of each kind a list shows, so every list filter offers choices."""
    issued = api_key_create(tenant=tenant, name="ops")
    conversation_append(tenant=tenant, conversation_id="conv-filters", items=[{"role": "user", "content": "hello"}],
                        idempotency_key="k1", request_hash="ab" * 32)
    settings.CONVOSTORE_UPSTREAM = upstream_settings("http://127.0.0.1:1/v1", ALLOWED_HOSTS=["127.0.0.1"])
    ModelRoute.objects.create(tenant=tenant, model="m", base_url="http://127.0.0.1:1/v1", api_key_env="CONVOSTORE_UPSTREAM_KEY_M")
    TokenUsage.objects.create(tenant=tenant, api_key=issued.api_key, day="2026-11-30", input_tokens=1, output_tokens=1, calls=1)
    SemanticNamespace.objects.create(tenant=tenant, namespace="faq", threshold=0.92, embedder="local", guard=True,
                                     max_false_hit_rate=0.01, true_hit_rate=0.9, false_hit_rate=0.005, pairs=320)
    return issued


def test_a_guess_at_a_key_hash_is_refused_for_support(client, support_user, data):
    """The reproduction: ?key_hash__startswith=<guess> listed the key only when the guess was right."""
    key = ApiKey.objects.get(pk=data.api_key.pk)
    client.force_login(support_user)
    for guess in (key.key_hash[:2], key.key_hash, "0" if key.key_hash[0] != "0" else "1"):
        answer = client.get(changelist(ApiKey), {"key_hash__startswith": guess})
        assert answer.status_code == 400
        assert key.prefix.encode() not in answer.content
    assert client.get(changelist(ApiKey), {"tenant__id__exact": key.tenant_id}).status_code == 200


def test_a_refused_lookup_logs_one_line(client, support_user, data, caplog):
    """A probe of hundreds of guesses must not write hundreds of tracebacks: the console handler (LOGGING) writes
    Django's security line for a refused lookup alone."""
    client.force_login(support_user)
    caplog.set_level("WARNING")
    assert client.get(changelist(ApiKey), {"key_hash__startswith": "ab"}).status_code == 400
    records = [r for r in caplog.records if r.name.startswith("django.security")]
    assert [r.getMessage() for r in records] == ["Filtering by key_hash__startswith not allowed"]
    console = next(h for h in logging.getLogger().handlers if any(isinstance(f, ClientErrorOneLine) for f in h.filters))
    for record in records:
        assert console.filter(record)
        line = console.format(record)
        assert "\n" not in line and "Traceback" not in line and len(line) < 600, line


def test_every_lookup_outside_a_lists_filters_is_refused(superuser, support_user, data):
    """For every registered admin, each column with common lookups and each column one relation away is refused
    by lookup_allowed unless the list's filters use it; a request per column and per relation proves the page
    answers 400 (403 for support where the group may not see the model), not a narrowed list."""
    clients = {"superuser": Client(), "support": Client()}
    clients["superuser"].force_login(superuser)
    clients["support"].force_login(support_user)
    checked = requested = 0
    for model, model_admin in admin.site._registry.items():
        assert isinstance(model_admin, AllowListedLookupsMixin), label(model)
        request = _request(superuser)
        permitted = model_admin.allowed_lookup_names(request)
        refused = [lookup for lookup in candidate_lookups(model) if lookup not in permitted]
        for lookup in refused:
            assert not model_admin.lookup_allowed(lookup, "1", request), (label(model), lookup)
        checked += len(refused)
        support_sees = model_admin.has_view_permission(_request(support_user))
        for lookup in sampled(model, refused):
            answer = clients["superuser"].get(changelist(model), {lookup: "1"})
            assert answer.status_code == 400, (label(model), lookup, answer.status_code)
            answer = clients["support"].get(changelist(model), {lookup: "1"})
            assert answer.status_code == (400 if support_sees else 403), (label(model), lookup, answer.status_code)
            requested += 1
    assert checked > 1000 and requested > 150


def sampled(model, refused: list[str]) -> list[str]:
    """One refused lookup per column and per relation (secret columns first), for the requests."""
    chosen, seen = [], set()
    secret_first = sorted(refused, key=lambda lookup: (_column(model, lookup) not in SECRET_COLUMNS, not lookup.endswith("__startswith")))
    for lookup in secret_first:
        head = lookup.split("__")[0]
        if head not in seen:
            seen.add(head)
            chosen.append(lookup)
    return chosen


def test_the_secret_columns_are_never_filterable_searchable_or_sortable(superuser):
    request = _request(superuser)
    for model, model_admin in admin.site._registry.items():
        for lookup in allowed(model_admin, superuser):
            assert _column(model, lookup) not in SECRET_COLUMNS, (label(model), lookup)
        for path in model_admin.get_search_fields(request):
            assert _column(model, path.lstrip("^=@")) not in SECRET_COLUMNS, (label(model), path)
        for order in _sort_paths(model_admin, request):
            assert _column(model, order) not in SECRET_COLUMNS, (label(model), order)


def test_support_searches_only_the_documented_fields(support_user):
    request = _request(support_user)
    visible = {label(model): tuple(model_admin.get_search_fields(request))
               for model, model_admin in admin.site._registry.items() if model_admin.has_view_permission(request)}
    assert visible == SUPPORT_SEARCH


def test_the_filters_a_list_offers_still_work(superuser, support_user, data):
    """Every link in every list's filter sidebar and date hierarchy answers 200 (no 400, no ?e=1), for both roles."""
    followed = 0
    for user in (superuser, support_user):
        client = Client()
        client.force_login(user)
        for model, model_admin in admin.site._registry.items():
            if not model_admin.has_view_permission(_request(user)):
                continue
            page = client.get(changelist(model))
            assert page.status_code == 200, label(model)
            html = page.content.decode()
            sidebar = html[html.find('id="changelist-filter"'):] if 'id="changelist-filter"' in html else ""
            links = set(re.findall(r'href="(\?[^"]+)"', sidebar + _between(html, 'class="xfull"', "</nav>")))
            for link in links:
                answer = client.get(changelist(model) + unescape(link))
                assert answer.status_code == 200, (label(model), link)
                followed += 1
            for index in range(len(model_admin.get_list_display(_request(user))) if user.is_superuser else 0):
                assert client.get(changelist(model), {"o": f"{index}"}).status_code == 200
            if model_admin.get_search_fields(_request(user)):
                assert client.get(changelist(model), {"q": "conv"}).status_code == 200
    assert followed > 20


def test_filters_narrow_the_list(client, support_user, data, other_tenant):
    """The allowed filters still filter: a tenant's keys, revoked or not; conversations by tier and forked."""
    other = api_key_create(tenant=other_tenant, name="other")
    client.force_login(support_user)
    keys = client.get(changelist(ApiKey), {"tenant__id__exact": other_tenant.pk}).context["cl"].result_list
    assert [k.pk for k in keys] == [other.api_key.pk]
    assert client.get(changelist(ApiKey), {"revoked_at__isempty": "0"}).context["cl"].result_count == 0
    hot = client.get(changelist(Conversation), {"tier__exact": "hot"}).context["cl"].result_list
    assert [c.conversation_id for c in hot] == ["conv-filters"]
    assert client.get(changelist(Conversation), {"forked": "yes"}).context["cl"].result_count == 0


def test_nul_in_a_filter_or_a_search_never_reaches_postgres(client, superuser, data):
    """Postgres refuses NUL in text: a filter value or a search term holding one is refused (400, by the edge check
    that every query parameter passes, convostore.edge). (A query string cannot carry a lone surrogate: Django
    decodes it with replacement.)"""
    client.force_login(superuser)
    assert client.get(changelist(ApiKey), {"tenant__id__exact": "1\x00"}).status_code == 400
    assert client.get(changelist(Conversation), {"tier__exact": "hot\x00"}).status_code == 400
    answer = client.get(changelist(Conversation), {"q": "a\x00b"})
    assert answer.status_code == 400 and answer.json()["error"]["param"] == "q"
    assert client.get(changelist(Conversation) + "?q=%ED%A0%80").status_code == 200


def test_idempotency_hashes_are_unreachable_through_a_relation(client, superuser, data, tenant):
    assert IdempotencyRecord.objects.filter(tenant=tenant).exists()
    client.force_login(superuser)
    for lookup in ("idempotencyrecord__request_hash__startswith", "tenant__idempotencyrecord__request_hash__startswith",
                   "tenant__api_keys__key_hash__startswith", "api_key__key_hash__startswith"):
        for model in (Conversation, TokenUsage):
            assert client.get(changelist(model), {lookup: "a"}).status_code == 400


def _request(user):
    request = RequestFactory().get("/")
    request.user = user
    return request


def _column(model, lookup: str) -> str:
    """app.model.field of the column a lookup path ends at (transforms and lookups after it ignored)."""
    parts, current, field = lookup.split("__"), model, None
    for part in parts:
        try:
            field = current._meta.get_field(part)
        except Exception:
            break
        if field.is_relation and field.related_model is not None and part != parts[-1]:
            current = field.related_model
    return f"{label(current)}.{field.name}" if field is not None else ""


def _sort_paths(model_admin, request) -> list[str]:
    """The columns a click on a sortable header orders by (admin_order_field, model fields, FKs' Meta.ordering)."""
    paths = []
    for name in model_admin.get_list_display(request):
        attr = getattr(model_admin, name, None) if isinstance(name, str) else name
        order = getattr(attr, "admin_order_field", None) or (name if isinstance(name, str) else None)
        if not isinstance(order, str):
            continue
        try:
            field = get_fields_from_path(model_admin.model, order.lstrip("-"))[-1]
        except Exception:
            continue
        paths.append(order.lstrip("-"))
        if field.is_relation and field.related_model is not None:
            paths += [f"{order.lstrip('-')}__{o.lstrip('-')}" for o in field.related_model._meta.ordering if isinstance(o, str)]
    return paths


def _between(html: str, start: str, end: str) -> str:
    at = html.find(start)
    return html[at:html.find(end, at)] if at >= 0 else ""
