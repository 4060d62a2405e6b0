"""{% convostore_dashboard %}: the dashboard charts, for the admin index (only for staff who may view conversations)."""

from django import template

from cache_app.admin import DASHBOARD_PERMISSION
from cache_app.dashboard import dashboard_context

register = template.Library()


@register.inclusion_tag("admin/convostore_dashboard_charts.html", takes_context=True)
def convostore_dashboard(context):
    request = context.get("request")
    if request is None or not request.user.has_perm(DASHBOARD_PERMISSION):
        return {"charts": None}
    return dashboard_context()
