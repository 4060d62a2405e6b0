"""Input and output shapes of the native API (documentation and output rendering)."""

from __future__ import annotations

import json

from rest_framework import serializers


class AppendInputSerializer(serializers.Serializer):
    items = serializers.ListField(child=serializers.DictField(), min_length=1, max_length=20)
    expected_version = serializers.IntegerField(required=False, min_value=0)
    metadata = serializers.DictField(child=serializers.CharField(max_length=512), required=False)
    ttl_seconds = serializers.IntegerField(required=False, min_value=1)


class AppendedItemSerializer(serializers.Serializer):
    id = serializers.CharField()
    seq = serializers.IntegerField()


class AppendOutputSerializer(serializers.Serializer):
    conversation_id = serializers.CharField()
    version = serializers.IntegerField()
    items = AppendedItemSerializer(many=True)


class ResponseStoreInputSerializer(serializers.Serializer):
    response_id = serializers.CharField(required=False)
    previous_response_id = serializers.CharField(required=False)
    conversation_id = serializers.CharField(required=False)
    input = serializers.ListField(child=serializers.DictField(), required=False)
    output = serializers.ListField(child=serializers.DictField(), required=False)
    model = serializers.CharField(required=False)
    usage = serializers.DictField(required=False)


class ResponseStoreOutputSerializer(serializers.Serializer):
    response_id = serializers.CharField()
    conversation_id = serializers.CharField()
    version = serializers.IntegerField()
    forked = serializers.BooleanField()


class ResolveOutputSerializer(serializers.Serializer):
    conversation_id = serializers.CharField()
    response_id = serializers.CharField()
    items = serializers.ListField(child=serializers.DictField())
    version = serializers.IntegerField()
    estimated_input_tokens = serializers.IntegerField()


class ConversationOutputSerializer(serializers.Serializer):
    id = serializers.CharField()
    version = serializers.IntegerField()
    last_seq = serializers.IntegerField()
    tier = serializers.CharField()
    items = serializers.IntegerField()
    bytes = serializers.IntegerField()
    estimated_tokens = serializers.IntegerField()
    metadata = serializers.DictField()
    parent = serializers.CharField(allow_null=True)
    fork_seq = serializers.IntegerField(allow_null=True)
    created_at = serializers.DateTimeField()
    last_active_at = serializers.DateTimeField()


class ItemListOutputSerializer(serializers.Serializer):
    object = serializers.CharField()
    data = serializers.ListField(child=serializers.DictField())
    first_id = serializers.CharField(allow_null=True)
    last_id = serializers.CharField(allow_null=True)
    has_more = serializers.BooleanField()


def conversation_body(conversation) -> dict:
    return {
        "id": conversation.conversation_id,
        "version": conversation.version,
        "last_seq": conversation.last_seq,
        "tier": conversation.tier,
        "items": conversation.item_count,
        "bytes": conversation.byte_count,
        "estimated_tokens": conversation.token_count,
        "metadata": conversation.metadata,
        "parent": conversation.parent.conversation_id if conversation.parent_id else None,
        "fork_seq": conversation.fork_seq,
        "created_at": conversation.created_at.isoformat().replace("+00:00", "Z"),
        "last_active_at": conversation.last_active_at.isoformat().replace("+00:00", "Z"),
    }


def item_body(entry) -> dict:
    item = json.loads(entry.raw)
    item["seq"] = entry.seq
    return item


def item_page_body(page) -> dict:
    data = [item_body(entry) for entry in page.entries]
    return {
        "object": "list",
        "data": data,
        "first_id": data[0]["id"] if data else None,
        "last_id": data[-1]["id"] if data else None,
        "has_more": page.has_more,
    }
