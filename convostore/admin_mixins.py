"""Django admin mixins shared by the apps' model admins."""

from django.contrib.admin import SimpleListFilter
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import get_fields_from_path
from django.db.models import Field

from convostore.db_router import from_replica


class ReadOnlyAdminMixin:
    """Rows written only by services: the admin shows them and never adds, edits or deletes them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ReplicaListMixin:
    """The list page (GET) reads the Postgres replica when one is configured; a page rendered from it may be
    a moment behind. Change pages, transcripts and every POST (actions) read the primary."""

    def changelist_view(self, request, extra_context=None):
        if request.method != "GET":
            return super().changelist_view(request, extra_context)

        def page():
            response = super(ReplicaListMixin, self).changelist_view(request, extra_context)
            # a TemplateResponse runs its queries while rendering: render inside the replica block
            return response.render() if hasattr(response, "render") and not response.is_rendered else response

        return from_replica(page, where=f"admin list {self.model._meta.label}")


# Columns no admin page may filter, search or order by, for anyone: key material and what would let a
# caller confirm a guess about it ("app_label.model.field", lower case). The lookup allow-list below refuses
# them anyway (everything not listed is refused); this set is what the checks and tests hold the lists to.
SECRET_COLUMNS = frozenset({
    "sessions_app.apikey.key_hash",
    "sessions_app.idempotencyrecord.request_hash",
    "sessions_app.idempotencyrecord.response_body",
    "sessions_app.modelroute.api_key_env",
    "auth.user.password",
})

# The query parameters Django's list filter for a field F uses: F (all values), F__exact (choices, booleans),
# F__isnull, F__isempty, F__gte / F__lt (dates); a relation adds F__<target field>__exact.
FILTER_SUFFIXES = ("", "__exact", "__isnull", "__isempty", "__gte", "__lt")
DATE_HIERARCHY_SUFFIXES = ("__year", "__month", "__day")


def printable(value: str) -> bool:
    """False for text Postgres cannot hold or compare (NUL, lone surrogates): refused before it reaches SQL."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def filter_parameters(model, list_filter) -> set[str]:
    """The query parameters one ``list_filter`` entry (a field path, (path, filter class) or a SimpleListFilter) uses."""
    if isinstance(list_filter, type) and issubclass(list_filter, SimpleListFilter):
        return {list_filter.parameter_name}
    path = list_filter[0] if isinstance(list_filter, (tuple, list)) else list_filter
    if isinstance(path, Field):
        path = path.name
    names = {f"{path}{suffix}" for suffix in FILTER_SUFFIXES}
    field = get_fields_from_path(model, path)[-1]
    if field.is_relation and getattr(field, "target_field", None) is not None:
        names.add(f"{path}__{field.target_field.name}__exact")
    return names


class AllowListedLookupsMixin:
    """Changelist filters, searches and lookups limited to an allow-list (issue 19: oracles on secret columns).

    Django's own ``lookup_allowed`` lets any query parameter on a model's own column through
    (``?key_hash__startswith=ab`` narrowed the API key list to the key whose hash starts so): a page answered
    which guess was right. Here a query parameter is refused (400, DisallowedModelAdminLookup) unless it is
    one the page's own ``list_filter`` entries use (FILTER_SUFFIXES), a ``date_hierarchy`` part, or listed in
    ``allowed_lookups``; a value holding NUL or a lone surrogate is refused too, and so is such a search
    term (the list answers with Django's "?e=1" redirect). ``search_fields`` and sortable columns are held
    to SECRET_COLUMNS by ``tests/security/test_admin_lookups.py``.

    ConvoStoreAdminSite.register puts this mixin in front of every model admin registered on the site,
    django-celery-beat's and django.contrib.auth's included.
    """

    allowed_lookups: tuple[str, ...] = ()

    def allowed_lookup_names(self, request) -> frozenset[str]:
        """Every query parameter this changelist accepts besides Django's own (q, o, p, all, e, _to_field, …)."""
        names = set(self.allowed_lookups)
        for list_filter in self.get_list_filter(request):
            names |= filter_parameters(self.model, list_filter)
        if self.date_hierarchy:
            names |= {f"{self.date_hierarchy}{suffix}" for suffix in DATE_HIERARCHY_SUFFIXES}
        return frozenset(names)

    def lookup_allowed(self, lookup, value, request=None):
        return lookup in self.allowed_lookup_names(request) and (not isinstance(value, str) or printable(value))

    def get_search_results(self, request, queryset, search_term):
        if not printable(search_term):
            raise IncorrectLookupParameters("The search term holds NUL or a lone surrogate.")
        return super().get_search_results(request, queryset, search_term)
