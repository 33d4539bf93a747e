"""Motivation segments: why a client buys, read from its contacts and orders.

Seed 003 reads four motivation groups from two indicators, the number of contacts
and requests and the number of orders, refined by what the contacts are about:

============  =================================================================
segment       signature in the data
============  =================================================================
lowest_price  many requests; orders (almost) only at a discount or in a discount
              season
novelty       many requests to change the offer, but few (and small) orders
belonging     frequent requests to change the offer, proposals of joint planning
              or of exchanging services, and recommendations (referrals)
stability     regular, reliable demand; passive (few client-initiated contacts
              per order); rarely complains
============  =================================================================

A client that fits none is ``unclassified``. The rules are evaluated in a fixed
order, first match wins, and the matching rule is reported:

1. ``attribute`` - the policy's user rules on client attributes
   (:class:`AttributeRule`), in their order;
2. ``belonging`` (the most specific: it also has many offer changes);
3. ``lowest_price``;
4. ``novelty``;
5. ``stability``;
6. ``unclassified``.

Every count is taken over the policy's window (the last 365 days before
``as_of`` by default). Thresholds live in :class:`MotivationPolicy`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from functools import lru_cache

import attrs

from relcycle._args import checked, unchecked
from relcycle._decimal import CONTEXT
from relcycle._repr import count
from relcycle._vocab import Vocab
from relcycle.errors import UsageError, ValidationError
from relcycle.evidence import Evidence
from relcycle.history import ClientHistory
from relcycle.model import Client, FrozenMap
from relcycle.rules import (
    COMPLAINT,
    CONTACT,
    DISCOUNTED_SALE,
    INBOUND,
    OFFER_CHANGE,
    PARTNERSHIP,
    REFERRAL,
    REQUEST,
    SALE,
    Signal,
    SignalSet,
)
from relcycle.rules import REQUEST_PURPOSES as REQUEST_PURPOSES

from ._util import (
    check_as_of,
    nonneg_field,
    opt_days,
    positive_int,
    share_field,
)
from .regularity import (
    Regularity,
    RegularityAssessment,
    RegularityPolicy,
    assess_regularity,
    cv_text,
)

__all__ = [
    "AttributeRule",
    "MotivationAssessment",
    "MotivationPolicy",
    "MotivationSegment",
    "MotivationSignals",
    "classify_motivation",
    "motivation_from_signals",
    "motivation_signal_set",
    "motivation_signals",
]


class MotivationSegment(Vocab):
    """Why a client buys (seed 003); the contract's ``motivation_segment`` values."""

    lowest_price = "lowest_price"
    novelty = "novelty"
    belonging = "belonging"
    stability = "stability"
    unclassified = "unclassified"


#: relcycle's decimal context, an instance of its own (flags are set on the
#: context a method is called on): the signals' ratios read it outside a report too.
_CTX = CONTEXT.copy()


@attrs.frozen
class AttributeRule:
    """A user rule: clients whose attribute ``name`` equals ``value`` get ``segment``.

    Client attributes are the extra columns of the clients table (the seed: users
    choose the segmentation parameters). Attribute rules are evaluated before the
    data rules, in the order the policy gives them. ``name`` may also be one of the
    client's own fields ``industry``, ``region`` or ``kind``.

    Attributes:
        name: The attribute (column) name.
        value: The value it must equal (text, compared exactly).
        segment: The segment the rule assigns.
    """

    name: str
    value: str
    segment: MotivationSegment

    def __attrs_post_init__(self) -> None:
        try:
            object.__setattr__(self, "segment", MotivationSegment.parse(self.segment))
        except ValueError as exc:
            raise ValidationError(
                record="AttributeRule", field="segment", value=self.segment, reason=str(exc)
            ) from None
        for field in ("name", "value"):
            if type(getattr(self, field)) is not str:
                raise ValidationError(
                    record="AttributeRule",
                    field=field,
                    value=getattr(self, field),
                    reason="must be a string",
                )

    def matches(self, history: ClientHistory) -> bool:
        """True if the client's attribute (or field) equals :attr:`value`."""
        return self.matches_client(history.client)

    def matches_client(self, client: Client) -> bool:
        """True if ``client``'s attribute (or field) equals :attr:`value`."""
        if self.name in ("industry", "region", "kind"):
            own = getattr(client, self.name)
            return own is not None and str(own) == self.value
        return client.attributes.get(self.name) == self.value

    def __str__(self) -> str:
        return f"attribute {self.name}={self.value} -> {self.segment.value}"


def _rules(value: Iterable[AttributeRule]) -> tuple[AttributeRule, ...]:
    rules = tuple(value)
    for rule in rules:
        if not isinstance(rule, AttributeRule):
            raise ValidationError(
                record="MotivationPolicy",
                field="attribute_rules",
                value=rule,
                reason="expected AttributeRule values",
            )
    return rules


@attrs.frozen(kw_only=True)
class MotivationPolicy:
    """Thresholds of the motivation rules (counts are per window).

    Attributes:
        window_days: The window the signals are counted in, days before ``as_of``;
            365. None = the whole history.
        attribute_rules: User rules on client attributes, evaluated first; none.
        belonging_min_offer_changes: ``offer_change`` contacts needed for belonging; 3.
        belonging_min_partnership: ``joint_planning`` + ``service_exchange``
            contacts needed for belonging; 2.
        belonging_min_referrals: ``referral`` contacts needed for belonging; 1.
        lowest_price_min_requests: Client requests (``inquiry``, ``offer_change``,
            ``wish``, inbound) needed for lowest price; 6.
        lowest_price_min_discounted_share: Share of sales placed at a discount
            needed for lowest price; 0.75.
        novelty_min_offer_changes: ``offer_change`` contacts needed for novelty; 3.
        novelty_max_orders: Most sales a novelty client places in the window; 3.
        novelty_max_mean_order: Highest mean sale value of a novelty client; None
            (default) leaves the size of orders unchecked (money is in the client's
            currency, so there is no neutral default).
        stability_max_contacts_per_order: Most client-initiated contacts per sale
            of a (passive) stability client; 0.5.
        stability_max_complaints_per_order: Most complaints per sale of a
            stability client; 0.25 (one complaint per four sales: "rarely").
        regularity: The policy deciding "regular demand" for stability; its window
            is replaced by ``window_days``.
    """

    window_days: int | None = 365
    attribute_rules: tuple[AttributeRule, ...] = attrs.field(default=(), converter=_rules)
    belonging_min_offer_changes: int = 3
    belonging_min_partnership: int = 2
    belonging_min_referrals: int = 1
    lowest_price_min_requests: int = 6
    lowest_price_min_discounted_share: Decimal = Decimal("0.75")
    novelty_min_offer_changes: int = 3
    novelty_max_orders: int = 3
    novelty_max_mean_order: Decimal | None = None
    stability_max_contacts_per_order: Decimal = Decimal("0.5")
    stability_max_complaints_per_order: Decimal = Decimal("0.25")
    regularity: RegularityPolicy = attrs.field(factory=RegularityPolicy)

    def __attrs_post_init__(self) -> None:
        opt_days(self, "window_days", self.window_days)
        for field in (
            "belonging_min_offer_changes",
            "belonging_min_partnership",
            "belonging_min_referrals",
            "lowest_price_min_requests",
            "novelty_min_offer_changes",
            "novelty_max_orders",
        ):
            positive_int(self, field, getattr(self, field), allow_zero=True)
        f = "lowest_price_min_discounted_share"
        object.__setattr__(self, f, share_field(self, f, getattr(self, f)))
        for f in ("stability_max_contacts_per_order", "stability_max_complaints_per_order"):
            object.__setattr__(self, f, nonneg_field(self, f, getattr(self, f)))
        if self.novelty_max_mean_order is not None:
            object.__setattr__(
                self,
                "novelty_max_mean_order",
                nonneg_field(self, "novelty_max_mean_order", self.novelty_max_mean_order),
            )
        if not isinstance(self.regularity, RegularityPolicy):
            raise ValidationError(
                record="MotivationPolicy",
                field="regularity",
                value=self.regularity,
                reason="expected a RegularityPolicy",
            )

    def windowed_regularity(self) -> RegularityPolicy:
        """The regularity policy the stability rule uses.

        Returns:
            :attr:`regularity` with its window replaced by :attr:`window_days`.
        """
        return _windowed(self.regularity, self.window_days)


@attrs.frozen(kw_only=True)
class MotivationSignals:
    """The counts the motivation rules read, over the policy's window.

    Attributes:
        contacts: Interactions except marketing touches.
        inbound_contacts: Client-initiated interactions except marketing touches.
        requests: Inbound ``inquiry``, ``offer_change`` and ``wish`` interactions.
        offer_changes: ``offer_change`` interactions.
        partnership: ``joint_planning`` and ``service_exchange`` interactions.
        referrals: ``referral`` interactions.
        sales: Sales (``placed``/``delivered`` orders).
        discounted_sales: Sales placed at a discount.
        sales_value: Sum of the sales' amounts.
        complaints: Complaints opened.
        regularity: The regularity of the sales in the window.
        ids: Record ids by signal name, for evidence.
    """

    contacts: int
    inbound_contacts: int
    requests: int
    offer_changes: int
    partnership: int
    referrals: int
    sales: int
    discounted_sales: int
    sales_value: Decimal
    complaints: int
    regularity: RegularityAssessment
    ids: FrozenMap[str, tuple[str, ...]] = attrs.field(eq=False, repr=False)

    @property
    def discounted_share(self) -> Decimal:
        """Share of sales placed at a discount (0 with no sales)."""
        return (
            _CTX.divide(Decimal(self.discounted_sales), Decimal(self.sales))
            if self.sales
            else Decimal(0)
        )

    @property
    def mean_order(self) -> Decimal | None:
        """Mean sale value, or None with no sales."""
        return _CTX.divide(self.sales_value, Decimal(self.sales)) if self.sales else None


@attrs.frozen(kw_only=True)
class MotivationAssessment:
    """A client's motivation segment, the rule that gave it and why.

    Attributes:
        client_id: The client.
        as_of: The moment of the assessment.
        segment: The segment.
        rule: The rule that matched: ``"attribute:<name>=<value>"``, ``"belonging"``,
            ``"lowest_price"``, ``"novelty"``, ``"stability"`` or ``"unclassified"``.
        evidence: The figures that decided it and the ids of the records behind them.
        signals: Every count the rules read.
    """

    client_id: str
    as_of: datetime
    segment: MotivationSegment
    rule: str
    evidence: Evidence
    signals: MotivationSignals

    def explain(self) -> str:
        """One line a person can read: segment, rule and evidence."""
        return f"{self.client_id}: {self.segment.value} (rule {self.rule}): {self.evidence}"


@lru_cache(maxsize=16)
def _windowed(policy: RegularityPolicy, window_days: int | None) -> RegularityPolicy:
    """``policy`` with ``window_days`` (policies are frozen and hashable; built once)."""
    return attrs.evolve(policy, window_days=window_days)


#: The keys of :attr:`MotivationSignals.ids`, one per counted signal.
SIGNAL_KEYS: tuple[str, ...] = (
    "contacts",
    "inbound",
    "requests",
    "offer_changes",
    "partnership",
    "referrals",
    "sales",
    "discounted",
    "complaints",
)


@lru_cache(maxsize=16)
def motivation_signal_set(window_days: int | None) -> SignalSet:
    """The motivation segmentation's inputs, declared once as record rules over a window.

    Each key of :data:`SIGNAL_KEYS` is the ids of the records a rule matches within
    ``window_days`` before the moment (None: the whole history); ``sales_value`` is
    the sum of the sales' amounts there. The object path evaluates the set per
    client, the columnar path compiles it (see :class:`relcycle.rules.SignalSet`).
    """
    w = window_days
    return SignalSet(
        {
            "contacts": Signal.ids(CONTACT, w),
            "inbound": Signal.ids(INBOUND, w),
            "requests": Signal.ids(REQUEST, w),
            "offer_changes": Signal.ids(OFFER_CHANGE, w),
            "partnership": Signal.ids(PARTNERSHIP, w),
            "referrals": Signal.ids(REFERRAL, w),
            "sales": Signal.ids(SALE, w),
            "discounted": Signal.ids(DISCOUNTED_SALE, w),
            "complaints": Signal.ids(COMPLAINT, w),
            "sales_value": Signal.sum(SALE, "amount", w),
        }
    )


_assess_regularity = unchecked(assess_regularity)


def _signals(
    history: ClientHistory, as_of: datetime, policy: MotivationPolicy, tz: tzinfo | str
) -> MotivationSignals:
    view = history.as_of(as_of)
    found = motivation_signal_set(policy.window_days).evaluate(
        {"orders": view.orders, "interactions": view.interactions, "complaints": view.complaints},
        as_of=as_of,
    )
    ids = {key: found[key] for key in SIGNAL_KEYS}
    value: Decimal = found["sales_value"]
    # this function's own arguments, checked by its caller (no per-client checks again)
    regularity = _assess_regularity(
        history, as_of=as_of, policy=policy.windowed_regularity(), tz=tz
    )
    return motivation_signals(ids, sales_value=value, regularity=regularity)


def motivation_signals(
    ids: Mapping[str, Sequence[str]],
    *,
    sales_value: Decimal,
    regularity: RegularityAssessment,
) -> MotivationSignals:
    """Assemble :class:`MotivationSignals` from the ids behind each signal.

    Args:
        ids: For every key of ``SIGNAL_KEYS``, the ids of the records in the
            window that give the signal, in the model's order (oldest first).
        sales_value: The sum of the window's sales (added in that order).
        regularity: The regularity of the window's sales
            (:meth:`MotivationPolicy.windowed_regularity`).

    Returns:
        The signals; each count is the number of its ids.
    """
    return MotivationSignals(
        contacts=len(ids["contacts"]),
        inbound_contacts=len(ids["inbound"]),
        requests=len(ids["requests"]),
        offer_changes=len(ids["offer_changes"]),
        partnership=len(ids["partnership"]),
        referrals=len(ids["referrals"]),
        sales=len(ids["sales"]),
        discounted_sales=len(ids["discounted"]),
        sales_value=sales_value,
        complaints=len(ids["complaints"]),
        regularity=regularity,
        ids=FrozenMap({k: tuple(ids[k]) for k in SIGNAL_KEYS}),
    )


@checked
def classify_motivation(
    history: ClientHistory,
    *,
    as_of: datetime,
    policy: MotivationPolicy | None = None,
    tz: tzinfo | str = UTC,
) -> MotivationAssessment:
    """Give a client exactly one motivation segment, first matching rule wins.

    Args:
        history: The client's history.
        as_of: The moment of the assessment (aware); later records are ignored.
        policy: Thresholds and user rules; ``MotivationPolicy()`` by default.
        tz: The time zone of calendar days (for the regularity of demand); UTC.

    Returns:
        The segment, the rule that matched and its evidence.

    Raises:
        ValidationError: If ``as_of`` is not timezone-aware.
    """
    check_as_of(as_of)
    policy = MotivationPolicy() if policy is None else policy
    signals = _signals(history, as_of, policy, tz)
    return motivation_from_signals(
        history.client_id, signals, as_of=as_of, policy=policy, client=history.client
    )


def motivation_from_signals(
    client_id: str,
    signals: MotivationSignals,
    *,
    as_of: datetime,
    policy: MotivationPolicy,
    client: Client | None = None,
) -> MotivationAssessment:
    """The motivation rules (first match wins) over a client's signals.

    :func:`classify_motivation` collects the signals from a history; the
    columnar path collects the same signals from tables and calls this
    function, so both paths share one implementation of the rules.

    Args:
        client_id: The client's id.
        signals: The counts the rules read, over ``policy``'s window.
        as_of: The moment of the assessment.
        policy: Thresholds and user rules.
        client: The client, whose attributes and fields the policy's attribute
            rules read; needed only when there are such rules.

    Returns:
        The segment, the rule that matched and its evidence.

    Raises:
        UsageError: If the policy has attribute rules and ``client`` is None.
    """
    s = signals
    if policy.attribute_rules and client is None:
        raise UsageError("motivation_from_signals: attribute rules need the client")
    window = "" if policy.window_days is None else f" in {policy.window_days} days"

    def done(
        segment: MotivationSegment, rule: str, reason: str, *keys: str
    ) -> MotivationAssessment:
        record_ids = [rid for k in keys for rid in s.ids[k]]
        return MotivationAssessment(
            client_id=client_id,
            as_of=as_of,
            segment=segment,
            rule=rule,
            evidence=Evidence(reason, record_ids),
            signals=s,
        )

    for rule in policy.attribute_rules:
        assert client is not None
        if rule.matches_client(client):
            return done(rule.segment, f"attribute:{rule.name}={rule.value}", f"user rule: {rule}")
    p = policy
    if (
        s.offer_changes >= p.belonging_min_offer_changes
        and s.partnership >= p.belonging_min_partnership
        and s.referrals >= p.belonging_min_referrals
    ):
        return done(
            MotivationSegment.belonging,
            "belonging",
            f"{count(s.offer_changes, 'offer change')}, "
            f"{count(s.partnership, 'joint planning/service exchange proposal')} and "
            f"{count(s.referrals, 'referral')}{window}",
            "offer_changes",
            "partnership",
            "referrals",
        )
    if (
        s.requests >= p.lowest_price_min_requests
        and s.sales > 0
        and _at_least(s.discounted_sales, s.sales, p.lowest_price_min_discounted_share)
    ):
        return done(
            MotivationSegment.lowest_price,
            "lowest_price",
            f"{count(s.requests, 'request')} and {s.discounted_sales} of "
            f"{count(s.sales, 'sale')} at a discount{window}",
            "requests",
            "discounted",
        )
    if (
        s.offer_changes >= p.novelty_min_offer_changes
        and s.sales <= p.novelty_max_orders
        and s.offer_changes > s.sales
        and _small_orders(s, p)
    ):
        mean = s.mean_order
        return done(
            MotivationSegment.novelty,
            "novelty",
            f"{count(s.offer_changes, 'offer change')} but only "
            f"{count(s.sales, 'sale')}{window}"
            + (f" (mean {_amount_text(mean, s.sales_value)})" if mean is not None else ""),
            "offer_changes",
            "sales",
        )
    if (
        s.regularity.regularity is Regularity.regular
        and _at_most(s.inbound_contacts, s.sales, p.stability_max_contacts_per_order)
        and _at_most(s.complaints, s.sales, p.stability_max_complaints_per_order)
    ):
        return done(
            MotivationSegment.stability,
            "stability",
            f"regular demand ({count(s.sales, 'sale')}, cv {_two_places(s.regularity.cv)}), "
            f"{count(s.inbound_contacts, 'client-initiated contact')} and "
            f"{count(s.complaints, 'complaint')}{window}",
            "sales",
            "inbound",
            "complaints",
        )
    return done(
        MotivationSegment.unclassified,
        "unclassified",
        f"no rule matched: {count(s.requests, 'request')}, "
        f"{count(s.offer_changes, 'offer change')}, "
        f"{count(s.partnership, 'partnership proposal')}, {count(s.referrals, 'referral')}, "
        f"{count(s.sales, 'sale')} ({s.discounted_sales} discounted), "
        f"{count(s.complaints, 'complaint')}, {_DEMAND[s.regularity.regularity]}{window}",
    )


def _small_orders(s: MotivationSignals, p: MotivationPolicy) -> bool:
    """True when the mean sale is within ``p.novelty_max_mean_order`` (or unchecked).

    Asked only once the other novelty conditions hold.
    """
    if p.novelty_max_mean_order is None or not s.sales:
        return True
    return _at_most(s.sales_value, s.sales, p.novelty_max_mean_order)


# The rules' ratios, decided exactly in integers (``part / whole`` against a
# threshold ``a / b``), whatever the decimal context: the form a compiled rule
# takes too (design, "Exact figures before figures over tables").


def _at_least(part: int, whole: int, threshold: Decimal) -> bool:
    """``part / whole >= threshold`` for ``whole > 0``."""
    a, b = threshold.as_integer_ratio()
    return part * b >= a * whole


def _at_most(part: int | Decimal, whole: int, threshold: Decimal) -> bool:
    """``part <= threshold * whole`` (a mean of ``part`` over ``whole`` within ``threshold``)."""
    a, b = threshold.as_integer_ratio()
    p, q = part.as_integer_ratio()
    return p * b <= a * whole * q


#: The regularity of the window's sales, in the unclassified sentence.
_DEMAND = {
    Regularity.regular: "regular demand",
    Regularity.irregular: "irregular demand",
    Regularity.one_off: "one purchase day",
    Regularity.none: "no sale",
}


def _amount_text(mean: Decimal, total: Decimal) -> str:
    """A mean amount for people: in the decimal places of the amounts it is the
    mean of (``44.93``, ``291.60``; a whole yen stays whole), rounded half even."""
    exponent = total.as_tuple().exponent
    places = min(exponent, 0) if isinstance(exponent, int) else 0  # a sum is finite
    return str(_CTX.quantize(mean, Decimal(1).scaleb(places)))


def _two_places(value: Decimal | None) -> str:
    """A coefficient of variation for people: two decimal places (regularity's form)."""
    return "n/a" if value is None else cv_text(value)
