"""Staff-only views: one decorator, so a refusal always looks and reads the same.

A signed-in user without staff rights gets the app's 403 page (templates/403.html)
with a sentence saying why, never the admin's login form (which is what Django's
``staff_member_required`` shows, and which only invites a second login).
"""
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied


def staff_required(reason: str, methods: tuple[str, ...] | None = None):
    """Allow only staff; others get a 403 whose page shows ``reason``.

    ``reason`` is a full sentence ("Only staff can launch training runs.").
    With ``methods`` (e.g. ``("POST",)``) only those methods need staff, so one
    view can show a page to everyone and accept its form from staff only.
    The reason is kept on the view (``staff_reason``) for the URL walk test.
    """

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if methods is None or request.method in methods:
                if not request.user.is_authenticated:
                    return redirect_to_login(request.get_full_path())
                if not request.user.is_staff:
                    raise PermissionDenied(reason)
            return view(request, *args, **kwargs)

        wrapped.staff_reason = reason
        wrapped.staff_methods = methods
        return wrapped

    return decorator
