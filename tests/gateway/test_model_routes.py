"""Model routes: tenant overrides, the default route, the allow-list at save and after DNS, key variable names."""

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction

from convostore.errors import NotFound
from convostore import upstream_hosts as hosts
from sessions_app.gateway.routes import check_default_route, route_for
from sessions_app.models import ModelRoute
from tests.gateway.conftest import upstream_settings


@pytest.fixture
def allowed(settings):
    settings.CONVOSTORE_UPSTREAM = upstream_settings("http://127.0.0.1:8001/v1", ALLOWED_HOSTS=["127.0.0.1", "models.internal:9000"])


def test_a_tenant_route_overrides_the_default_route(tenant, allowed):
    ModelRoute.objects.create(tenant=tenant, model="small", base_url="http://models.internal:9000/v1", api="responses",
                              upstream_model="org/small-7b", api_key_env="CONVOSTORE_UPSTREAM_KEY_SMALL", context_window=4096)
    route = route_for(tenant=tenant, model="small")
    assert (route.source, route.api, route.upstream_model, route.context_window) == ("tenant", "responses", "org/small-7b", 4096)
    other = route_for(tenant=tenant, model="anything-else")
    assert (other.source, other.upstream_model, other.base_url) == ("default", "anything-else", "http://127.0.0.1:8001/v1")


def test_no_route_at_all_is_model_not_found(tenant, settings):
    settings.CONVOSTORE_UPSTREAM = upstream_settings("")
    with pytest.raises(NotFound) as caught:
        route_for(tenant=tenant, model="gpt-x")
    assert (caught.value.code, caught.value.param) == ("model_not_found", "model")


def test_saving_a_route_outside_the_allow_list_is_refused(tenant, allowed):
    for url in ("http://evil.example/v1", "http://models.internal:9001/v1", "http://user:pw@127.0.0.1/v1", "file:///etc/passwd"):
        with pytest.raises(ValidationError) as caught:
            ModelRoute(tenant=tenant, model="m", base_url=url).save()
        assert "base_url" in caught.value.message_dict
    ModelRoute(tenant=tenant, model="m", base_url="http://127.0.0.1:1234/v1").save()  # a bare host allows any port


def test_the_default_allow_list_is_the_host_of_the_default_url(tenant, settings):
    settings.CONVOSTORE_UPSTREAM = upstream_settings("http://vllm:8000/v1")
    ModelRoute(tenant=tenant, model="a", base_url="http://vllm:8000/v1").save()
    with pytest.raises(ValidationError):
        ModelRoute(tenant=tenant, model="b", base_url="http://vllm:8001/v1").save()


def test_keys_come_only_from_convostore_upstream_key_variables(tenant, allowed):
    for name in ("DJANGO_SECRET_KEY", "DATABASE_URL", "CONVOSTORE_UPSTREAM_KEY_A B"):
        with pytest.raises(ValidationError) as caught:
            ModelRoute(tenant=tenant, model="m", base_url="http://127.0.0.1/v1", api_key_env=name).save()
        assert "api_key_env" in caught.value.message_dict
    with pytest.raises(IntegrityError), transaction.atomic():  # the database refuses it too (bulk paths skip save)
        ModelRoute.objects.bulk_create([ModelRoute(tenant=tenant, model="m", base_url="http://127.0.0.1/v1", api_key_env="DATABASE_URL")])


def test_the_default_route_is_checked_at_start(settings):
    settings.CONVOSTORE_UPSTREAM = upstream_settings("http://x/v1", API="grpc", API_KEY_ENV="DJANGO_SECRET_KEY")
    assert {e.id for e in check_default_route()} == {"convostore.E101", "convostore.E102"}


def _resolver(table):
    def resolve(host, port, type=None):
        return [(2, 1, 6, "", (address, port)) for address in table[host]]
    return resolve


def test_the_address_is_checked_after_dns_at_call_time(settings):
    settings.CONVOSTORE_UPSTREAM = upstream_settings("", ALLOWED_HOSTS=["models.internal", "10.0.0.7", "169.254.1.1"])
    good = _resolver({"models.internal": ["10.0.0.5"], "10.0.0.7": ["10.0.0.7"], "169.254.1.1": ["169.254.1.1"]})
    hosts.address_check("http://models.internal/v1", resolve=good, now=iter(range(0, 10**6, 100)).__next__)
    hosts.address_check("http://169.254.1.1/v1", resolve=good, now=iter(range(0, 10**6, 100)).__next__)  # listed literally
    rebound = _resolver({"models.internal": ["169.254.169.254"], "10.0.0.7": ["10.0.0.7"], "169.254.1.1": ["169.254.1.1"]})
    with pytest.raises(hosts.RouteNotAllowed, match="link-local"):
        hosts.address_check("http://models.internal/v1", resolve=rebound, now=iter(range(10**6, 2 * 10**6, 100)).__next__)
    with pytest.raises(hosts.RouteNotAllowed, match="not in"):
        hosts.address_check("http://other.internal/v1", resolve=good)


def test_an_allow_list_change_reaches_routes_saved_before(tenant, settings, allowed):
    route = ModelRoute.objects.create(tenant=tenant, model="m", base_url="http://models.internal:9000/v1")
    settings.CONVOSTORE_UPSTREAM = upstream_settings("http://127.0.0.1:8001/v1", ALLOWED_HOSTS=["127.0.0.1"])
    with pytest.raises(hosts.RouteNotAllowed):
        hosts.address_check(route.base_url, resolve=_resolver({"models.internal": ["10.0.0.5"], "127.0.0.1": ["127.0.0.1"]}))


def test_create_model_route_command(tenant, allowed):
    call_command("create_model_route", tenant=tenant.name, model="big", base_url="http://127.0.0.1:8001/v1", api="responses",
                 key_env="CONVOSTORE_UPSTREAM_KEY_BIG")
    call_command("create_model_route", tenant=tenant.name, model="big", base_url="http://127.0.0.1:8002/v1")
    route = ModelRoute.objects.get(tenant=tenant, model="big")
    assert (route.base_url, route.api, route.api_key_env) == ("http://127.0.0.1:8002/v1", "chat_completions", "")
    with pytest.raises(CommandError, match="base_url"):
        call_command("create_model_route", tenant=tenant.name, model="x", base_url="http://evil.example/v1")


def test_one_sdk_client_per_route_reads_the_key_from_the_environment(tenant, allowed, monkeypatch):
    monkeypatch.setenv("CONVOSTORE_UPSTREAM_KEY_SMALL", "sk-upstream")
    ModelRoute.objects.create(tenant=tenant, model="small", base_url="http://127.0.0.1:9/v1", api_key_env="CONVOSTORE_UPSTREAM_KEY_SMALL",
                              max_retries=1, timeout_seconds=7)
    first, second = route_for(tenant=tenant, model="small").client(), route_for(tenant=tenant, model="small").client()
    assert first is second and first.api_key == "sk-upstream" and first.max_retries == 1 and first.timeout.read == 7
    assert route_for(tenant=tenant, model="other").client().api_key == ""
