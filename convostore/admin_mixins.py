"""Django admin mixins shared by the apps' model admins."""

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
