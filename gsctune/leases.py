"""Leases: one reviewer at a time on a queue row (review items, blind-scoring items).

A model with ``leased_by`` (a user) and ``lease_expires`` is leased with a conditional
UPDATE, atomic on SQLite and re-checked under the row lock on PostgreSQL, so two
concurrent requests never both win one row. How long a lease lasts comes from settings
(``REVIEW_LEASE_SECONDS``, ``BLIND_LEASE_SECONDS``).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Model, Q, QuerySet
from django.utils import timezone


class Leases:
    """The lease rules of one model; ``setting`` names the lease length in seconds."""

    def __init__(self, model: type[Model], setting: str) -> None:
        self.model = model
        self.setting = setting

    @property
    def seconds(self) -> int:
        return getattr(settings, self.setting)

    def until(self, now: datetime | None = None) -> datetime:
        return (now or timezone.now()) + timedelta(seconds=self.seconds)

    @staticmethod
    def free(user, now: datetime | None = None) -> Q:
        """Rows nobody else holds: never leased, expired, or the user's own."""
        now = now or timezone.now()
        return Q(leased_by__isnull=True) | Q(lease_expires__isnull=True) | Q(lease_expires__lte=now) | Q(leased_by=user)

    def held_by(self, user, now: datetime | None = None) -> QuerySet:
        """The rows whose live lease the user holds."""
        return self.model.objects.filter(leased_by=user, lease_expires__gt=now or timezone.now())

    def take(self, pk, user, now: datetime | None = None) -> datetime | None:
        """Lease the row to the user unless someone else holds it; the new expiry, or None."""
        now = now or timezone.now()
        until = self.until(now)
        taken = self.model.objects.filter(self.free(user, now), pk=pk).update(leased_by=user, lease_expires=until)
        return until if taken else None

    def release(self, rows: QuerySet, user) -> None:
        """Free those of ``rows`` the user holds."""
        rows.filter(leased_by=user).update(leased_by=None, lease_expires=None)

    def holder(self, pk, user):
        """The other user holding a live lease on the row, or None."""
        row = (self.model.objects.filter(pk=pk, lease_expires__gt=timezone.now())
               .exclude(leased_by=user).exclude(leased_by__isnull=True).select_related("leased_by").first())
        return row.leased_by if row else None
