"""Admin for support staff: tenants and keys, conversations with transcripts and actions, the audit log.

The model admins live in sessions_app.support; importing them here registers them on the default site,
which is sessions_app.support.site.ConvoStoreAdminSite (installed by sessions_app.apps.ConvoStoreAdminConfig).
"""

from .gateway import admin as gateway_admin  # noqa: F401  (registers the model routes and token usage)
from .support import conversations, responses, tenants  # noqa: F401  (importing them registers the model admins)
