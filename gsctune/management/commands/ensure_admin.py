import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create the first admin user if there is no superuser yet (password from GSCTUNE_ADMIN_PASSWORD or generated)."

    def handle(self, *args, **options):
        User = get_user_model()
        if User.objects.filter(is_superuser=True).exists():
            return
        username = os.environ.get("GSCTUNE_ADMIN_USER", "admin")
        password = os.environ.get("GSCTUNE_ADMIN_PASSWORD")
        generated = not password
        password = password or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        if generated:
            # Shown once: it is not stored anywhere in clear text.
            self.stdout.write(self.style.WARNING(f"Created admin user '{username}' with password: {password}"))
        else:
            self.stdout.write(f"Created admin user '{username}' (password from GSCTUNE_ADMIN_PASSWORD).")
