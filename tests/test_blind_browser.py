"""A reviewer scores three blind comparisons with the keyboard only; the results page shows them."""

from django.urls import reverse

from evaluation import comparisons
from evaluation.models import Vote
from tests.conftest import BROWSER_TEST, browser_login, wait_for

from .factories import load_labeled
from .test_blind_scoring import eval_run_with

pytestmark = BROWSER_TEST


def test_keyboard_only_scoring_then_results(page, live_server, django_user_model, tmp_path):
    examples = load_labeled(tmp_path, 3)
    run = eval_run_with(examples, "finetuned", "feat: <img src=x onerror=alert(1)>")
    cset = comparisons.build_comparison_set("blind set", [
        {"kind": "eval_run", "eval_run": run.pk}, {"kind": "human"}], n_items=3, seed=2)
    django_user_model.objects.create_user("sam", password="pw-sam-123")
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    browser_login(page, live_server, "sam", "pw-sam-123")

    page.goto(f"{live_server.url}{reverse('cmp-set-detail', args=[cset.pk])}")
    page.keyboard.press("Enter")  # start scoring
    prefs = ["a", "b", "t"]
    for n, pref in enumerate(prefs):
        page.wait_for_selector("#vote-form[data-ready]")  # score.js has loaded and bound the keys
        assert page.locator(".keys").inner_text().count("Enter") == 1
        assert "finetuned" not in page.inner_text("main")  # hidden until the vote
        for value in "4321554321":  # A: accuracy..order, then B: accuracy..order
            page.keyboard.press(value)
        assert page.locator("fieldset.current").get_attribute("data-name") == "pref"
        page.keyboard.press(pref)
        page.keyboard.press("Enter")
        page.wait_for_selector(".reveal")
        assert "finetuned" in page.inner_text(".reveal")
        assert Vote.objects.count() == n + 1
        page.keyboard.press("Enter")  # next item (or the results once all are scored)
    page.wait_for_selector("#ranking")
    assert page.url.endswith(reverse("cmp-results", args=[cset.pk]))
    assert page.inner_text("#n-votes") == "3"
    assert "sam" in page.inner_text("#reviewers")
    assert page.locator("#ranking tbody tr").count() == 2
    assert page.locator("#win-rates tbody tr").count() == 2
    assert dialogs == []  # the model's <img onerror> never ran
    votes = list(Vote.objects.order_by("id"))
    assert [v.preference for v in votes] == ["system", "system", "tie"]
    first = votes[0]
    assert first.preferred_id == first.order[0]
    assert sorted(first.scores.filter(system_id=first.order[0]).values_list("value", flat=True)) == [1, 2, 3, 4, 5]
    wait_for(lambda: all(v.seconds_spent > 0 for v in votes), message="time spent recorded")
