"""Live storefront shoppers whose response to every action is known (the ground truth).

Pure Python and numpy: no Django, no HTTP. ``simulator.runner`` drives these shoppers against a
running platform through its public APIs; this module only says what a shopper does in a
session and how they react to what the platform decides for them. docs/simulator.md has the
tables below with the reasoning behind them.

A session has exactly one *decision point*: the storefront asks ``/v1/decide`` what to show
at one moment of the visit, given the situation the shopper is in. So an order that follows is
attributed by the platform to that session's decision (the person's latest one), and the
measured lift of an action estimates the uplift written here.

==============  =====================  ========================  ==============================
situation       storefront context     base conversion p0(k)     action it is made for
==============  =====================  ========================  ==============================
browse          page /home             0.10 + 0.30 k             weekly_newsletter (email)
offers          page /offers           0.10 + 0.30 k             flash_promo (email)
cart            page /cart, items      0.20 + 0.30 k             cart_reminder (in-app)
checkout        page /checkout,        0.30 + 0.20 k             checkout_help (in-app)
                payment_failed
==============  =====================  ========================  ==============================

``k = sigmoid(base_intent + u)`` is the shopper's keenness in that session (``u`` an AR(1)
drift). When the action is shown the conversion probability is ``p0(k) + uplift`` (absolute
points; never above 1 with these numbers), so the true lift of each action is its ``uplift``:
``cart_reminder`` +0.25, ``checkout_help`` +0.30, ``weekly_newsletter`` 0 and ``flash_promo``
0 (it only hurts: 12 % of the people it reaches unsubscribe, against 1 % for the newsletter).

Every draw a session may need is taken from the shopper's own generator, in a fixed order,
whatever the platform answers: the same seed gives the same people, sessions, situations and
uniforms, and the same platform answers give the same messages (common random numbers: a
shopper who converts without the action converts with it too).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np

ORDER_EVENT = "Order Completed"
PAYMENT_FAILED_EVENT = "Payment Failed"
COMPLAINT_EVENT = "Complaint Filed"
CANCEL_EVENT = "Subscription Cancelled"
CATEGORIES: tuple[str, ...] = ("shoes", "coffee", "books", "garden", "audio", "kitchen")


@dataclass(frozen=True)
class Situation:
    key: str
    page: str
    base: float  # p0 = base + slope * keenness
    slope: float
    action: str  # the catalog action made for this moment


SITUATIONS: dict[str, Situation] = {
    "browse": Situation("browse", "/home", 0.10, 0.30, "weekly_newsletter"),
    "offers": Situation("offers", "/offers", 0.10, 0.30, "flash_promo"),
    "cart": Situation("cart", "/cart", 0.20, 0.30, "cart_reminder"),
    "checkout": Situation("checkout", "/checkout", 0.30, 0.20, "checkout_help"),
}
DEFAULT_MIX: dict[str, float] = {"browse": 0.45, "offers": 0.15, "cart": 0.25, "checkout": 0.15}


@dataclass(frozen=True)
class ActionTruth:
    """How shoppers really react to an action they are shown (absolute probabilities)."""

    uplift: float  # added to the conversion probability of the session
    opened: float  # email opened / in-app message seen
    clicked: float  # given opened
    unsubscribed: float  # email only: leaves the email list (consent withdrawn)


GROUND_TRUTH: dict[str, ActionTruth] = {
    "cart_reminder": ActionTruth(uplift=0.25, opened=0.90, clicked=0.40, unsubscribed=0.0),
    "checkout_help": ActionTruth(uplift=0.30, opened=0.90, clicked=0.50, unsubscribed=0.0),
    "weekly_newsletter": ActionTruth(uplift=0.0, opened=0.35, clicked=0.10, unsubscribed=0.01),
    "flash_promo": ActionTruth(uplift=0.0, opened=0.25, clicked=0.15, unsubscribed=0.12),
}
# An action the simulator does not know (added by a marketer) is shown to no effect.
NO_EFFECT = ActionTruth(uplift=0.0, opened=0.2, clicked=0.05, unsubscribed=0.0)

COMPLAINT_AFTER_FAILED_PAYMENT = 0.25  # an unrecovered failed payment ends in a complaint
CHURN_AFTER_COMPLAINT = 0.5  # and a complaint often ends the relationship
CANCEL_SHARE = 0.3  # churners who say so with a "Subscription Cancelled" event
EMAIL_CONSENT_SHARE = 0.8


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def conversion_probability(situation: str, keenness: float, action: str | None) -> float:
    """The ground truth: P(order in this session | situation, keenness, the action shown or None)."""
    spec = SITUATIONS[situation]
    p = spec.base + spec.slope * keenness
    if action is not None:
        p += GROUND_TRUTH.get(action, NO_EFFECT).uplift
    return min(1.0, max(0.0, p))


@dataclass
class Shopper:
    index: int
    user_id: str
    anonymous_id: str
    email: str
    first_name: str
    base_intent: float
    lifetime: int  # sessions planned before they drift away (response-independent)
    email_consent: bool
    favourite: str
    spend_mean: float
    rng: np.random.Generator = field(repr=False)
    sessions: int = 0
    drift: float = 0.0
    identified: bool = False
    gone: bool = False  # churned (complaint) or lifetime reached
    messages: int = 0
    decided: bool = False  # has had a decision with an action (shown or held out)

    def message_id(self, seed: int) -> str:
        self.messages += 1
        return f"sim{seed}-{self.index}-{self.messages}"


@dataclass(frozen=True)
class Draws:
    """Every uniform a session may use, drawn up front so answers never shift the stream."""

    convert: float
    opened: float
    clicked: float
    unsubscribed: float
    complaint: float
    churn: float
    cancel: float
    revenue: float
    views: int
    category: str


@dataclass
class Session:
    shopper: Shopper
    number: int
    situation: str
    keenness: float
    draws: Draws
    context: dict[str, Any]
    before: list[dict[str, Any]]  # messages sent before the storefront asks what to show


@dataclass
class Reaction:
    """What the shopper did after the decision: messages to track and outcomes to report."""

    messages: list[dict[str, Any]]
    outcomes: list[dict[str, Any]]  # {"kind", "id", "value"?} for /v1/outcome
    converted: bool
    shown: str | None


class Storefront:
    """A stream of sessions from a growing, churning population (deterministic for a seed)."""

    def __init__(
        self,
        *,
        seed: int,
        mix: dict[str, float] | None = None,
        new_share: float = 0.2,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """``clock``: stamps each message with the moment it is made (what an SDK sends as
        ``timestamp``); without it messages carry no time and the platform uses arrival."""
        self.seed = seed
        self.clock = clock
        self.mix = dict(mix or DEFAULT_MIX)
        unknown = set(self.mix) - set(SITUATIONS)
        if unknown or not self.mix or any(w < 0 for w in self.mix.values()) or sum(self.mix.values()) <= 0:
            raise ValueError(f"mix must weigh situations among {sorted(SITUATIONS)}")
        if not 0 < new_share <= 1:
            raise ValueError("new_share must be in (0, 1]")
        self.new_share = new_share
        self.schedule = np.random.default_rng([seed, 0])
        self.shoppers: list[Shopper] = []
        self.active: list[int] = []
        keys = sorted(self.mix)
        total = sum(self.mix.values())
        self._situations = keys
        self._weights = np.array([self.mix[k] / total for k in keys])

    def _new_shopper(self) -> Shopper:
        index = len(self.shoppers)
        rng = np.random.default_rng([self.seed, 1, index])
        shopper = Shopper(
            index=index,
            user_id=f"sim{self.seed}-u{index}",
            anonymous_id=f"sim{self.seed}-a{index}",
            email=f"shopper{index}.s{self.seed}@example.com",
            first_name=f"Shopper{index}",
            base_intent=float(rng.normal(0.0, 1.0)),
            lifetime=1 + int(rng.geometric(0.15)),
            email_consent=bool(rng.random() < EMAIL_CONSENT_SHARE),
            favourite=str(CATEGORIES[int(rng.integers(len(CATEGORIES)))]),
            spend_mean=float(rng.gamma(6.0, 10.0)),
            rng=rng,
            drift=float(rng.normal(0.0, 0.5)),
        )
        self.shoppers.append(shopper)
        self.active.append(index)
        return shopper

    def next_visit(self) -> tuple[Shopper, int]:
        """Who visits next: a new shopper or a returning one, in a seeded order that no answer of
        the platform changes. Returns the shopper and the number of this visit (1-based)."""
        if not self.active or self.schedule.random() < self.new_share:
            shopper = self._new_shopper()
        else:
            shopper = self.shoppers[self.active[int(self.schedule.integers(len(self.active)))]]
        shopper.sessions += 1
        if shopper.sessions >= shopper.lifetime:
            self.active.remove(shopper.index)
        return shopper, shopper.sessions

    def next_session(self) -> Session:
        """The next visit with its messages (single-threaded use; see ``next_visit``/``visit``)."""
        shopper, number = self.next_visit()
        return self.visit(shopper, number)

    def visit(self, shopper: Shopper, number: int) -> Session:
        """The visit's situation, draws and the messages before the decision point. A shopper's
        visits must be made in order (``simulator.runner`` gives each shopper to one thread);
        a shopper who has churned makes no visit (``context`` stays empty)."""
        rng = shopper.rng
        shopper.drift = 0.7 * shopper.drift + float(rng.normal(0.0, 0.5))
        keenness = _sigmoid(shopper.base_intent + shopper.drift)
        situation = str(self._situations[int(rng.choice(len(self._situations), p=self._weights))])
        u = rng.random(8)
        draws = Draws(
            convert=float(u[0]),
            opened=float(u[1]),
            clicked=float(u[2]),
            unsubscribed=float(u[3]),
            complaint=float(u[4]),
            churn=float(u[5]),
            cancel=float(u[6]),
            revenue=float(rng.gamma(4.0, shopper.spend_mean / 4.0)),
            views=1 + int(rng.poisson(1.0 + 2.0 * keenness)),
            category=shopper.favourite if u[7] < 0.6 else str(CATEGORIES[int(rng.integers(len(CATEGORIES)))]),
        )
        session = Session(shopper, number, situation, keenness, draws, {}, [])
        if shopper.gone:
            return session
        self._browse(session)
        return session

    def _message(self, shopper: Shopper, kind: str, **fields: Any) -> dict[str, Any]:
        message = {
            "type": kind,
            "messageId": shopper.message_id(self.seed),
            "userId": shopper.user_id,
            "anonymousId": shopper.anonymous_id,
            **fields,
        }
        if self.clock is not None:
            message["timestamp"] = self.clock().isoformat(timespec="microseconds").replace("+00:00", "Z")
        return message

    def _track(self, shopper: Shopper, event: str, **properties: Any) -> dict[str, Any]:
        return self._message(shopper, "track", event=event, properties=properties)

    def _browse(self, session: Session) -> None:
        shopper, draws, out = session.shopper, session.draws, session.before
        spec = SITUATIONS[session.situation]
        if not shopper.identified:
            shopper.identified = True
            consent = {"email": shopper.email_consent, "in_app": True}
            traits = {"email": shopper.email, "first_name": shopper.first_name, "consent": consent}
            out.append(self._message(shopper, "identify", traits=traits))
        out.append(self._message(shopper, "page", name="Home", properties={"path": "/"}))
        out.append(self._track(shopper, "Product List Viewed", category=draws.category))
        price = round(shopper.spend_mean, 2)
        for _ in range(draws.views):
            out.append(self._track(shopper, "Product Viewed", category=draws.category, price=price))
        context: dict[str, Any] = {"page": spec.page, "channel": "web"}
        if session.situation == "offers":
            out.append(self._message(shopper, "page", name="Offers", properties={"path": "/offers"}))
        if session.situation in ("cart", "checkout"):
            out.append(self._track(shopper, "Product Added", category=draws.category, price=price, quantity=1))
            context.update(cart_items=1, cart_value=price)
        if session.situation == "checkout":
            out.append(self._track(shopper, "Checkout Started", category=draws.category, value=price))
            out.append(self._track(shopper, PAYMENT_FAILED_EVENT, reason="card_declined", value=price))
            context["payment_failed"] = True
        session.context = context

    def react(self, session: Session, *, shown: str | None, channel: str = "") -> Reaction:
        """The shopper's response to what the platform decided (``shown``: the action key they
        saw, None when nothing was shown: silence, holdout or waiting for approval)."""
        shopper, draws = session.shopper, session.draws
        messages: list[dict[str, Any]] = []
        outcomes: list[dict[str, Any]] = []
        truth = GROUND_TRUTH.get(shown, NO_EFFECT) if shown else None
        if truth is not None and (channel != "email" or shopper.email_consent):
            if draws.opened < truth.opened:
                outcomes.append({"kind": "opened"})
                if draws.clicked < truth.clicked:
                    outcomes.append({"kind": "clicked"})
            if channel == "email" and draws.unsubscribed < truth.unsubscribed:
                shopper.email_consent = False
                outcomes.append({"kind": "unsubscribed"})
                messages.append(self._message(shopper, "identify", traits={"consent": {"email": False}}))
        p = conversion_probability(session.situation, session.keenness, shown)
        converted = draws.convert < p
        if converted:
            if session.situation != "checkout":
                messages.append(self._track(shopper, "Checkout Started", category=draws.category))
            revenue = round(draws.revenue, 2)
            messages.append(
                self._track(
                    shopper,
                    ORDER_EVENT,
                    order_id=f"sim{self.seed}-o{shopper.index}-{session.number}",
                    revenue=revenue,
                    currency="USD",
                    products=[{"category": draws.category, "price": revenue, "quantity": 1}],
                )
            )
        elif session.situation == "checkout" and draws.complaint < COMPLAINT_AFTER_FAILED_PAYMENT:
            messages.append(self._track(shopper, COMPLAINT_EVENT, reason="payment failed at checkout"))
            if draws.churn < CHURN_AFTER_COMPLAINT:
                shopper.gone = True
        if session.number >= shopper.lifetime:
            shopper.gone = True
        if shopper.gone and draws.cancel < CANCEL_SHARE:
            messages.append(self._track(shopper, CANCEL_EVENT, reason="not needed"))
        return Reaction(messages=messages, outcomes=outcomes, converted=converted, shown=shown)
