"""Review queue rows and reviewers' verdicts."""
from django.db import models

from .examples import Example, Label


class ReviewItem(models.Model):
    """Queue state of one label under review: filter columns, gate order and the lease.

    One row per non-human label, written with it by ``labeling.labels.store_labels`` so the
    "next item" query reads a single indexed table. The lease (``leased_by`` until
    ``lease_expires``) is taken with a conditional UPDATE, so two reviewers never
    hold the same item.
    """

    label = models.OneToOneField(Label, on_delete=models.CASCADE, primary_key=True, related_name="review_item")
    example = models.ForeignKey(Example, on_delete=models.CASCADE, related_name="+")
    teacher = models.CharField(max_length=200, db_index=True)
    prompt = models.CharField(max_length=200, blank=True, db_index=True)
    # Uniform in [0, 1), seeded per example key: the gate queue walks it in order, so any
    # prefix is a uniform random sample, the same examples for every teacher.
    gate_rank = models.FloatField(db_index=True)
    n_findings = models.PositiveIntegerField(default=0, db_index=True)
    checks = models.CharField(max_length=500, blank=True, help_text="Space-separated check names found.")
    verdict = models.CharField(max_length=10, blank=True, db_index=True, help_text="Latest verdict; blank = none.")
    n_reviewers = models.PositiveSmallIntegerField(default=0)
    leased_by = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    lease_expires = models.DateTimeField(null=True, blank=True, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["verdict", "gate_rank"], name="review_item_gate"),
            models.Index(fields=["verdict", "n_findings"], name="review_item_triage"),
        ]

    def __str__(self) -> str:
        return f"Review item for label {self.label_id}"

    @property
    def serves(self):
        return self.label.serves


class Review(models.Model):
    """One reviewer's verdict on a label; the latest non-skip verdict per label counts."""

    class Verdict(models.TextChoices):
        ACCEPT = "accept", "Accept"
        REJECT = "reject", "Reject"
        CORRECT = "correct", "Correct"
        SKIP = "skip", "Skip"

    class Reason(models.TextChoices):
        GROUPING = "grouping", "Wrong grouping"
        TYPE = "type", "Wrong type"
        HALLUCINATION = "hallucination", "Hallucinated content"
        MESSAGE = "message", "Vague or wrong message"
        JUNK = "junk", "Junk committed"
        MISSED_ISSUE = "missed_issue", "Missed issue"
        OTHER = "other", "Other"

    label = models.ForeignKey(Label, on_delete=models.CASCADE, related_name="reviews")
    reviewer = models.ForeignKey("auth.User", on_delete=models.CASCADE, related_name="label_reviews")
    verdict = models.CharField(max_length=10, choices=Verdict.choices, db_index=True)
    reasons = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True)
    # For a correction: the new human Label revision it created.
    correction = models.OneToOneField(
        Label, null=True, blank=True, on_delete=models.SET_NULL, related_name="correcting_review"
    )
    seconds_spent = models.FloatField(default=0)
    # Chosen by the review page once per verdict, so a verdict sent twice is stored once.
    token = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["label", "reviewer", "token"], condition=~models.Q(token=""),
                                    name="review_one_per_token"),
        ]

    def __str__(self) -> str:
        return f"{self.get_verdict_display()} of label {self.label_id} by {self.reviewer_id}"
