"""The in-app widget in a real browser: the storefront script connects to /ws/inapp/, shows a
message pushed by a real worker, and reports shown and clicked through the tracking API.
Screenshots of the widget and the delivery and journeys pages go to the artifacts directory."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from delivery.models import Delivery, DeliveryStatus
from delivery.services import delivery_enqueue, endpoint_save, inapp_identity_rotate
from delivery.signing import inapp_user_hash
from journeys.models import Playbook
from journeys.services import DEFAULT_PLAYBOOK_KEY, journeys_defaults_install, playbook_run_advance, signal_fire
from tests.browser.conftest import browser_page  # noqa: F401 - the shared fixture
from tests.decisions.conftest import person
from tests.delivery.conftest import wait_for, worker

pytestmark = pytest.mark.browser
WIDGET = Path(settings.BASE_DIR) / "static" / "js" / "inapp-widget.js"


def _reconnect_if_terminated() -> None:
    """An earlier live-server test in this process ends by terminating the database sessions its
    server threads left (tests/events/conftest.py); if that took this thread's session too, open
    a new one rather than fail on the first query."""
    from django.db import connection

    if connection.connection is not None and not connection.is_usable():
        connection.close()


@pytest.mark.django_db(transaction=True)
def test_the_widget_shows_a_pushed_message_and_reports_shown_and_clicked(
    shop,
    write_key,
    server_url,
    browser_page,  # noqa: F811
    artifacts_dir,
    fast_retries,
) -> None:
    _reconnect_if_terminated()
    page = browser_page
    _, secret = inapp_identity_rotate(workspace=shop, actor=None)
    user_hash = inapp_user_hash(secret, "ana")  # what the storefront's server renders into the page
    page.goto(f"{server_url}/accounts/login/")
    page.add_script_tag(path=str(WIDGET))
    page.evaluate(
        "([host, key, hash]) => {"
        " window.cep = CEPInApp.start({host: host, writeKey: key, userId: 'ana', userHash: hash}); }",
        [server_url, write_key, user_hash],
    )
    page.wait_for_function("() => window.cep.socket && window.cep.socket.readyState === 1")
    with worker():
        delivery = delivery_enqueue(
            workspace=shop,
            key="browser:help",
            channel="in_app",
            profile=person(shop, "ana"),
            subject="Trouble with your payment?",
            body="Hi Ana, chat with us and we will sort it out.",
            payload={"link_url": "#chat", "link_label": "Chat with us"},
        )
        card = page.locator(f'.cep-inapp-message[data-delivery="{delivery.id}"]')
        card.wait_for()
        assert "chat with us and we will sort it out" in card.inner_text()
        page.screenshot(path=str(artifacts_dir / "delivery-inapp-widget.png"))
        assert wait_for(lambda: Delivery.objects.filter(pk=delivery.pk, opened_at__isnull=False).exists())
        card.get_by_role("link", name="Chat with us").click()
        assert wait_for(lambda: Delivery.objects.filter(pk=delivery.pk, clicked_at__isnull=False).exists())
    assert Delivery.objects.get(pk=delivery.pk).status == DeliveryStatus.DELIVERED

    # Without its hash a user id is refused: the page is told before connecting, and a hash made
    # for someone else never opens a socket (a browser sees the refused handshake as 1006; the
    # 4403 itself is checked with a websocket client in test_inapp_identity.py).
    error = page.evaluate(
        "([host, key]) => { try { CEPInApp.start({host: host, writeKey: key, userId: 'ana'}); return ''; }"
        " catch (e) { return e.message; } }",
        [server_url, write_key],
    )
    assert "userHash" in error
    page.evaluate(
        "([host, key, hash]) => {"
        " window.intruder = CEPInApp.start({host: host, writeKey: key, userId: 'ana', userHash: hash});"
        " window.intruder.socket.addEventListener('open', () => { window.intruderOpened = true; });"
        " window.intruder.socket.addEventListener('close', (e) => { window.intruderClosed = e.code; }); }",
        [server_url, write_key, inapp_user_hash(secret, "bo")],
    )
    page.wait_for_function("() => window.intruderClosed !== undefined")
    assert page.evaluate("() => [window.intruderOpened === true, window.intruderClosed]") == [False, 1006]
    page.evaluate("() => window.intruder.stop()")

    # The operator's pages, with a dead letter and a playbook run to show.
    owner = shop.memberships.get(role="owner").user
    client = Client()
    client.force_login(owner)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": server_url}])
    endpoint, _ = endpoint_save(workspace=shop, actor=None, values={"key": "erp", "url": "https://erp.example.com/h"})
    dead = delivery_enqueue(workspace=shop, key="erp:hold:1", channel="webhook", endpoint=endpoint, payload={"a": 1})
    Delivery.objects.filter(pk=dead.pk).update(status=DeliveryStatus.DEAD, attempt_count=5, last_error="HTTP 503: down")
    journeys_defaults_install(workspace=shop)
    playbook = Playbook.objects.get(workspace=shop, key=DEFAULT_PLAYBOOK_KEY)
    playbook.signal.condition = ""
    playbook.signal.save()
    facts = {
        "count": 3,
        "window_minutes": 10,
        "payment_summary": "- 2026-01-05 10:01:02, 129.5 EUR, reason: card_declined, order id: ord-1",
    }
    [run] = signal_fire(
        signal=playbook.signal, profile=person(shop, "ana"), trigger_ref="b", facts=facts, because="3 x payment_failed"
    )
    playbook_run_advance(run_id=run.id)
    shots = [
        ("/delivery/", "delivery-list"),
        ("/delivery/dead-letter/", "delivery-dead-letter"),
        (f"/delivery/{dead.id}/", "delivery-detail"),
        ("/delivery/webhooks/", "delivery-endpoints"),
        ("/delivery/in-app/", "delivery-inapp-identity"),
        ("/journeys/playbooks/", "journeys-playbooks"),
        (f"/journeys/playbooks/{DEFAULT_PLAYBOOK_KEY}/", "journeys-playbook-form"),
        (f"/journeys/runs/{run.id}/", "journeys-run"),
        ("/journeys/signals/", "journeys-signals"),
    ]
    for path, name in shots:
        response = page.goto(f"{server_url}{path}")
        assert response is not None and response.status == 200, path
        page.screenshot(path=str(artifacts_dir / f"{name}.png"), full_page=True)
    page.goto(f"{server_url}/delivery/dead-letter/")
    page.get_by_role("button", name="Retry").click()
    page.wait_for_url(f"{server_url}/delivery/dead-letter/")
    assert Delivery.objects.get(pk=dead.pk).status == DeliveryStatus.PENDING
