"""validated() runs DRF's validation on one shared serializer instance per class: same data, same errors as a fresh
instance's is_valid(), from any thread."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from django.http import QueryDict
from rest_framework import serializers

from sessions_app.api.context_views import ContextQuerySerializer
from sessions_app.api.fields import PageQuerySerializer, validated
from sessions_app.api.serializers import AppendInputSerializer, ResolveQuerySerializer, ResponseStoreInputSerializer

CASES = [
    (ResolveQuerySerializer, QueryDict("previous_response_id=resp_1")),
    (ResolveQuerySerializer, QueryDict("")),
    (PageQuerySerializer, QueryDict("limit=0")),
    (PageQuerySerializer, QueryDict("limit=abc&order=up")),
    (PageQuerySerializer, QueryDict("after=msg_1&limit=100&order=desc")),
    (ContextQuerySerializer, QueryDict("max_tokens=-1&recall_scope=planet")),
    (ContextQuerySerializer, QueryDict("max_tokens=512&recent_k=4")),
    (AppendInputSerializer, {"items": [{"role": "user", "content": "x"}], "expected_version": "1"}),
    (AppendInputSerializer, {"items": "nope", "metadata": {"k" * 65: "v"}}),
    (AppendInputSerializer, None),
    (ResponseStoreInputSerializer, {"response_id": 7, "usage": []}),
]


def fresh(serializer_class, data):
    serializer = serializer_class(data=data)
    if serializer.is_valid():
        return "ok", dict(serializer.validated_data)
    return "error", serializer.errors


def shared(serializer_class, data):
    try:
        return "ok", dict(validated(serializer_class, data))
    except serializers.ValidationError as exc:
        return "error", exc.detail


@pytest.mark.parametrize("serializer_class, data", CASES)
def test_the_shared_instance_answers_what_a_fresh_one_does(serializer_class, data):
    assert shared(serializer_class, data) == fresh(serializer_class, data)


def test_threads_share_it_without_mixing_answers():
    inputs = [QueryDict(f"after=msg_{i}&limit={i % 100 + 1}") for i in range(400)]
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda data: validated(PageQuerySerializer, data), inputs))
    assert [(a["after"], a["limit"]) for a in answers] == [(f"msg_{i}", i % 100 + 1) for i in range(400)]
