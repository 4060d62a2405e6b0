"""calibrate_semantic_cache: the threshold meets the false-hit target on the operator's pairs, is stored per
namespace in Postgres, and lookups report the threshold they used."""

import json
from pathlib import Path

import numpy as np
import pytest
from django.core.management import CommandError, call_command

from cache_app.semantic_calibration import THRESHOLDS, threshold_pick
from sessions_app.models import SemanticNamespace
from sessions_app.services import semantic_namespaces

pytestmark = pytest.mark.django_db

PAIRS = Path(__file__).resolve().parents[2] / "bench" / "data" / "cache_pairs.jsonl"


def lookup(api, **body):
    response = api.post("/v1/cache/lookup", {"namespace": "support", **body}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def test_threshold_pick_takes_the_most_hits_within_the_target():
    sims = np.array([0.99, 0.95, 0.90, 0.80, 0.97, 0.85])
    same = np.array([True, True, True, True, False, False])
    picked = threshold_pick(sims, same, max_false_hit_rate=0.0)
    assert picked.threshold == 0.975 and picked.true_hit_rate == 0.25 and picked.false_hit_rate == 0.0
    loose = threshold_pick(sims, same, max_false_hit_rate=0.5)
    assert loose.threshold == 0.855 and loose.true_hit_rate == 0.75  # the lowest threshold with the most hits
    guarded = threshold_pick(sims, same, np.array([True, True, True, True, False, True]), max_false_hit_rate=0.0)
    assert guarded.threshold == 0.855  # the guard removed the 0.97 near miss
    assert threshold_pick(np.ones(2), np.array([True, False]), max_false_hit_rate=0.0) is None
    with pytest.raises(ValueError):
        threshold_pick(sims[:2], same[:2], max_false_hit_rate=0.1)
    assert THRESHOLDS[0] == 0.5 and THRESHOLDS[-1] == 1.0


def test_the_command_stores_the_namespace_threshold_and_lookups_use_and_report_it(api, capsys):
    assert lookup(api, text="How do I reset my password?")["threshold"] == api.tenant.semantic_threshold
    call_command("calibrate_semantic_cache", tenant=api.tenant.name, namespace="support", pairs=str(PAIRS), max_false_hits=0.01)
    row = SemanticNamespace.objects.get(tenant=api.tenant, namespace="support")
    assert row.false_hit_rate <= 0.01 and row.true_hit_rate > 0 and row.pairs == 320 and row.guard
    assert row.embedder.startswith("local:minilm-l6-v2-static-256")
    assert "threshold" in capsys.readouterr().out
    assert lookup(api, text="How do I reset my password?")["threshold"] == row.threshold
    assert lookup(api, text="How do I reset my password?", threshold=0.5)["threshold"] == 0.5  # the request wins
    assert lookup(api, namespace="other", text="x")["threshold"] == api.tenant.semantic_threshold
    vector = [1.0] + [0.0] * 255  # a gateway's vector: its model was not calibrated
    assert lookup(api, embedding=vector)["threshold"] == api.tenant.semantic_threshold


def test_a_stricter_target_never_gives_a_lower_threshold(tenant):
    pairs = [json.loads(line) for line in PAIRS.read_text().splitlines()]
    loose = semantic_namespaces.semantic_namespace_calibrate(tenant=tenant, namespace="n", pairs=pairs, max_false_hit_rate=0.05).threshold
    strict = semantic_namespaces.semantic_namespace_calibrate(tenant=tenant, namespace="n", pairs=pairs, max_false_hit_rate=0.01).threshold
    assert strict >= loose and SemanticNamespace.objects.filter(tenant=tenant).count() == 1


def test_bad_files_and_impossible_targets_are_clear_errors(tenant, tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"a": "x", "b": "y", "same": true}\nnot json\n')
    with pytest.raises(CommandError, match="bad.jsonl:2"):
        call_command("calibrate_semantic_cache", tenant=tenant.name, namespace="n", pairs=str(bad))
    twins = tmp_path / "twins.jsonl"
    twins.write_text('{"a": "Convert a list to a string", "b": "Convert a string to a list", "same": false}\n'
                     '{"a": "reset password", "b": "reset password", "same": true}\n')  # fmt: skip
    with pytest.raises(CommandError, match="no threshold"):
        call_command("calibrate_semantic_cache", tenant=tenant.name, namespace="n", pairs=str(twins), max_false_hits=0.0)
    with pytest.raises(CommandError, match="no tenant"):
        call_command("calibrate_semantic_cache", tenant="nobody", namespace="n", pairs=str(twins))


def test_a_namespace_calibrated_without_the_guard_looks_up_without_it(api, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        '{"a": "Book 2 seats for the 7pm show.", "b": "Please book 2 seats for the 7pm show.", "same": true}\n'
        '{"a": "How do I reset my password?", "b": "What is the weather in Oslo?", "same": false}\n'
    )
    api.post("/v1/cache/store", {"namespace": "support", "text": "Book 2 seats for the 7pm show.", "response": "ok"}, format="json")
    assert lookup(api, text="Book 3 seats for the 7pm show.")["hit"] is False  # guard on by default
    call_command("calibrate_semantic_cache", "--no-guard", tenant=api.tenant.name, namespace="support", pairs=str(pairs))
    assert SemanticNamespace.objects.get(namespace="support").guard is False
    assert lookup(api, text="Book 3 seats for the 7pm show.")["hit"] is True  # the namespace's choice
    assert lookup(api, text="Book 3 seats for the 7pm show.", guard=True)["hit"] is False  # the request wins
