"""What a reviewer sees when someone else holds the label: the server's sentence, nothing stored."""


from django.urls import reverse

from labeling.models import Review
from labeling.review.services import QueueFilter, next_item
from tests.conftest import BROWSER_TEST, browser_login
from tests.factories import make_labels

pytestmark = BROWSER_TEST


def test_a_verdict_on_a_label_someone_else_holds_shows_why_it_was_not_saved(page, live_server, django_user_model):
    django_user_model.objects.create_user("ann", password="pw-ann-123")
    bob = django_user_model.objects.create_user("bob", password="pw-bob-123")
    label = make_labels(1)[0]
    assert next_item(bob, QueueFilter()).pk == label.pk  # bob's page leased it
    browser_login(page, live_server, "ann", "pw-ann-123")
    page.goto(f"{live_server.url}{reverse('review-item', args=[label.pk])}")
    assert "bob is reviewing this label right now" in page.inner_text("#review-item")
    page.keyboard.press("a")
    status = page.locator("#review-status.error")
    status.wait_for(timeout=10_000)
    assert status.inner_text() == (f"label {label.pk}: bob is reviewing label {label.pk} right now, so your verdict "
                                   "was not saved; carry on with the next label.")
    assert not Review.objects.exists()
