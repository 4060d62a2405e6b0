"""A Django admin mixin shared by the apps' model admins."""


class ReadOnlyAdminMixin:
    """Rows written only by services: the admin shows them and never adds, edits or deletes them."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
