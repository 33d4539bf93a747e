"""A deterministic synthetic portfolio: clients who behave the way the domain says.

:func:`simulate_portfolio` generates clients of every motivation segment
(``lowest_price``, ``novelty``, ``belonging``, ``stability``), one-off buyers and
prospects, and lets some of them live through the dissatisfaction-to-loss
lifecycle (recurring complaints of one category, client losses, escalation to the
client's management, ultimatums, an arbitration, terminations with their reasons,
a reactivation, recoveries) and up the relationship ladder (regular orders,
referrals, joint planning over a long tenure). Several account managers and
service staff handle the contacts; some clients are handled by one manager alone
(key-person risk), and when manager ``AM03`` leaves, those of its clients who
depended on it alone leave too (loss reason ``manager_left``). Interactions carry
minutes and orders carry costs, for cost-to-serve, and the simulated supplier
comes with its own cost rates (:attr:`SimulatedHistory.cost_rates`: an hourly
rate and a price per marketing touch), so its report shows profit; some clients
have planned orders, for plan-vs-actual.

The mix follows the source texts. Each client has a size, a lognormal factor
(:data:`SIZE_SIGMA`) on every order it places, so value is concentrated the way
the Pareto rule says: the largest 20% of clients hold about 80% of the revenue.
The ladder is a pyramid: many buyers and customers, fewer advocates (clients who
refer the supplier or plan jointly), fewer experts still (sustained joint planning
over a broad range of products). Healthy clients may stop buying without a word
after any order (silent attrition, with a chance per client drawn from a Beta
distribution, as the BG/NBD model assumes), so lifetimes' BG/NBD model fits the
report's ``frequency``, ``recency`` and ``T`` without a penalizer.

Everything comes from ``random.Random`` seeded per client from ``seed``, never
from the clock: the same arguments give the same portfolio, and a client's
history does not depend on ``n_clients`` (``simulate_portfolio(200)`` is a prefix
of ``simulate_portfolio(1000)``). The first clients follow a fixed script that
covers every segment and story, so even a small portfolio shows them all.

Example:
    >>> from relcycle.simulate import simulate_portfolio
    >>> sim = simulate_portfolio(50, seed=1)
    >>> len(sim.clients)
    50
    >>> sim.portfolio()["C000001"].client.account_manager is not None
    True
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import attrs

from relcycle._args import checked
from relcycle._repr import count, short_repr
from relcycle.errors import UsageError
from relcycle.history import Portfolio, build_portfolio
from relcycle.model import (
    Channel,
    Client,
    ClientKind,
    Complaint,
    ComplaintCategory,
    ComplaintStatus,
    ContactPerson,
    Direction,
    Escalation,
    FrozenMap,
    Interaction,
    LossReason,
    Order,
    OrderStatus,
    Purpose,
    Severity,
)
from relcycle.segmentation.cost import CostRates

__all__ = [
    "ARCHETYPES",
    "DEFAULT_END",
    "DEFAULT_START",
    "DEMO_HOURLY_RATE",
    "DEMO_MARKETING_PER_TOUCH",
    "LEAVING_MANAGER",
    "SIZE_SIGMA",
    "STORIES",
    "ClientProfile",
    "SimulatedHistory",
    "simulate_portfolio",
]

#: The default simulated period (UTC).
DEFAULT_START = datetime(2024, 1, 1, tzinfo=UTC)
DEFAULT_END = datetime(2026, 6, 30, tzinfo=UTC)

#: How clients behave (the four motivation segments of seed 003, plus one-off
#: buyers and prospects who never ordered).
ARCHETYPES: tuple[str, ...] = (
    "stability",
    "lowest_price",
    "belonging",
    "novelty",
    "one_off",
    "prospect",
)
_ARCHETYPE_WEIGHTS = (24, 30, 7, 10, 15, 10)

#: What happens to a client over the period (the lifecycle of seed 000 and more).
STORIES: tuple[str, ...] = (
    "none",  # a healthy client
    "recurring",  # complaints of one category recur, the latest still open
    "recovered",  # problems recurred, were resolved, and stayed resolved
    "escalated",  # recurring problems with losses reached the client's management
    "ultimatum",  # ... and the client gave an ultimatum
    "arbitration",  # ... and opened arbitration proceedings
    "lost",  # the client ended the relationship (with a reason)
    "reactivated",  # a lost client came back
    "silent",  # a stability client whose deliveries go late while it says nothing
    "overdue",  # a serious complaint left open far past its service level
    "key_person",  # handled by one manager alone (leaves if that manager is AM03)
)
_STORY_WEIGHTS = (64, 5, 5, 3, 2, 0.5, 8, 1.5, 4, 2, 5)

#: The simulated supplier's hourly rate of an employee's time (managers, service
#: and marketing staff alike), in the history's currency: a loaded cost of a
#: mid-size B2B supplier's staff. :attr:`SimulatedHistory.cost_rates` holds it.
DEMO_HOURLY_RATE = Decimal(50)
#: What one marketing touch (a ``marketing`` interaction) costs the simulated
#: supplier, in the history's currency.
DEMO_MARKETING_PER_TOUCH = Decimal(10)

#: The account manager who leaves the supplier during the period.
LEAVING_MANAGER = "AM03"
_MANAGERS = tuple(f"AM{i:02d}" for i in range(1, 11))
_STAFF = ("SV01", "SV02", "SV03", "SV04", "SV05", "MK01", "MK02")

#: The first clients' (archetype, story, loss reason): every segment and story shows.
_SCRIPT: tuple[tuple[str, str, LossReason | None], ...] = (
    ("stability", "none", None),
    ("lowest_price", "none", None),
    ("belonging", "none", None),
    ("novelty", "none", None),
    ("one_off", "none", None),
    ("prospect", "none", None),
    ("stability", "silent", None),
    ("belonging", "recurring", None),
    ("stability", "recovered", None),
    ("lowest_price", "escalated", None),
    ("stability", "ultimatum", None),
    ("belonging", "arbitration", None),
    ("lowest_price", "lost", LossReason.price),
    ("stability", "lost", LossReason.competitor),
    ("belonging", "key_person", LossReason.manager_left),
    ("belonging", "reactivated", LossReason.competitor),
    ("stability", "overdue", None),
    ("stability", "key_person", None),
    ("stability", "lost", LossReason.quality),
    ("lowest_price", "lost", LossReason.service),
    ("belonging", "none", None),
    ("stability", "none", None),
    ("novelty", "lost", LossReason.other),
    ("lowest_price", "recovered", None),
)

_INDUSTRIES = ("retail", "manufacturing", "logistics", "construction", "IT", "fashion", "food")
_REGIONS = ("north", "south", "east", "west", "capital")
_SIZES = ("small", "medium", "large")

#: The spread (sigma of the logarithm) of a client's size, which scales every order it
#: places: a lognormal with this sigma concentrates value the way the source texts say
#: (the largest 20% of clients hold about 80% of the revenue).
SIZE_SIGMA = 1.2

#: Per-archetype ``(a, b)`` of the Beta distribution of a client's chance to stop
#: buying after each order without a word (silent attrition, as BG/NBD models it).
#: Only clients without a scripted story lapse.
_LAPSE: Mapping[str, tuple[float, float]] = {
    "stability": (0.5, 20.0),
    "lowest_price": (0.5, 6.0),
    "belonging": (0.5, 20.0),
}
_HEARD = ("referral", "web", "trade fair", "cold call", "advertising")
_SYLLABLES = ("ka", "lo", "ver", "tis", "mar", "den", "sol", "ri", "ax", "no", "bel", "tron")
_SUFFIXES = ("Ltd", "LLC", "Group", "Trading", "Holding", "& Co")
_ROLES = ("purchasing manager", "director", "chief engineer", "accountant", "logistics lead")
_PRODUCTS = tuple(f"P{i:02d}" for i in range(1, 25))
_CATEGORIES = tuple(ComplaintCategory)
_DAY = timedelta(days=1)


@attrs.frozen
class ClientProfile:
    """The ground truth of one simulated client (what the generator meant).

    Attributes:
        archetype: One of :data:`ARCHETYPES`.
        story: One of :data:`STORIES`.
        loss_reason: The termination reason of a client who left, else None.
        key_person: True when one manager handles all of its contacts.
    """

    archetype: str
    story: str
    loss_reason: LossReason | None = None
    key_person: bool = False


@attrs.frozen
class SimulatedHistory:
    """A simulated history: the four contract tables plus what was meant.

    Attributes:
        clients: The clients table.
        orders: All orders.
        interactions: All interactions.
        complaints: All complaints.
        as_of: The end of the simulated period (the natural report moment).
        start: The start of the simulated period.
        seed: The seed it was generated from.
        currency: The currency of every amount.
        profiles: Each client's :class:`ClientProfile`, by client id.
    """

    clients: tuple[Client, ...]
    orders: tuple[Order, ...]
    interactions: tuple[Interaction, ...]
    complaints: tuple[Complaint, ...]
    as_of: datetime
    start: datetime
    seed: int
    currency: str
    profiles: FrozenMap[str, ClientProfile] = attrs.field(eq=False, repr=False)

    @property
    def cost_rates(self) -> CostRates:
        """The simulated supplier's cost rates, for cost-to-serve and profit.

        Every minute of an interaction costs :data:`DEMO_HOURLY_RATE` an hour and
        every marketing touch :data:`DEMO_MARKETING_PER_TOUCH`, in
        :attr:`currency`. Pass them as ``ReportPolicies(cost_rates=...)``;
        ``relcycle demo`` does, and its ``--out`` writes them to ``policy.toml``.
        """
        return CostRates(
            default_rate=DEMO_HOURLY_RATE,
            marketing_per_touch=DEMO_MARKETING_PER_TOUCH,
            currency=self.currency,
        )

    def portfolio(self) -> Portfolio:
        """The history as a :class:`~relcycle.history.Portfolio`."""
        return build_portfolio(
            orders=self.orders,
            interactions=self.interactions,
            complaints=self.complaints,
            clients=self.clients,
        )

    def __len__(self) -> int:
        return len(self.orders) + len(self.interactions) + len(self.complaints)

    def __repr__(self) -> str:
        return short_repr(
            "SimulatedHistory",
            count(len(self.clients), "client"),
            count(len(self.orders), "order"),
            count(len(self.interactions), "interaction"),
            count(len(self.complaints), "complaint"),
            f"seed {self.seed}",
            f"{self.start.date().isoformat()} to {self.as_of.date().isoformat()}",
        )


@checked
def simulate_portfolio(
    n_clients: int = 200,
    *,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    end: datetime = DEFAULT_END,
    currency: str = "USD",
) -> SimulatedHistory:
    """Generate a deterministic portfolio of ``n_clients`` clients.

    About ten orders per client on average over the default 30 months (so
    100,000 clients give about a million orders), at about 0.4 ms of CPU per client.

    Args:
        n_clients: How many clients (at least 1).
        seed: The seed; the same seed gives the same portfolio.
        start: The start of the period (aware datetime).
        end: The end of the period (aware; at least 180 days after ``start``).
            No record is later than ``end``.
        currency: The currency of every amount.

    Returns:
        The simulated history.

    Raises:
        UsageError: For a bad count, period or currency.
    """
    if isinstance(n_clients, bool) or not isinstance(n_clients, int) or n_clients < 1:
        raise UsageError(f"n_clients must be a positive integer, not {n_clients!r}")
    for name, moment in (("start", start), ("end", end)):
        if not isinstance(moment, datetime) or moment.utcoffset() is None:
            raise UsageError(f"{name} must be an aware datetime, not {moment!r}")
    if end - start < timedelta(days=180):
        raise UsageError("the simulated period must be at least 180 days long")
    if not (isinstance(currency, str) and len(currency) == 3 and currency.isupper()):
        raise UsageError(f"currency must be an ISO 4217 code such as 'EUR', not {currency!r}")
    start = start.astimezone(UTC)
    end = end.astimezone(UTC)
    gen = _Generator(seed=seed, start=start, end=end, currency=currency)
    profiles: dict[str, ClientProfile] = {}
    for number in range(1, n_clients + 1):
        profiles.update(gen.client(number))
    return SimulatedHistory(
        clients=tuple(gen.clients),
        orders=tuple(gen.orders),
        interactions=tuple(gen.interactions),
        complaints=tuple(gen.complaints),
        as_of=end,
        start=start,
        seed=seed,
        currency=currency,
        profiles=FrozenMap(profiles),
    )


class _Generator:
    """Builds one client at a time; all randomness comes from a per-client Random.

    Inside, moments are float days since the start of the period; :meth:`_at`
    turns a day into a business-hours datetime.
    """

    def __init__(self, *, seed: int, start: datetime, end: datetime, currency: str) -> None:
        self.seed = seed
        self.start = start
        self.end = end
        self.origin = start.replace(hour=0, minute=0, second=0, microsecond=0)
        self.currency = currency
        self.days = float((end - start).days)
        self.manager_leaves = self.days - min(200.0, self.days // 3)
        self.clients: list[Client] = []
        self.orders: list[Order] = []
        self.interactions: list[Interaction] = []
        self.complaints: list[Complaint] = []
        # the current client
        self.rng = random.Random(0)
        self.cid = ""
        self.num = ""
        self.manager = ""
        self.key_person = False
        self.silent = False
        self.scale = 1.0
        self.lapse = 0.0
        self.n_orders = 0
        self.n_interactions = 0
        self.n_complaints = 0
        self.order_amounts: list[Decimal] = []

    # ------------------------------------------------------------------ helpers

    def _at(self, day: float) -> datetime:
        """A business-hours moment on ``day`` (days since the start), never past the end."""
        at = self.origin + timedelta(days=int(day), minutes=480 + int(self.rng.random() * 600))
        if at < self.start:
            return self.start
        return at if at <= self.end else self.end

    def _in(self, day: float) -> bool:
        return 0.0 <= day <= self.days

    @staticmethod
    def _money(value: float) -> Decimal:
        return Decimal(max(100, round(value * 100))).scaleb(-2)

    def _handler(self) -> str:
        rng = self.rng
        if self.key_person or rng.random() < 0.6:
            return self.manager
        return _STAFF[int(rng.random() * len(_STAFF))]

    def order(
        self,
        day: float,
        amount: float,
        *,
        discounted: bool = False,
        product: str | None = None,
        margin: tuple[float, float] = (0.55, 0.8),
        late: float = 0.04,
        status: OrderStatus | None = None,
    ) -> None:
        if not self._in(day):
            return
        rng = self.rng
        self.n_orders += 1
        value = self._money(amount)
        if status is None:
            roll = rng.random()
            if day > self.days - 14:
                status = OrderStatus.placed
            elif roll < 0.02:
                status = OrderStatus.cancelled
            elif roll < 0.03:
                status = OrderStatus.returned
            else:
                status = OrderStatus.delivered
        on_time: bool | None = None
        cost: Decimal | None = None
        if status is not OrderStatus.planned:
            self.order_amounts.append(value)
            low, high = margin
            cost = self._money(float(value) * (low + (high - low) * rng.random()))
            if status is OrderStatus.delivered or status is OrderStatus.returned:
                if self.silent and day > self.days - 240:
                    late = 0.7  # service degrades for a client who will not say so
                on_time = rng.random() >= late
        self.orders.append(
            Order(
                order_id=f"O{self.num}-{self.n_orders:03d}",
                client_id=self.cid,
                placed_at=self._at(day),
                amount=value,
                currency=self.currency,
                discounted=discounted,
                status=status,
                on_time=on_time,
                product=product,
                cost=cost,
            )
        )

    def contact(
        self,
        day: float,
        purpose: Purpose,
        *,
        channel: Channel | None = None,
        direction: Direction = Direction.inbound,
        reason: LossReason | None = None,
        note: str | None = None,
    ) -> None:
        if not self._in(day):
            return
        rng = self.rng
        self.n_interactions += 1
        if channel is None:
            channel = _CHANNELS[int(rng.random() * len(_CHANNELS))]
        low, high = _MINUTES[channel]
        self.interactions.append(
            Interaction(
                interaction_id=f"I{self.num}-{self.n_interactions:03d}",
                client_id=self.cid,
                at=self._at(day),
                channel=channel,
                direction=direction,
                purpose=purpose,
                handled_by=self._handler(),
                minutes=_MINUTE_VALUES[low + int(rng.random() * (high - low + 1))],
                reason=reason,
                note=note,
            )
        )

    def complaint(
        self,
        day: float,
        category: ComplaintCategory,
        *,
        severity: Severity = Severity.medium,
        loss: float | None = None,
        resolve_days: float | None = None,
        escalated_to: Escalation = Escalation.none,
        rejected: bool = False,
    ) -> None:
        if not self._in(day):
            return
        self.n_complaints += 1
        opened = self._at(day)
        resolved_at = None
        if resolve_days is not None:
            candidate = opened + timedelta(days=resolve_days, hours=1 + 5 * self.rng.random())
            if candidate <= self.end:
                resolved_at = candidate
        if resolved_at is None:
            status = (
                ComplaintStatus.acknowledged if self.rng.random() < 0.5 else ComplaintStatus.open
            )
        else:
            status = ComplaintStatus.rejected if rejected else ComplaintStatus.resolved
        self.complaints.append(
            Complaint(
                complaint_id=f"Q{self.num}-{self.n_complaints:03d}",
                client_id=self.cid,
                opened_at=opened,
                category=category,
                severity=severity,
                client_loss=None if loss is None else self._money(loss),
                currency=self.currency,
                status=status,
                resolved_at=resolved_at,
                escalated_to=escalated_to,
            )
        )

    def _size(self) -> str:
        """The client's size class, read from its size factor."""
        return _SIZES[0] if self.scale < 0.5 else _SIZES[1] if self.scale < 2.0 else _SIZES[2]

    def _lapses(self) -> bool:
        """After an order: does the client stop buying (silent attrition)?"""
        return self.lapse > 0.0 and self.rng.random() < self.lapse

    def _name(self) -> str:
        rng = self.rng
        word = "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()
        return f"{word} {rng.choice(_SUFFIXES)}"

    # ------------------------------------------------------------------ one client

    def client(self, number: int) -> dict[str, ClientProfile]:
        rng = self.rng = random.Random(f"relcycle-demo:{self.seed}:{number}")
        self.num = f"{number:06d}"
        self.cid = f"C{self.num}"
        self.n_orders = self.n_interactions = self.n_complaints = 0
        self.order_amounts = []
        reason: LossReason | None
        if number <= len(_SCRIPT):
            archetype, story, reason = _SCRIPT[number - 1]
        else:
            archetype = rng.choices(ARCHETYPES, _ARCHETYPE_WEIGHTS)[0]
            story = rng.choices(STORIES, _STORY_WEIGHTS)[0]
            reason = None
            if archetype in ("one_off", "prospect") or (
                story == "silent" and archetype != "stability"
            ):
                story = "none"
            if story == "lost":
                reason = rng.choice(_LOSS_REASONS[archetype])
            elif story == "reactivated":
                reason = LossReason.competitor
        self.key_person = story == "key_person"
        self.silent = story == "silent"
        if self.key_person and number <= len(_SCRIPT):
            self.manager = LEAVING_MANAGER if reason is LossReason.manager_left else "AM07"
        else:
            self.manager = rng.choice(_MANAGERS)
        if self.key_person:
            reason = LossReason.manager_left if self.manager == LEAVING_MANAGER else None
        # size: a heavy-tailed factor on every order (mean 1), so a few clients hold most
        # of the value; silent attrition only for healthy clients off the script
        self.scale = rng.lognormvariate(-(SIZE_SIGMA**2) / 2, SIZE_SIGMA)
        self.lapse = 0.0
        if story == "none" and number > len(_SCRIPT) and archetype in _LAPSE:
            self.lapse = rng.betavariate(*_LAPSE[archetype])

        # tenure: most clients came before the period, the others join during it
        if number <= len(_SCRIPT) or rng.random() < 0.7:
            since = -float(rng.randint(30, 900))
        else:
            since = float(rng.randint(0, max(1, int(self.days) - 120)))
        first = max(since, 0.0)

        kind = ClientKind.person if rng.random() < 0.08 else ClientKind.company
        contacts: tuple[ContactPerson, ...] = ()
        if kind is ClientKind.company and rng.random() < 0.3:
            person = " ".join(
                (rng.choice(_SYLLABLES) + rng.choice(_SYLLABLES)).capitalize() for _ in range(2)
            )
            contacts = (ContactPerson(name=person, role=rng.choice(_ROLES)),)
        self.clients.append(
            Client(
                client_id=self.cid,
                name=self._name(),
                kind=kind,
                industry=rng.choice(_INDUSTRIES),
                region=rng.choice(_REGIONS),
                account_manager=self.manager,
                since=self.origin + timedelta(days=since, minutes=480 + int(rng.random() * 600)),
                contacts=contacts,
                attributes={"size": self._size(), "heard_from": rng.choice(_HEARD)},
            )
        )

        # when the relationship ends (and maybe restarts)
        stop = self.days
        restart: float | None = None
        if reason is not None:
            if reason is LossReason.manager_left:
                stop = self.manager_leaves + rng.randint(10, 60)
            else:
                stop = self.days - rng.randint(60, max(61, min(420, int(self.days) // 2)))
            stop = max(stop, first + 120)
            if story == "reactivated":
                stop = max(first + 120, self.days - rng.randint(300, 420))
                restart = stop + rng.randint(110, 170)
        self._behave(archetype, first, stop)
        if restart is not None and restart < self.days - 30:
            self.contact(restart, Purpose.reactivation, channel=Channel.meeting)
            self._behave(archetype, restart + 7, self.days)
        self._story(story, first, stop, reason)
        self._planned(archetype, first, stop)
        return {
            self.cid: ClientProfile(
                archetype=archetype, story=story, loss_reason=reason, key_person=self.key_person
            )
        }

    # ------------------------------------------------------------------ segments

    def _behave(self, archetype: str, t0: float, t1: float) -> None:
        rng = self.rng
        if t1 <= t0:
            return
        scale = self.scale
        if archetype == "stability":
            period = rng.choice((30, 30, 45, 60, 60))
            base = rng.lognormvariate(7.0, 0.6) * scale
            products = rng.sample(_PRODUCTS, rng.randint(3, 5))
            t = t0 + rng.random() * period
            while t < t1:
                self.order(t, base * (0.9 + 0.2 * rng.random()), product=rng.choice(products))
                if self._lapses():
                    t1 = t + 60 * rng.random()
                    break
                t += period - 2 + 4 * rng.random()
            self._every(t0, t1, 240, Purpose.inquiry)
            self._every(t0, t1, 240, Purpose.marketing, direction=Direction.outbound)
            self._complaints(t0, t1, 700)
            roll = rng.random()
            if t1 - t0 > 540 and roll < 0.3:
                # joint planning only after long trouble-free cooperation, and for few:
                # one meeting makes an advocate, a sustained series an expert
                for k in range(3 if roll < 0.08 else 1):
                    self.contact(
                        t0 + 420 + 60 * k + 20 * rng.random(),
                        Purpose.joint_planning,
                        channel=Channel.meeting,
                        direction=Direction.outbound,
                    )
        elif archetype == "lowest_price":
            base = rng.lognormvariate(6.5, 0.7) * scale
            t = t0 + 30 * rng.random()
            while t < t1:
                self.order(
                    t,
                    base * (0.6 + rng.random()),
                    discounted=rng.random() < 0.93,
                    product=rng.choice(_PRODUCTS[:8]),
                    margin=(0.8, 0.97),
                )
                if self._lapses():
                    t1 = t + 60 * rng.random()
                    break
                t += 30 + 50 * rng.random()
            self._every(t0, t1, 35, Purpose.inquiry)
            self._every(t0, t1, 180, Purpose.offer_change)
            self._every(t0, t1, 120, Purpose.marketing, direction=Direction.outbound)
            self._complaints(t0, t1, 300, (ComplaintCategory.billing, ComplaintCategory.service))
        elif archetype == "belonging":
            period = rng.choice((35, 40, 45))
            base = rng.lognormvariate(7.3, 0.5) * scale
            # most buy a narrow range (advocates); a broad range shows the deep product
            # knowledge of an expert
            wide = rng.random() < 0.3
            products = rng.sample(_PRODUCTS, rng.randint(4, 7) if wide else rng.randint(1, 2))
            t = t0 + rng.random() * period
            while t < t1:
                self.order(t, base * (0.8 + 0.4 * rng.random()), product=rng.choice(products))
                if self._lapses():
                    t1 = t + 60 * rng.random()
                    break
                t += period - 5 + 10 * rng.random()
            self._every(t0, t1, 75, Purpose.offer_change, channel=Channel.meeting)
            self._every(t0, t1, 120, Purpose.joint_planning, channel=Channel.meeting)
            self._every(t0, t1, 200, Purpose.service_exchange)
            self._every(t0, t1, 240, Purpose.feedback)
            self._every(t0, t1, 200, Purpose.referral)
            self._complaints(t0, t1, 400)
        elif archetype == "novelty":
            base = rng.lognormvariate(5.0, 0.5) * scale
            span = t1 - t0
            for _ in range(rng.randint(1, 2)):
                self.order(t0 + span * rng.random(), base, product="NEW")
            self.order(t1 - 20 - 180 * rng.random(), base * 0.8, product=rng.choice(_PRODUCTS))
            self._every(t0, t1, 60, Purpose.offer_change)
            self._every(t0, t1, 150, Purpose.inquiry)
            self._every(t0, t1, 240, Purpose.wish)
        elif archetype == "one_off":
            at = t0 + (t1 - t0) * rng.random()
            self.contact(at - 3 - 17 * rng.random(), Purpose.inquiry)
            self.order(at, rng.lognormvariate(8.5, 0.6) * scale, product=rng.choice(_PRODUCTS))
        else:  # prospect
            self._every(t0, t1, 150, Purpose.inquiry)
            self._every(t0, t1, 120, Purpose.marketing, direction=Direction.outbound)

    def _every(
        self,
        t0: float,
        t1: float,
        mean_days: float,
        purpose: Purpose,
        *,
        channel: Channel | None = None,
        direction: Direction = Direction.inbound,
    ) -> None:
        """Contacts of one purpose at random intervals averaging ``mean_days``."""
        expovariate = self.rng.expovariate
        rate = 1.0 / mean_days
        t = t0 + expovariate(rate)
        while t < t1:
            self.contact(t, purpose, channel=channel, direction=direction)
            t += 1.0 + expovariate(rate)

    def _complaints(
        self,
        t0: float,
        t1: float,
        mean_days: float,
        categories: tuple[ComplaintCategory, ...] = _CATEGORIES,
    ) -> None:
        """Occasional, unrelated complaints (categories vary, resolved in days)."""
        if self.silent:
            return  # stability clients rarely complain; this one never does
        rng = self.rng
        t = t0 + rng.expovariate(1.0 / mean_days)
        last: ComplaintCategory | None = None
        while t < t1 - 30:
            category = rng.choice([c for c in categories if c is not last] or list(categories))
            last = category
            self.complaint(
                t,
                category,
                severity=Severity.low if rng.random() < 0.5 else Severity.medium,
                resolve_days=1 + 11 * rng.random(),
                rejected=rng.random() < 0.15,
            )
            t += 45 + rng.expovariate(1.0 / mean_days)

    # ------------------------------------------------------------------ lifecycle stories

    def _recurring(
        self,
        day: float,
        *,
        category: ComplaintCategory,
        count: int,
        resolve_last: bool,
        loss: bool,
        escalate: bool = False,
    ) -> float:
        """``count`` complaints of one category within weeks; returns the last one's day."""
        rng = self.rng
        t = day
        for k in range(count):
            last = k == count - 1
            if escalate:
                escalated = Escalation.management if last else Escalation.staff
            else:
                escalated = Escalation.none
            self.complaint(
                t,
                category,
                severity=Severity.high if (loss and k >= 1) else Severity.medium,
                loss=500 + 4500 * rng.random() if loss and k >= 1 else None,
                resolve_days=4 + 11 * rng.random() if (resolve_last or not last) else None,
                escalated_to=escalated,
            )
            if not last:
                t += 12 + 10 * rng.random()
        return t

    def _story(self, story: str, first: float, stop: float, reason: LossReason | None) -> None:
        rng = self.rng
        end = self.days
        category = ComplaintCategory.delivery if rng.random() < 0.5 else ComplaintCategory.quality
        if story == "recurring":
            self._recurring(
                end - rng.randint(50, 80), category=category, count=3, resolve_last=False, loss=True
            )
        elif story == "recovered":
            begin = max(first + 30, end - rng.randint(330, 420))
            self._recurring(begin, category=category, count=3, resolve_last=True, loss=False)
            self.contact(
                begin + 70,
                Purpose.feedback,
                channel=Channel.meeting,
                note="corrective actions agreed",
            )
        elif story in ("escalated", "ultimatum", "arbitration"):
            t = self._recurring(
                end - rng.randint(150, 190),
                category=category,
                count=4,
                resolve_last=False,
                loss=True,
                escalate=True,
            )
            self.contact(
                t + 5,
                Purpose.escalation,
                channel=Channel.meeting,
                note="the client's management asked for a fix",
            )
            if story in ("ultimatum", "arbitration"):
                self.contact(
                    t + 35,
                    Purpose.ultimatum,
                    channel=Channel.letter,
                    note="fix it within 30 days or we change supplier",
                )
            if story == "arbitration":
                self.contact(
                    t + 75,
                    Purpose.arbitration,
                    channel=Channel.letter,
                    note="arbitration claim filed",
                )
        elif story == "overdue":
            self.complaint(
                end - rng.randint(35, 60),
                ComplaintCategory.billing if rng.random() < 0.5 else ComplaintCategory.service,
                severity=Severity.high if rng.random() < 0.5 else Severity.critical,
                loss=1000 + 7000 * rng.random(),
            )
        if reason is not None and stop < end:
            if reason is LossReason.quality or reason is LossReason.service:
                t = self._recurring(
                    stop - rng.randint(90, 110),
                    category=(
                        ComplaintCategory.quality
                        if reason is LossReason.quality
                        else ComplaintCategory.service
                    ),
                    count=3,
                    resolve_last=False,
                    loss=True,
                    escalate=True,
                )
                self.contact(t + 7, Purpose.escalation, channel=Channel.meeting)
            elif reason is LossReason.price:
                self.contact(stop - 20, Purpose.offer_change, note="asks for 15% off")
            self.contact(
                stop,
                Purpose.termination,
                channel=Channel.letter,
                reason=reason,
                note=_LOSS_NOTES[reason],
            )

    def _planned(self, archetype: str, first: float, stop: float) -> None:
        """Monthly sales plans over the last six months for some regular clients."""
        rng = self.rng
        if archetype not in ("stability", "belonging") or rng.random() < 0.5 or stop < self.days:
            return
        recent = self.order_amounts[-6:]
        if not recent:
            return
        monthly = float(sum(recent) / len(recent)) * (1.0 + 0.3 * rng.random())
        month = (self.end - timedelta(days=180)).replace(
            day=1, hour=9, minute=0, second=0, microsecond=0
        )
        for _ in range(6):
            day = (month - self.origin).days
            if day >= first:
                self.order(day, monthly, status=OrderStatus.planned, product="plan")
            month = (month + timedelta(days=32)).replace(day=1)


_CHANNELS = (Channel.phone, Channel.email, Channel.email, Channel.web, Channel.chat)
_MINUTE_VALUES = tuple(Decimal(m) for m in range(121))

_MINUTES: Mapping[Channel, tuple[int, int]] = {
    Channel.phone: (5, 25),
    Channel.email: (5, 15),
    Channel.meeting: (45, 120),
    Channel.web: (0, 5),
    Channel.chat: (5, 20),
    Channel.letter: (10, 30),
    Channel.other: (5, 15),
}

_LOSS_REASONS: Mapping[str, tuple[LossReason, ...]] = {
    "stability": (LossReason.competitor, LossReason.quality, LossReason.service),
    "lowest_price": (LossReason.price, LossReason.price, LossReason.competitor),
    "belonging": (LossReason.competitor, LossReason.service, LossReason.other),
    "novelty": (LossReason.competitor, LossReason.other),
    "one_off": (LossReason.other,),
    "prospect": (LossReason.other,),
}

_LOSS_NOTES: Mapping[LossReason, str] = {
    LossReason.competitor: "moved to a competitor",
    LossReason.price: "found a lower price elsewhere",
    LossReason.quality: "quality problems kept recurring",
    LossReason.service: "service failures were not fixed",
    LossReason.manager_left: "followed the account manager who left",
    LossReason.other: "ended the relationship",
}
