"""A mixin for rows written only by services: the admin views them, never edits them."""


class ReadOnlyMixin:

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
