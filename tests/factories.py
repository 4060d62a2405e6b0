"""factory_boy factories for the models tests build directly."""

import factory

from sessions_app.models import Tenant


class TenantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tenant

    name = factory.Sequence(lambda n: f"tenant-{n}")
