"""The relationship ladder's rules written as a :class:`~relcycle.machine.DeclaredDecider`.

Not part of the package: :data:`relcycle.ladder.MACHINE` is the ladder (its
decider, written in Python, is the one declaration of its rules). This is the
same machine written with decision lists and registers, the largest declared
machine there is: the tests check that it takes ``MACHINE``'s steps (moments,
moves, cited records, sentences) on any history, per client and folded over
tables, so every piece of the declared form and of the columnar fold is
exercised on a real machine; ``bench/bench_ladder.py`` times the three ways
(see docs, design, "The ladder, declared and measured").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, date, timedelta, tzinfo
from functools import lru_cache
from typing import Any, Final

from relcycle._zones import resolve_zone
from relcycle.decisions import (
    Case,
    DecisionList,
    Kind,
    bool_input,
    choose,
    day_in,
    days_input,
    ids_input,
    int_input,
    lit,
    plural,
    ratio_text,
    sqrt_ratio_text,
    text,
    text_input,
)
from relcycle.errors import DefinitionError, UsageError
from relcycle.ladder import (
    _K_INACTIVE,
    _K_INTERACTION,
    _K_SALE,
    _K_STAGE,
    _K_TENURE,
    _P_INACTIVE,
    _P_TENURE,
    TABLE,
    TRIGGERS,
    LadderEvent,
    LadderPolicy,
    Rung,
)
from relcycle.machine import DeclaredDecider, Machine, Registers
from relcycle.rules import INBOUND
from relcycle.segmentation.regularity import regularity_decision

_DAY_US = 86_400_000_000
_NO_IDS: Final = ()


def _us(span: timedelta) -> int:
    return span // timedelta(microseconds=1)


@lru_cache(maxsize=32)
def declared_machine(
    policy: LadderPolicy | None = None, tz: tzinfo | str = UTC
) -> Machine[Rung, LadderEvent, Registers, Any]:
    """The ladder's machine with its decider declared as data, for ``policy`` and ``tz``.

    ``relcycle.ladder.MACHINE``'s table, triggers, timers and input kind, and one
    decision list per occurrence kind (the lifecycle's moves, an interaction, a
    sale, the two timers) with a follow-up that turns the client hostile or
    reconciles it and climbs while the next rung's rule holds. Its registers are
    the pieces of ``LadderMemory`` (see docs, design, "The ladder, mapped"). The
    regularity rule it climbs to customer by is ``policy.regularity``'s own
    declaration, asked about the purchase days in ``tz``; the advocacy,
    engagement and inbound contacts are the policy's rules, read as record
    fields. A step a timer took is at the timer's moment in UTC (its sentence
    prints the day in the offset of the activity that set the timer). Run it
    with ``policy=None``: its thresholds are part of its declarations.

    Raises:
        UsageError: If ``tz`` is not a zone the decisions can compile (an IANA
            name or :class:`zoneinfo.ZoneInfo`, UTC, a fixed offset).
    """
    zone = resolve_zone(tz)
    try:
        return _declared(LadderPolicy() if policy is None else policy, zone)
    except DefinitionError as exc:
        raise UsageError(f"the ladder cannot be declared for the zone {tz!r}: {exc}") from None


def _declared(policy: LadderPolicy, zone: tzinfo) -> Machine[Rung, LadderEvent, Registers, Any]:
    state, at, offset, key = (
        text_input("state"),
        int_input("at"),
        int_input("offset"),
        text_input("key"),
    )
    kinds: dict[str, Kind] = {
        "stage": "text",
        "active": "bool",
        "hostile": "bool",
        "stage_ids": "ids",
        "sales": "ids",
        "sale_day": "text",
        "days": "days",
        "advocacy": "ids",
        "adv_purposes": "ids",
        "engaged": "ids",
        "engaged_first": "int",
        "engaged_last": "int",
        "first_at": "int",
        "first_id": "text",
        "first_day": "text",
        "products": "ids",
        "firsts": "ids",
        "clock": "int",
        "clock_offset": "int",
        "due_offset": "int",
        "last_activity": "text",
        "checked": "int",
        "reset_day": "text",
    }
    initial: dict[str, Any] = dict.fromkeys(kinds)
    initial.update(
        {k: () for k, kind in kinds.items() if kind in ("ids", "days")},
        active=True,
        hostile=False,
        clock_offset=0,
        due_offset=0,
    )
    readers = {"text": text_input, "bool": bool_input, "int": int_input, "ids": ids_input}
    reg: dict[str, Any] = {
        k: (days_input(k) if kind == "days" else readers[kind](k)) for k, kind in kinds.items()
    }
    inactive_due, tenure_due = int_input(_K_INACTIVE), int_input(_K_TENURE)
    timers = {_K_INACTIVE: inactive_due, _K_TENURE: tenure_due}
    # the record fields: the policy's rules over an interaction, a sale's product,
    # the lifecycle's move
    purpose, product = text_input("purpose"), text_input("product")
    shows_advocacy, shows_engagement = bool_input("shows_advocacy"), bool_input("shows_engagement")
    inbound = bool_input("inbound")
    target, record_ids = text_input("target"), ids_input("record_ids")
    base = (state, at, offset, key, *reg.values(), inactive_due, tenure_due)
    none_int, none_text, no_ids = lit(None, "int"), lit(None, "text"), lit(_NO_IDS, "ids")

    def on(value: object, rungs: Iterable[Rung]) -> Any:
        """``value`` is one of ``rungs`` (their values)."""
        found: Any = None
        for r in rungs:
            test = value == r.value
            found = test if found is None else found | test
        return found

    def day_of(moment: Any, off: Any) -> Any:
        """The day of a moment in a UTC offset (seconds): what ``_day`` prints."""
        return lit(date(1970, 1, 1)) + (moment + off * 1_000_000) // _DAY_US

    def decision(name: str, inputs: tuple[Any, ...], gives: Iterable[str], *cases: Any) -> Any:
        """A decision list whose cases give only what they change: every other
        register and timer it gives keeps its value, no event, no records cited."""
        outputs: dict[str, Kind] = {"event": "text", "detail": "text", "cites": "ids"}
        for k in gives:
            outputs[k] = "int" if k in timers else kinds[k]
        keep: dict[str, Any] = {"event": None, "detail": None, "cites": no_ids}
        keep.update({k: timers[k] if k in timers else reg[k] for k in gives})
        return DecisionList.define(
            name,
            inputs=inputs,
            outputs=outputs,
            cases=[Case(cond, **{**keep, **given}) for cond, given in cases],
        )

    def reset(moment: Any, off: Any) -> dict[str, Any]:
        """Forget the evidence for promotions; the inactivity period starts again."""
        return {
            "sales": (),
            "sale_day": none_text,
            "days": (),
            "advocacy": (),
            "adv_purposes": (),
            "engaged": (),
            "engaged_first": none_int,
            "engaged_last": none_int,
            "clock": moment,
            "clock_offset": off,
            "reset_day": text(day_of(moment, off)),
        }

    resets = tuple(reset(at, offset))
    active, hostile = reg["active"], reg["hostile"]
    running = active & ~hostile  # what the promotions and the clock need
    stage = reg["stage"]
    lost_v = policy.lost_stage.value

    # -- the lifecycle moved (an input)
    lost, was_lost = target == lost_v, stage == lost_v
    moved = {"stage": target, "stage_ids": record_ids}
    stage_decision = decision(
        _K_STAGE,
        (*base, target, record_ids),
        ("stage", "stage_ids", "active", "hostile", *resets),
        (
            lost & ~was_lost,
            {
                "event": LadderEvent.relationship_ended.value,
                "detail": text(
                    "the client was lost on ", day_of(at, offset), "; it leaves the active rungs"
                ),
                "cites": record_ids.merged(no_ids),
                "active": False,
                **moved,
            },
        ),
        (lost, moved),
        (
            was_lost,
            {
                "event": LadderEvent.relationship_resumed.value,
                "detail": text(
                    "the client came back on ",
                    day_of(at, offset),
                    " (lifecycle ",
                    target,
                    "); a won-back client starts again as a doubter",
                ),
                "cites": record_ids.merged(no_ids),
                "active": True,
                "hostile": False,
                **reset(at, offset),
                **moved,
            },
        ),
        (None, moved),
    )

    # -- an interaction: advocacy and engagement evidence, the activity clock
    need = policy.advocate_min_signals
    take_adv = (
        shows_advocacy
        & running
        & on(state, (Rung.adversary, Rung.doubter, Rung.buyer, Rung.customer))
        & (reg["advocacy"].size() < need)
    )
    take_eng = shows_engagement & running & ~(state == Rung.expert.value)
    touch = (shows_advocacy | shows_engagement | inbound) & running
    touched = {
        "clock": choose(touch, at, reg["clock"]),
        "clock_offset": choose(touch, offset, reg["clock_offset"]),
        "last_activity": choose(touch, key, reg["last_activity"]),
    }
    interaction_decision = decision(
        _K_INTERACTION,
        (*base, purpose, shows_advocacy, shows_engagement, inbound),
        ("advocacy", "adv_purposes", "engaged", "engaged_first", "engaged_last", *touched),
        (
            None,
            {
                "advocacy": choose(take_adv, reg["advocacy"].append(key), reg["advocacy"]),
                "adv_purposes": choose(
                    take_adv, reg["adv_purposes"].append_new(purpose), reg["adv_purposes"]
                ),
                "engaged": choose(take_eng, reg["engaged"].append(key), reg["engaged"]),
                "engaged_first": choose(
                    take_eng & (reg["engaged_first"] == none_int), at, reg["engaged_first"]
                ),
                "engaged_last": choose(take_eng, at, reg["engaged_last"]),
                **touched,
            },
        ),
    )

    # -- a sale: the sales a promotion reads, the first sale, the products
    counting = running & on(state, (Rung.adversary, Rung.doubter, Rung.buyer))
    touched_by_sale = {
        "clock": choose(running, at, reg["clock"]),
        "clock_offset": choose(running, offset, reg["clock_offset"]),
        "last_activity": choose(running, key, reg["last_activity"]),
    }
    first = reg["first_at"] == none_int
    known = (product == none_text) | reg["products"].contains(product)
    sale_decision = decision(
        _K_SALE,
        (*base, product),
        (
            "sales",
            "sale_day",
            "days",
            "first_at",
            "first_id",
            "first_day",
            "products",
            "firsts",
            *touched_by_sale,
        ),
        (
            None,
            {
                "sales": choose(counting, reg["sales"].append(key), reg["sales"]),
                "sale_day": choose(
                    counting & (reg["sales"].size() == 0),
                    text(day_of(at, offset)),
                    reg["sale_day"],
                ),
                "days": choose(counting, reg["days"].add(day_in(at, zone)), reg["days"]),
                "first_at": choose(first, at, reg["first_at"]),
                "first_id": choose(first, key, reg["first_id"]),
                "first_day": choose(first, text(day_of(at, offset)), reg["first_day"]),
                "products": reg["products"].append_new(product),
                "firsts": choose(known, reg["firsts"], reg["firsts"].append(key)),
                **touched_by_sale,
            },
        ),
    )

    # -- the inactivity timer: one rung down, the evidence forgotten
    period = policy.inactivity_period
    last = reg["last_activity"]
    # the timer's moment is written in the offset of the activity that set it
    # (kept while its moment stays the same: MACHINE keeps the timer it has then)
    up_to = text("no activity for ", period.days, " days up to ", day_of(at, reg["due_offset"]))
    went = {
        "event": LadderEvent.went_inactive.value,
        "cites": no_ids.append(last),
        **reset(at, reg["due_offset"]),
    }
    inactive_decision = decision(
        _K_INACTIVE,
        base,
        resets,
        (last == none_text, {"detail": up_to, **went}),
        (None, {"detail": text(up_to, " (last activity: ", last, ")"), **went}),
    )

    # -- the tenure timer: an advocate's time since its first sale is complete
    tenure_decision = decision(_K_TENURE, base, ("checked",), (None, {"checked": at}))

    # -- the follow-up: hostility, then one rung up while the next rung's rule holds
    hostile_now: Any = lit(False)
    for hostile_stage in sorted(policy.hostile_stages, key=lambda s: s.value):
        hostile_now = hostile_now | (stage == hostile_stage.value)
    adversary = state == Rung.adversary.value
    rule = regularity_decision(policy.regularity)
    days = reg["days"]

    def asked(name: str) -> Any:
        return rule.ask(name, days=days, as_of_day=lit(None, "date"))

    engaged, products = reg["engaged"], reg["products"]
    first_at, tenure = reg["first_at"], _us(policy.expert_min_tenure)
    span = reg["engaged_last"] - reg["engaged_first"]
    expertise = (
        (engaged.size() >= policy.expert_min_engagements)
        & (span >= _us(policy.expert_min_engagement_span))
        & (first_at != none_int)
        & (at - first_at >= tenure)
        & (products.size() >= policy.expert_min_products)
    )
    day_here = day_of(at, offset)
    stage_cites = reg["stage_ids"].merged(no_ids)
    # the timers the state calls for (neither for a lost or hostile client or below buyer)
    runs = running & on(state, (Rung.buyer, Rung.customer, Rung.advocate, Rung.expert))
    clock, checked = reg["clock"], reg["checked"]
    due = first_at + tenure
    inactive_at = choose(runs & (clock != none_int), clock + _us(period), none_int)
    tenure_at = choose(
        runs
        & (state == Rung.advocate.value)
        & (first_at != none_int)
        & ((checked == none_int) | (checked < due))
        & (due > at),
        due,
        none_int,
    )
    timers_now = {
        _K_INACTIVE: inactive_at,
        _K_TENURE: tenure_at,
        # new timers take the clock's offset; the same moments keep theirs
        "due_offset": choose(
            (inactive_at != inactive_due) | (tenure_at != tenure_due),
            reg["clock_offset"],
            reg["due_offset"],
        ),
    }
    back_at = choose(
        on(state, (Rung.buyer, Rung.customer, Rung.advocate, Rung.expert)),
        at + _us(period),
        none_int,
    )
    no_timers = {_K_INACTIVE: none_int, _K_TENURE: none_int}
    follow_up = decision(
        "climb",
        base,
        ("hostile", *resets, _K_INACTIVE, _K_TENURE, "due_offset"),
        (
            active & hostile_now & ~hostile & ~adversary,
            {
                "event": LadderEvent.turned_hostile.value,
                "detail": text("the lifecycle turned hostile (", stage, ") on ", day_here),
                "cites": stage_cites,
                "hostile": True,
                **reset(at, offset),
            },
        ),
        (active & hostile_now & ~hostile, {"hostile": True, **reset(at, offset), **no_timers}),
        (
            active & ~hostile_now & hostile & adversary,
            {
                "event": LadderEvent.reconciled.value,
                "detail": text("the lifecycle left its hostile stages (", stage, ") on ", day_here),
                "cites": stage_cites,
                "hostile": False,
                **reset(at, offset),
            },
        ),
        (
            active & ~hostile_now & hostile,
            {
                "hostile": False,
                **reset(at, offset),
                _K_INACTIVE: back_at,
                _K_TENURE: none_int,
                "due_offset": choose(
                    (back_at != inactive_due) | (tenure_due != none_int),
                    offset,
                    reg["due_offset"],
                ),
            },
        ),
        (
            running & (state == Rung.doubter.value) & (reg["sales"].size() >= 1),
            {
                "event": LadderEvent.purchased.value,
                "detail": text(
                    "sale order ", reg["sales"].head(1).joined(), " on ", reg["sale_day"]
                ),
                "cites": reg["sales"].head(1),
            },
        ),
        (
            running & (state == Rung.buyer.value) & asked("regular"),
            {
                "event": LadderEvent.ordered_regularly.value,
                "detail": text(
                    "regular repeat orders: ",
                    days.count(),
                    " purchase days, mean gap ",
                    ratio_text(asked("gap_sum"), asked("gaps"), 1),
                    " days, cv ",
                    sqrt_ratio_text(asked("spread"), asked("gap_sum"), 2),
                ),
                "cites": reg["sales"],
            },
        ),
        (
            running & (state == Rung.customer.value) & (reg["advocacy"].size() >= need),
            {
                "event": LadderEvent.advocated.value,
                "detail": text(
                    "advocacy: ",
                    plural(need, "contact"),
                    " (",
                    reg["adv_purposes"].sorted().joined(),
                    ")",
                ),
                "cites": reg["advocacy"].head(need),
            },
        ),
        (
            running & (state == Rung.advocate.value) & expertise,
            {
                "event": LadderEvent.engaged_deeply.value,
                "detail": text(
                    "deep engagement: ",
                    plural(engaged.size(), "joint-planning/offer contact"),
                    " over ",
                    span // _DAY_US,
                    " days; client since ",
                    reg["first_day"],
                    " (",
                    (at - first_at) // _DAY_US,
                    " days); ",
                    plural(products.size(), "product"),
                    " bought (",
                    products.sorted().joined(),
                    ")",
                ),
                "cites": engaged.append(reg["first_id"]).merged(reg["firsts"].sorted_by(products)),
            },
        ),
        (None, timers_now),
    )
    registers: Mapping[str, tuple[str, Any]] = {k: (v, initial[k]) for k, v in kinds.items()}
    decisions: Mapping[str, DecisionList] = {
        _K_STAGE: stage_decision,
        _K_INTERACTION: interaction_decision,
        _K_SALE: sale_decision,
        _K_INACTIVE: inactive_decision,
        _K_TENURE: tenure_decision,
    }
    priorities: Mapping[str, int] = {_K_INACTIVE: _P_INACTIVE, _K_TENURE: _P_TENURE}
    fields: Mapping[str, Mapping[str, Any]] = {
        _K_STAGE: {"target": "text", "record_ids": "ids"},
        _K_INTERACTION: {
            "purpose": "text",
            "shows_advocacy": policy.advocacy,
            "shows_engagement": policy.engagement,
            "inbound": INBOUND,
        },
        _K_SALE: {"product": "text"},
    }
    decider: DeclaredDecider[Rung, LadderEvent] = DeclaredDecider(
        TABLE,
        registers=registers,
        decisions=decisions,
        timers=priorities,
        fields=fields,
        then=follow_up,
    )
    return decider.machine(TRIGGERS, input_kinds=(_K_STAGE,))
