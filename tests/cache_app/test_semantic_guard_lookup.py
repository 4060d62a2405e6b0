"""The guard on the lookup path: with the real local model, a paraphrase hits and a near miss with another number,
negation or name does not, though its similarity is as high; ``guard: false`` turns it off per request."""

import pytest

pytestmark = pytest.mark.django_db


def post(api, path, body, status=200):
    response = api.post(path, body, format="json")
    assert response.status_code == status, response.content
    return response.json()


def lookup(api, text, **extra):
    return post(api, "/v1/cache/lookup", {"namespace": "shows", "text": text, **extra})


def test_a_paraphrase_hits_and_another_number_misses_at_the_default_threshold(api):
    post(api, "/v1/cache/store", {"namespace": "shows", "text": "Book 2 seats for the 7pm show.", "response": "booked"}, status=201)
    paraphrase = lookup(api, "Please book 2 seats for the 7pm show.")
    assert paraphrase["hit"] is True and paraphrase["response"] == "booked"
    assert lookup(api, "Book two seats for the 7pm show.")["hit"] is True
    assert lookup(api, "Book 3 seats for the 7pm show.")["hit"] is False
    assert lookup(api, "Book 2 seats for the 9pm show.")["hit"] is False
    unguarded = lookup(api, "Book 3 seats for the 7pm show.", guard=False)
    assert unguarded["hit"] is True and unguarded["similarity"] > paraphrase["similarity"]  # why the guard exists


def test_negations_and_names_are_refused_whatever_the_threshold(api):
    post(api, "/v1/cache/store", {"namespace": "shows", "text": "Is a refund allowed for the Paris show?", "response": "yes"}, status=201)
    assert lookup(api, "Is a refund not allowed for the Paris show?", threshold=0.5)["hit"] is False
    assert lookup(api, "Is a refund allowed for the London show?", threshold=0.5)["hit"] is False
    assert lookup(api, "is a refund allowed for the paris show", threshold=0.5)["hit"] is True


def test_the_guard_needs_both_texts(api):
    from archive_app.local_embedder import LocalEmbedder

    vector = [float(x) for x in LocalEmbedder().embed(["Book 2 seats"])[0]]
    post(api, "/v1/cache/store", {"namespace": "gw", "embedding": vector, "response": "stored without text"}, status=201)
    hit = post(api, "/v1/cache/lookup", {"namespace": "gw", "embedding": vector, "text": "Book 3 seats"})
    assert hit["hit"] is True  # nothing to compare with: the entry has no text (documented)


def test_lookups_observe_the_best_candidates_similarity_per_namespace(api, settings):
    from prometheus_client import REGISTRY

    from cache_app import semantic

    def observed(namespace):
        labels = {"tenant": str(api.tenant.pk), "namespace": namespace}
        return REGISTRY.get_sample_value("semantic_cache_best_similarity_count", labels) or 0.0

    post(api, "/v1/cache/store", {"namespace": "shows", "text": "Book 2 seats for the 7pm show.", "response": "booked"}, status=201)
    before, below = observed("shows"), REGISTRY.get_sample_value(
        "semantic_cache_best_similarity_bucket", {"tenant": str(api.tenant.pk), "namespace": "shows", "le": "0.93"}
    ) or 0.0
    lookup(api, "Book 3 seats for the 7pm show.")  # refused by the guard, similarity still observed
    lookup(api, "Could you book two seats for the 7pm show?")  # a near miss below the threshold
    assert observed("shows") == before + 2
    after_below = REGISTRY.get_sample_value("semantic_cache_best_similarity_bucket", {"tenant": str(api.tenant.pk), "namespace": "shows", "le": "0.93"})
    assert after_below == below + 1
    semantic._metric_namespaces.clear()
    settings.CONVOSTORE = {**settings.CONVOSTORE, "SEMANTIC_METRIC_NAMESPACES": 0}
    post(api, "/v1/cache/store", {"namespace": "n2", "text": "Book 2 seats", "response": "x"}, status=201)
    post(api, "/v1/cache/lookup", {"namespace": "n2", "text": "Book 2 seats"})
    assert REGISTRY.get_sample_value("semantic_cache_best_similarity_count", {"tenant": str(api.tenant.pk), "namespace": "other"}) >= 1
