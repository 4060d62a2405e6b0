"""factory_boy factories for the models tests build directly."""

import factory

from sessions_app.models import Tenant


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"tenant-{n}")


def msg(role: str, content: str) -> dict:
    """A message item as the API takes it."""
    return {"role": role, "content": content}


def store(api, **body) -> dict:
    """POST /v1/sessions/responses with ``body`` through ``api`` (an authenticated APIClient); the 201 answer."""
    response = api.post("/v1/sessions/responses", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()
