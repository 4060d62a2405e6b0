"""{% convostore_dashboard %}: the dashboard charts, for the admin index (only for staff who may view conversations)."""

from django import template

from sessions_app.support.dashboard import DASHBOARD_PERMISSION, dashboard_context

register = template.Library()


@register.inclusion_tag("admin/convostore_dashboard_charts.html", takes_context=True)
def convostore_dashboard(context):
    request = context.get("request")
    if request is None or not request.user.has_perm(DASHBOARD_PERMISSION):
        return {"charts": None}
    return dashboard_context()
