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
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from functools import lru_cache
from operator import attrgetter

import attrs

from relcycle._args import checked, unchecked
from relcycle._decimal import CONTEXT
from relcycle._vocab import Vocab
from relcycle.decisions import (
    Case,
    DecisionList,
    int_input,
    lookup,
    plural,
    pow10,
    ratio_text,
    sqrt_ratio_text,
    text,
    text_input,
)
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
    regularity_decision,
)

__all__ = [
    "DECISION_COUNTS",
    "AttributeRule",
    "MotivationAssessment",
    "MotivationPolicy",
    "MotivationSegment",
    "MotivationSignals",
    "classify_motivation",
    "motivation_decision",
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
        return _attribute(self, client) == self.value

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


@attrs.frozen(kw_only=True, cache_hash=True)
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
    demand = s.regularity
    spread, gap_sum = 0, 0  # read by the stability sentence only, for a regular demand
    if demand.regularity is Regularity.regular:
        if len(demand.purchase_days) < 2:
            raise UsageError(
                "motivation_from_signals: the regularity is 'regular' with fewer than two "
                "purchase days"
            )
        # the figures' integers, from the regularity declaration itself
        spread, gap_sum = regularity_decision(policy.windowed_regularity()).value(
            "spread", "gap_sum"
        )(demand.purchase_days, None)
    units, places = _units(s.sales_value)
    attributes = [_attribute(rule, client) for rule in policy.attribute_rules]
    segment, rule, why, keys = motivation_decision(policy).function(
        *attributes,
        *_COUNTS(s),
        units,
        places,
        demand.regularity.value,
        spread,
        gap_sum,
    )
    return MotivationAssessment(
        client_id=client_id,
        as_of=as_of,
        segment=_SEGMENTS[segment],
        rule=rule,
        evidence=Evidence(why, [rid for k in keys.split(",") if k for rid in s.ids[k]]),
        signals=s,
    )


_SEGMENTS = {m.value: m for m in MotivationSegment}


def _attribute(rule: AttributeRule, client: Client | None) -> str | None:
    """The client's text an attribute rule compares (None: the client has none)."""
    assert client is not None
    if rule.name in ("industry", "region", "kind"):
        own = getattr(client, rule.name)
        return None if own is None else str(own)
    found = client.attributes.get(rule.name)
    return found if isinstance(found, str) else None


def _units(value: Decimal) -> tuple[int, int]:
    """A finite decimal as ``(units, places)``: ``value = units / 10**places``, places >= 0."""
    written = str(value)
    if "E" not in written:  # plain digits (the usual sum): read them
        dot = written.find(".")
        if dot < 0:
            return int(written), 0
        return int(written[:dot] + written[dot + 1 :]), len(written) - dot - 1
    exponent = value.as_tuple().exponent
    assert isinstance(exponent, int)  # a sum of amounts is finite
    if exponent >= 0:
        return int(value), 0
    return int(_EXACT.scaleb(value, -exponent)), -exponent


#: Scales a decimal by a power of ten without rounding, however many digits it has.
_EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)


#: The window's counts the motivation decision reads, in the order of its
#: inputs: each input's name (the signal's key in :data:`SIGNAL_KEYS`) and the
#: :class:`MotivationSignals` field that holds the count.
DECISION_COUNTS: tuple[tuple[str, str], ...] = (
    ("offer_changes", "offer_changes"),
    ("partnership", "partnership"),
    ("referrals", "referrals"),
    ("requests", "requests"),
    ("sales", "sales"),
    ("discounted", "discounted_sales"),
    ("inbound", "inbound_contacts"),
    ("complaints", "complaints"),
)

_COUNTS = attrgetter(*(field for _, field in DECISION_COUNTS))

#: The regularity of the window's sales, in the unclassified sentence.
_DEMAND_TEXT = {
    Regularity.regular.value: "regular demand",
    Regularity.irregular.value: "irregular demand",
    Regularity.one_off.value: "one purchase day",
    Regularity.none.value: "no sale",
}


@lru_cache(maxsize=16)
def motivation_decision(policy: MotivationPolicy) -> DecisionList:
    """The motivation rules of ``policy``, declared once (:mod:`relcycle.decisions`).

    Its inputs, in order: one text per attribute rule (``attribute_0``, ...:
    the client's attribute or field the rule compares, None when it has none),
    then the window's counts (:data:`DECISION_COUNTS`), the
    sales' sum as ``value_units / 10**value_places``, and the window's demand:
    its regularity verdict's value (``demand``) and, for a regular one, the
    ``spread`` and ``gap_sum`` its cv comes from (named values of
    :func:`~relcycle.segmentation.regularity.regularity_decision`).
    Its outputs: ``segment`` (the segment's value), ``rule`` (the rule's name),
    ``evidence`` (the sentence) and ``keys`` (the signals whose record ids the
    evidence cites, comma-separated). The first case that matches wins, in the
    order of the module docs; every ratio is compared in integers.
    """
    p = policy
    attributes = [text_input(f"attribute_{i}") for i in range(len(p.attribute_rules))]
    counts = {key: int_input(key) for key, _ in DECISION_COUNTS}
    offer_changes, partnership, referrals = (
        counts["offer_changes"],
        counts["partnership"],
        counts["referrals"],
    )
    requests, sales, discounted = counts["requests"], counts["sales"], counts["discounted"]
    inbound, complaints = counts["inbound"], counts["complaints"]
    units = int_input("value_units")
    places = int_input("value_places")
    demand = text_input("demand")
    spread = int_input("spread")
    gap_sum = int_input("gap_sum")
    window = "" if p.window_days is None else f" in {p.window_days} days"
    cases: list[Case] = [
        Case(
            attribute == rule.value,
            segment=rule.segment.value,
            rule=f"attribute:{rule.name}={rule.value}",
            evidence=f"user rule: {rule}",
            keys="",
        )
        for attribute, rule in zip(attributes, p.attribute_rules, strict=True)
    ]
    share, per = p.lowest_price_min_discounted_share.as_integer_ratio()
    contacts, contacts_per = p.stability_max_contacts_per_order.as_integer_ratio()
    complained, complained_per = p.stability_max_complaints_per_order.as_integer_ratio()
    novelty = (
        (offer_changes >= p.novelty_min_offer_changes)
        & (sales <= p.novelty_max_orders)
        & (offer_changes > sales)
    )
    if p.novelty_max_mean_order is not None:
        # the mean sale within the bound: units / 10**places <= bound * sales
        most, most_per = p.novelty_max_mean_order.as_integer_ratio()
        novelty = novelty & ((sales == 0) | (units * most_per <= most * sales * pow10(places)))
    novelty_text = (
        plural(offer_changes, "offer change"),
        " but only ",
        plural(sales, "sale"),
        window,
    )
    cases += [
        Case(
            (offer_changes >= p.belonging_min_offer_changes)
            & (partnership >= p.belonging_min_partnership)
            & (referrals >= p.belonging_min_referrals),
            segment="belonging",
            rule="belonging",
            evidence=text(
                plural(offer_changes, "offer change"),
                ", ",
                plural(partnership, "joint planning/service exchange proposal"),
                " and ",
                plural(referrals, "referral"),
                window,
            ),
            keys="offer_changes,partnership,referrals",
        ),
        Case(
            (requests >= p.lowest_price_min_requests)
            & (sales > 0)
            & (discounted * per >= share * sales),
            segment="lowest_price",
            rule="lowest_price",
            evidence=text(
                plural(requests, "request"),
                " and ",
                discounted,
                " of ",
                plural(sales, "sale"),
                " at a discount",
                window,
            ),
            keys="requests,discounted",
        ),
        Case(
            novelty & (sales > 0),
            segment="novelty",
            rule="novelty",
            # the mean sale in the places of the amounts, rounded half even
            evidence=text(
                *novelty_text, " (mean ", ratio_text(units, sales * pow10(places), places), ")"
            ),
            keys="offer_changes,sales",
        ),
        Case(
            novelty,
            segment="novelty",
            rule="novelty",
            evidence=text(*novelty_text),
            keys="offer_changes,sales",
        ),
        Case(
            (demand == "regular")
            & (inbound * contacts_per <= contacts * sales)
            & (complaints * complained_per <= complained * sales),
            segment="stability",
            rule="stability",
            evidence=text(
                "regular demand (",
                plural(sales, "sale"),
                ", cv ",
                sqrt_ratio_text(spread, gap_sum, 2),
                "), ",
                plural(inbound, "client-initiated contact"),
                " and ",
                plural(complaints, "complaint"),
                window,
            ),
            keys="sales,inbound,complaints",
        ),
        Case(
            None,
            segment="unclassified",
            rule="unclassified",
            evidence=text(
                "no rule matched: ",
                plural(requests, "request"),
                ", ",
                plural(offer_changes, "offer change"),
                ", ",
                plural(partnership, "partnership proposal"),
                ", ",
                plural(referrals, "referral"),
                ", ",
                plural(sales, "sale"),
                " (",
                discounted,
                " discounted), ",
                plural(complaints, "complaint"),
                ", ",
                lookup(demand, _DEMAND_TEXT),
                window,
            ),
            keys="",
        ),
    ]
    return DecisionList.define(
        "motivation",
        inputs=(
            *attributes,
            *counts.values(),
            units,
            places,
            demand,
            spread,
            gap_sum,
        ),
        outputs={"segment": "text", "rule": "text", "evidence": "text", "keys": "text"},
        cases=cases,
    )
