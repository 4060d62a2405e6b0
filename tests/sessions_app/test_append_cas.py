"""expected_version (compare-and-swap) on append: match appends, mismatch is 409 with the current version."""

import pytest

from sessions_app.models import Conversation, Item

pytestmark = pytest.mark.django_db


def append(api, conversation_id, content, **extra):
    return api.post(f"/v1/sessions/{conversation_id}/append", {"items": [{"role": "user", "content": content}], **extra}, format="json")


def test_matching_version_appends_and_bumps_by_one(api):
    assert append(api, "cas", "a", expected_version=0).json()["version"] == 1
    second = append(api, "cas", "b", expected_version=1)
    assert second.status_code == 201 and second.json()["version"] == 2


def test_mismatch_is_409_version_conflict_with_current_version_and_changes_nothing(api):
    append(api, "cas2", "a")
    append(api, "cas2", "b")
    conflict = append(api, "cas2", "c", expected_version=1)
    assert conflict.status_code == 409
    error = conflict.json()["error"]
    assert error["code"] == "version_conflict"
    assert error["current_version"] == 2
    assert error["param"] == "expected_version"
    assert error["type"] == "invalid_request_error" and error["message"]
    detail = api.get("/v1/sessions/cas2").json()
    assert (detail["version"], detail["last_seq"], detail["items"]) == (2, 2, 2)


def test_future_version_is_a_conflict_too(api):
    append(api, "cas3", "a")
    conflict = append(api, "cas3", "b", expected_version=7)
    assert conflict.status_code == 409 and conflict.json()["error"]["current_version"] == 1


def test_conflict_on_a_new_id_does_not_create_it(api):
    conflict = append(api, "never", "a", expected_version=3)
    assert conflict.status_code == 409 and conflict.json()["error"]["current_version"] == 0
    assert api.get("/v1/sessions/never").status_code == 404
    assert not Conversation.objects.filter(conversation_id="never").exists()


def test_expected_version_zero_creates(api):
    created = append(api, "fresh", "a", expected_version=0)
    assert created.status_code == 201 and created.json()["version"] == 1


@pytest.mark.parametrize("bad", ["1", 1.5, -1, True, [], {}])
def test_malformed_expected_version_is_400(api, bad):
    append(api, "cas4", "a")
    response = append(api, "cas4", "b", expected_version=bad)
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "expected_version"
    assert Item.objects.filter(conversation__conversation_id="cas4").count() == 1


def test_null_expected_version_means_no_check(api):
    append(api, "cas5", "a")
    assert append(api, "cas5", "b", expected_version=None).status_code == 201


def test_conflict_leaves_the_hot_window_serving_the_right_context(api):
    stored = api.post(
        "/v1/sessions/responses", {"conversation_id": "cas6", "input": [{"role": "user", "content": "q"}]}, format="json"
    ).json()
    assert append(api, "cas6", "x", expected_version=0).status_code == 409
    resolved = api.get("/v1/sessions/resolve", {"previous_response_id": stored["response_id"]}).json()
    assert [i["content"] for i in resolved["items"]] == ["q"] and resolved["version"] == 1
