"""A generated storefront world whose ground truth is known.

Pure Python and numpy: no Django, no HTTP. ``world_generate`` returns the people (with the latent
quantities that drive them) and the Segment-spec messages their behaviour produced, in time order,
ready to be posted to ``/v1/batch`` or validated and ingested in process.

How a person behaves (one step per day, from the day they join until they churn or the world ends):

- **Intent.** A latent log-odds of buying in a session, ``z_d = base_intent + u_d`` with
  ``u_{d+1} = 0.8 u_d + N(0, 0.5²)``; a purchase satisfies the need (``u`` drops by 1.2).
- **Browsing.** Sessions per day ~ Poisson(``activity_rate · exp(0.6 u_d)``): people in the market
  visit more. Each session has page views, product lists and product views (more when intent is
  high), sometimes a pricing/offers page visit (more likely with intent), and a cart.
- **Buying.** A session converts with probability ``sigmoid(z_d)``: Product Added, Checkout Started,
  Order Completed with a revenue ~ Gamma(4, spend_mean / 4). Non-buying sessions add to cart with
  probability ``0.3 · sigmoid(z_d + 1.5)`` and half of those start a checkout (abandoned carts).
- **Churn.** Each active day the person leaves for good with probability
  ``sigmoid(churn_logit - 0.8 u_d)``: lower for people with higher base intent (``churn_logit``
  falls with it) and higher while they are out of the market (u_d < 0), so fading activity
  precedes leaving. ``cancel_share`` of leavers say so with a "Subscription Cancelled" event on
  their last day.
- **Identity.** Events carry the person's anonymous id; they identify (userId, email) at sign-up
  (20 % at the first session) or at their first order, after which events carry the userId too.
  ``second_device_share`` of people also browse from a second device, anonymously at first, and
  log in there on their third session on it: the platform must merge the two profiles.

Everything is drawn from one ``numpy.random.Generator`` seeded by ``WorldConfig.seed``, and message
ids are derived from the seed, so the same config produces the same messages (replays dedupe).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

DAY_SECONDS = 86400
ORDER_EVENT = "Order Completed"
CANCEL_EVENT = "Subscription Cancelled"
DEFAULT_CATEGORIES: tuple[str, ...] = ("shoes", "coffee", "books", "garden", "audio", "kitchen")
CHURN_INTENT_WEIGHT = 0.8


@dataclass(frozen=True)
class WorldConfig:
    people: int = 800
    days: int = 120
    seed: int = 7
    end: datetime | None = None  # the world's last moment (aware UTC); default: now, to the minute
    categories: tuple[str, ...] = DEFAULT_CATEGORIES
    present_share: float = 0.4  # people already customers on day 0; the rest join over the first 70 %
    second_device_share: float = 0.15
    cancel_share: float = 0.3

    def __post_init__(self) -> None:
        if self.people < 1 or self.days < 2:
            raise ValueError("a world needs at least one person and two days")
        if self.end is not None and self.end.tzinfo is None:
            raise ValueError("end must be timezone-aware")
        for name in ("present_share", "second_device_share", "cancel_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1]")


@dataclass
class Person:
    """One simulated shopper and the ground truth behind their events."""

    index: int
    anonymous_id: str
    user_id: str
    email: str
    second_anonymous_id: str | None
    joined_day: int
    base_intent: float  # mean log-odds of buying in a session
    activity_rate: float  # sessions per day at neutral intent
    churn_logit: float  # log-odds of leaving on a day of neutral interest (u = 0)
    spend_mean: float  # mean order value
    favourite_category: str
    churn_day: int | None = None  # the day they left (their last active day), None if still here
    cancelled: bool = False
    identified_day: int | None = None
    intent: list[float] = field(default_factory=list)  # z_d for each day from joined_day (NaN once gone)
    order_times: list[float] = field(default_factory=list)  # epoch seconds of each order
    sessions: int = 0

    def intent_on(self, day: int) -> float | None:
        """The latent purchase log-odds on ``day`` (world day index), None outside their life."""
        offset = day - self.joined_day
        if offset < 0 or offset >= len(self.intent) or math.isnan(self.intent[offset]):
            return None
        return self.intent[offset]

    def active_on(self, day: int) -> bool:
        return self.intent_on(day) is not None

    def orders_between(self, start: float, end: float) -> int:
        """Orders with start < time <= end (epoch seconds)."""
        return sum(1 for t in self.order_times if start < t <= end)


@dataclass
class World:
    config: WorldConfig
    start: datetime
    end: datetime
    people: list[Person]
    messages: list[dict[str, Any]]  # Segment-spec messages sorted by timestamp

    def day_start(self, day: int) -> datetime:
        return self.start + timedelta(days=day)

    def batches(self, size: int = 500) -> list[list[dict[str, Any]]]:
        """The messages in time order, cut into ``/v1/batch`` bodies' ``batch`` lists."""
        return [self.messages[i : i + size] for i in range(0, len(self.messages), size)]


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


class _Emitter:
    """Builds a person's messages with deterministic ids."""

    def __init__(self, seed: int, person: Person, out: list[tuple[float, dict[str, Any]]]) -> None:
        self.seed = seed
        self.person = person
        self.out = out
        self.count = 0
        self.identified_devices: set[str] = set()

    def _base(self, at: float, anonymous_id: str) -> dict[str, Any]:
        self.count += 1
        message: dict[str, Any] = {
            "messageId": f"sim-{self.seed}-{self.person.index}-{self.count}",
            "anonymousId": anonymous_id,
            "timestamp": _iso(at),
        }
        if anonymous_id in self.identified_devices:
            message["userId"] = self.person.user_id
        return message

    def track(self, at: float, anonymous_id: str, event: str, properties: dict[str, Any]) -> None:
        message = self._base(at, anonymous_id)
        message.update(type="track", event=event, properties=properties)
        self.out.append((at, message))

    def page(self, at: float, anonymous_id: str, name: str, properties: dict[str, Any] | None = None) -> None:
        message = self._base(at, anonymous_id)
        message.update(type="page", name=name, properties=properties or {})
        self.out.append((at, message))

    def identify(self, at: float, anonymous_id: str) -> None:
        self.identified_devices.add(anonymous_id)
        message = self._base(at, anonymous_id)
        message.update(
            type="identify", userId=self.person.user_id, traits={"email": self.person.email, "newsletter": True}
        )
        self.out.append((at, message))


def _new_person(index: int, config: WorldConfig, rng: np.random.Generator) -> Person:
    seed = config.seed
    present = rng.random() < config.present_share
    joined_day = 0 if present else int(rng.integers(1, max(2, int(config.days * 0.7))))
    base_intent = float(rng.normal(-3.0, 0.9))
    activity_rate = float(rng.gamma(2.0, 0.2))
    # Keener buyers stay longer: the hazard's log-odds fall with base intent.
    hazard_logit = math.log(0.012 / 0.988) - 0.5 * (base_intent + 3.0) + float(rng.normal(0.0, 0.5))
    return Person(
        index=index,
        anonymous_id=f"anon-{seed}-{index}",
        user_id=f"user-{seed}-{index}",
        email=f"person{index}.{seed}@example.com",
        second_anonymous_id=f"anon2-{seed}-{index}" if rng.random() < config.second_device_share else None,
        joined_day=joined_day,
        base_intent=base_intent,
        activity_rate=activity_rate,
        churn_logit=hazard_logit,
        spend_mean=float(rng.gamma(6.0, 10.0)),
        favourite_category=str(config.categories[int(rng.integers(len(config.categories)))]),
    )


def _session(
    person: Person,
    emit: _Emitter,
    rng: np.random.Generator,
    config: WorldConfig,
    *,
    day: int,
    at: float,
    z: float,
    device: str,
) -> bool:
    """One visit; returns whether it ended in an order."""
    person.sessions += 1
    step = lambda: float(rng.uniform(8.0, 90.0))  # noqa: E731 - seconds between clicks
    categories = config.categories

    def category() -> str:
        return person.favourite_category if rng.random() < 0.6 else str(categories[int(rng.integers(len(categories)))])

    p_buy = _sigmoid(z)
    buys = rng.random() < p_buy
    first_identify = person.identified_day is None and (rng.random() < 0.2 or buys) and device == person.anonymous_id
    if first_identify:
        emit.identify(at, device)
        person.identified_day = day
        at += step()
    emit.page(at, device, "Home")
    for _ in range(int(rng.poisson(1.0)) + 1):
        at += step()
        emit.track(at, device, "Product List Viewed", {"category": category()})
    if rng.random() < 0.1 + 0.6 * _sigmoid(z + 1.0):
        at += step()
        emit.page(at, device, "Offers", {"path": "/offers"})
        at += step()
        emit.track(at, device, "Offers Viewed", {})
    viewed = category()
    for _ in range(int(rng.poisson(0.5 + 3.5 * _sigmoid(z + 1.0)))):
        at += step()
        viewed = category()
        emit.track(at, device, "Product Viewed", {"category": viewed, "price": round(person.spend_mean, 2)})
    carts = buys or rng.random() < 0.3 * _sigmoid(z + 1.5)
    if not carts:
        return False
    at += step()
    emit.track(at, device, "Product Added", {"category": viewed, "quantity": 1})
    if buys or rng.random() < 0.5:
        at += step()
        emit.track(at, device, "Checkout Started", {"category": viewed})
    if not buys:
        return False
    at += step()
    revenue = round(float(rng.gamma(4.0, person.spend_mean / 4.0)), 2)
    emit.track(
        at,
        device,
        ORDER_EVENT,
        {
            "order_id": f"o-{config.seed}-{person.index}-{len(person.order_times) + 1}",
            "revenue": revenue,
            "currency": "USD",
            "products": [{"category": viewed, "price": revenue, "quantity": 1}],
        },
    )
    person.order_times.append(at)
    return True


def _live(person: Person, emit: _Emitter, rng: np.random.Generator, config: WorldConfig, start: float) -> None:
    u = float(rng.normal(0.0, 0.5))
    second_sessions = 0
    for day in range(person.joined_day, config.days):
        z = person.base_intent + u
        person.intent.append(z)
        day_start = start + day * DAY_SECONDS
        sessions = int(rng.poisson(person.activity_rate * math.exp(0.6 * u)))
        times = sorted(float(rng.uniform(6 * 3600, 23 * 3600)) for _ in range(sessions))
        for offset in times:
            device = person.anonymous_id
            if person.second_anonymous_id and rng.random() < 0.35:
                device = person.second_anonymous_id
                second_sessions += 1
                if second_sessions == 3 and person.identified_day is not None:
                    emit.identify(day_start + offset - 5.0, device)  # logs in on the second device
            if _session(person, emit, rng, config, day=day, at=day_start + offset, z=z, device=device):
                u -= 1.2
        # Interest drives loyalty too: out of the market (u < 0), people are likelier to leave.
        if rng.random() < _sigmoid(person.churn_logit - CHURN_INTENT_WEIGHT * u):
            person.churn_day = day
            if rng.random() < config.cancel_share:
                person.cancelled = True
                emit.track(day_start + 23.5 * 3600, person.anonymous_id, CANCEL_EVENT, {"reason": "not needed"})
            break
        u = 0.8 * u + float(rng.normal(0.0, 0.5))
    person.intent.extend([math.nan] * (config.days - person.joined_day - len(person.intent)))


def world_generate(config: WorldConfig | None = None) -> World:
    """Generate the world described by ``config`` (deterministic for a given config)."""
    config = config or WorldConfig()
    end = config.end or datetime.now(UTC).replace(second=0, microsecond=0)
    start = end - timedelta(days=config.days)
    rng = np.random.default_rng(config.seed)
    out: list[tuple[float, dict[str, Any]]] = []
    people: list[Person] = []
    start_epoch = start.timestamp()
    end_epoch = end.timestamp()
    for index in range(config.people):
        person = _new_person(index, config, rng)
        _live(person, _Emitter(config.seed, person, out), rng, config, start_epoch)
        people.append(person)
    # The last day's evening sessions can run past the end by a few minutes: drop them.
    kept = [(at, message) for at, message in out if at <= end_epoch]
    for person in people:
        person.order_times = [t for t in person.order_times if t <= end_epoch]
    kept.sort(key=lambda item: (item[0], item[1]["messageId"]))
    return World(config=config, start=start, end=end, people=people, messages=[message for _, message in kept])
