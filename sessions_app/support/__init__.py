"""The admin support staff use: the site with its dashboard, the model admins, transcripts, actions, the audit log.

sessions_app/admin.py registers the model admins (Django's autodiscovery imports it); nothing here
registers on import, so the site class (site.py) can load without re-entering the admin registry.
"""
