"""demo_setup: the demo tenant, its key (kept in the state dir, mode 600) and an admin user on first run."""

import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from sessions_app.services import api_key_create, tenant_create


class Command(BaseCommand):
    help = "Create the demo tenant, its API key and the admin superuser when missing; print the demo key."

    def add_arguments(self, parser):
        parser.add_argument("--state-dir", required=True)

    def handle(self, *args, state_dir, **options):
        state = Path(state_dir)
        tenant, _ = tenant_create(name="demo")
        key_file = state / "demo_api_key"
        if not key_file.exists() or not key_file.read_text().strip():
            issued = api_key_create(tenant=tenant, name="demo")
            key_file.write_text(issued.raw_key + "\n")
            key_file.chmod(0o600)
        User = get_user_model()
        if not User.objects.filter(username="admin").exists():
            password = secrets.token_urlsafe(12)
            User.objects.create_superuser("admin", "admin@localhost", password)
            self.stdout.write(f"admin user created: username admin, password {password} (shown once)")
        try:
            call_command("install_schedule")
        except Exception as exc:  # the schedule is optional for serving the API
            self.stderr.write(f"schedule not installed: {exc}")
        self.stdout.write(f"demo tenant API key: {key_file.read_text().strip()}")
