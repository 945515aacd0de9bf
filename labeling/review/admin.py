from django.contrib import admin

from ..models import Review, ReviewItem


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ("id", "label", "reviewer", "verdict", "seconds_spent", "created_at")
    list_filter = ("verdict", "reviewer")
    raw_id_fields = ("label", "correction")


@admin.register(ReviewItem)
class ReviewItemAdmin(admin.ModelAdmin):
    list_display = ("label", "teacher", "prompt", "verdict", "n_findings", "leased_by", "lease_expires")
    list_filter = ("verdict", "teacher")
    raw_id_fields = ("label", "example")
