"""The policy file: relcycle.policy, ``relcycle report --policy``, ``relcycle policy``."""

from __future__ import annotations

import tomllib
import typing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import relcycle
from relcycle.cli import main
from relcycle.errors import UsageError, ValidationError
from relcycle.funnel import FUNNEL_COLUMN
from relcycle.io import load_history
from relcycle.ladder import LadderPolicy
from relcycle.lifecycle import LifecyclePolicy, Stage
from relcycle.losses import LossPolicy
from relcycle.model import ComplaintCategory, Purpose, Severity
from relcycle.policy import load_policies, policies_from_mapping, policies_to_toml
from relcycle.render import iter_render
from relcycle.report import ReportPolicies, build_report
from relcycle.segmentation import CostRates, RiskFlag
from relcycle.segmentation.motivation import AttributeRule, MotivationPolicy, MotivationSegment
from relcycle.segmentation.playbook import STAGES, Action, Playbook, PriorityPolicy, Urgency
from relcycle.segmentation.regularity import RegularityPolicy
from relcycle.segmentation.risks import RiskPolicy
from relcycle.segmentation.value import ValueBasis, ValueClass
from test_cli import write_history

AS_OF = "2025-04-01T00:00:00+00:00"


def _write(tmp_path: Path, text: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _keys(cls: Any) -> set[str]:
    """The dotted keys of every field of ``cls``, nested classes included, from attrs."""
    hints = typing.get_type_hints(cls)
    keys = set()
    for f in attrs.fields(cls):
        if not f.init:
            continue
        keys.add(f.alias)
        tp = hints[f.name]
        if attrs.has(tp) and tp is not relcycle.Column and tp is not Playbook:
            keys |= {f"{f.alias}.{k}" for k in _keys(tp)}
    return keys


def _flat(table: dict[str, Any], prefix: str = "") -> set[str]:
    keys = set()
    for k, v in table.items():
        keys.add(prefix + k)
        if isinstance(v, dict):
            keys |= _flat(v, f"{prefix}{k}.")
    return keys


class TestDefaults:
    def test_defaults_round_trip(self, tmp_path: Path) -> None:
        """The printed defaults, read back, are ReportPolicies()."""
        path = _write(tmp_path, policies_to_toml(ReportPolicies()))
        assert load_policies(path) == ReportPolicies()

    def test_the_loss_rules_are_keys(self, tmp_path: Path) -> None:
        """The win-back and lapse knobs are printed and read back; "none" turns a lapse rule off."""
        text = policies_to_toml(ReportPolicies())
        for line in (
            "reactivation_sales = 3",
            "reactivation_window = 90",
            "lapse_after = 365",
            'lapse_intervals = "4"',
            "lapse_min_silence = 90",
        ):
            assert line in text.splitlines()
        path = _write(
            tmp_path,
            '[lifecycle]\nlapse_after = "none"\nlapse_intervals = "2.5"\n'
            'lapse_min_silence = "none"\n',
        )
        lifecycle = load_policies(path).lifecycle
        assert lifecycle.lapse_after is None
        assert lifecycle.lapse_intervals == Decimal("2.5")
        assert lifecycle.lapse_min_silence is None

    def test_every_field_is_a_key(self) -> None:
        """Every field of every policy class is written, found from the classes."""
        written = _flat(tomllib.loads(policies_to_toml(ReportPolicies())))
        assert _keys(ReportPolicies) <= written
        assert {"playbook.segments", "playbook.stages", "playbook.risks"} <= written

    def test_keys_carry_their_doc_line(self) -> None:
        """Each key is under a comment: its doc from the class docstring."""
        lines = policies_to_toml(ReportPolicies()).splitlines()
        at = lines.index("recurrence_count = 3")
        assert lines[at - 2 : at] == [
            "# How many problems of one category within ``recurrence_window`` make a recurrence",
            "# (default 3, at least 2).",
        ]
        at = lines.index('max_cv = "0.5"')
        assert lines[at - 1] == (
            "# Highest coefficient of variation of the gaps for ``regular``; 0.5."
        )
        assert lines[lines.index("[lifecycle]") - 1] == (
            "# Thresholds of the dissatisfaction-to-loss lifecycle."
        )

    def test_the_risk_knobs_are_printed_and_read(self, tmp_path: Path) -> None:
        """The service levels, rejection memory, staff rule and escalation memory are keys."""
        lines = policies_to_toml(ReportPolicies()).splitlines()
        for key in (
            'sla_attribute_prefix = "sla_"',
            "rejection_memory = 90",
            "staff_complaints_monitor = true",
            "escalation_memory_days = 365",
        ):
            assert lines[lines.index(key) - 1].startswith("# ")
        assert not any(line.startswith("sla =") for line in lines)  # one declaration
        path = _write(
            tmp_path,
            """
            [lifecycle]
            sla_attribute_prefix = "none"
            rejection_memory = 30
            staff_complaints_monitor = false
            [risks]
            escalation_memory_days = 200
            """,
        )
        got = load_policies(path)
        assert got.lifecycle == LifecyclePolicy(
            sla_attribute_prefix=None,
            rejection_memory=timedelta(days=30),
            staff_complaints_monitor=False,
        )
        assert got.risks == RiskPolicy(escalation_memory_days=200)

    def test_cli_prints_defaults(self, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
        """relcycle policy --print-defaults writes the defaults to stdout or --output."""
        assert main(["policy", "--print-defaults"]) == 0
        out = capsys.readouterr().out
        assert out == policies_to_toml(ReportPolicies())
        target = tmp_path / "defaults.toml"
        assert main(["policy", "--print-defaults", "--output", str(target)]) == 0
        assert target.read_text(encoding="utf-8") == out
        assert load_policies(target) == ReportPolicies()

    def test_cli_policy_needs_the_flag(self, capsys: pytest.CaptureFixture[str]) -> None:
        assert main(["policy"]) == 2
        assert "--print-defaults" in capsys.readouterr().err

    def test_lazy_exports(self) -> None:
        assert relcycle.load_policies is load_policies
        assert relcycle.policies_to_toml is policies_to_toml


class TestValues:
    def test_a_partial_file_keeps_the_other_defaults(self, tmp_path: Path) -> None:
        """Keys convert by their field's type: days, decimals, vocabularies, none."""
        path = _write(
            tmp_path,
            """
            top_fraction = "0.1"
            value_basis = "profit"
            [priority.value_class_shift]
            A = 2
            C = 0
            [lifecycle]
            recurrence_window = 30
            failures_recur_as = "none"
            [lifecycle.service_levels]
            high = 2
            [lifecycle.client_service_levels.c7]
            critical = 5
            [ladder]
            hostile_stages = ["ultimatum"]
            [cost_rates]
            default_rate = "42.50"
            marketing_per_touch = "2"
            [cost_rates.employee_rates]
            "m 1" = "60"
            [cost_rates.employee_roles]
            m2 = "engineer"
            [cost_rates.role_rates]
            engineer = "90"
            [motivation]
            window_days = "none"
            [losses]
            window_days = 180
            [[motivation.attribute_rules]]
            name = "tier"
            value = "gold"
            segment = "belonging"
            """,
        )
        got = load_policies(path)
        assert got.top_fraction == Decimal("0.1")
        assert got.value_basis is ValueBasis.profit
        assert got.priority == PriorityPolicy(value_class_shift={"A": 2, "C": 0})
        assert got.lifecycle == LifecyclePolicy(
            recurrence_window=timedelta(days=30),
            failures_recur_as=None,
            service_levels={Severity.high: timedelta(days=2)},
            client_service_levels={"c7": {Severity.critical: timedelta(days=5)}},
        )
        assert got.lifecycle.service_levels[Severity.low] == timedelta(days=14)
        assert got.ladder == LadderPolicy(hostile_stages=frozenset({Stage.ultimatum}))
        assert got.cost_rates == CostRates(
            default_rate=Decimal("42.50"),
            employee_rates={"m 1": Decimal("60")},
            employee_roles={"m2": "engineer"},
            role_rates={"engineer": Decimal("90")},
            marketing_per_touch=Decimal(2),
        )
        assert got.motivation == MotivationPolicy(
            window_days=None, attribute_rules=(AttributeRule("tier", "gold", "belonging"),)
        )
        assert got.risks == RiskPolicy()
        assert got.losses == LossPolicy(window_days=180)
        assert got.playbook == ReportPolicies().playbook

    def test_a_playbook_table_replaces_the_mapping(self, tmp_path: Path) -> None:
        path = _write(
            tmp_path,
            """
            [playbook.stages]
            satisfied = []
            [[playbook.stages.lost]]
            id = "lost.call"
            text = "Call the buyer."
            who = "key_account_manager"
            urgency = "critical"
            """,
        )
        playbook = load_policies(path).playbook
        lost = Action("lost.call", "Call the buyer.", "key_account_manager", Urgency.critical)
        assert dict(playbook.stages) == {"satisfied": (), "lost": (lost,)}
        assert playbook.segments == ReportPolicies().playbook.segments

    def test_columns_are_module_names(self, tmp_path: Path) -> None:
        assert load_policies(_write(tmp_path, "columns = []")).columns == ()
        path = _write(tmp_path, 'columns = ["relcycle.funnel:FUNNEL_COLUMN"]')
        assert load_policies(path).columns == (FUNNEL_COLUMN,)
        assert 'columns = ["relcycle.funnel:FUNNEL_COLUMN"]' in policies_to_toml(ReportPolicies())


class TestErrors:
    @pytest.mark.parametrize(
        ("text", "message"),
        [
            (
                '[lifecycle]\nrecurrence_count = "three"',
                "field 'lifecycle.recurrence_count': value 'three': expected an int",
            ),
            (
                "[lifecycle]\nrecurrence_count = true",
                "field 'lifecycle.recurrence_count': value True: expected an int",
            ),
            (
                "[lifecycle]\nstrict = 1",
                "field 'lifecycle.strict': value 1: expected true or false",
            ),
            (
                "[lifecycle]\nrecurrence_window = 1.5",
                "field 'lifecycle.recurrence_window': value 1.5: expected whole days, an int",
            ),
            ("top_fraction = 0.2", "field 'top_fraction': value 0.2: expected a decimal"),
            ('top_fraction = "lots"', "field 'top_fraction': value 'lots': expected a decimal"),
            (
                '[lifecycle]\nfailures_recur_as = "weather"',
                "field 'lifecycle.failures_recur_as': value 'weather': expected one of",
            ),
            (
                "[lifecycle]\nrecurrence_count = 1",
                "field 'lifecycle.recurrence_count': value 1: a recurrence needs at least 2",
            ),
            (
                "[lifecycle.service_levels]\nlow = 0",
                "field 'lifecycle.service_levels[low]'",
            ),
            (
                "[lifecycle]\nrejection_memory = 0",
                "field 'lifecycle.rejection_memory': value datetime.timedelta(0): must be",
            ),
            (
                "[risks]\nescalation_memory_days = 0",
                "field 'risks.escalation_memory_days'",
            ),
            ("[lifecycle.service_levels]\nsevere = 3", "value 'severe': expected one of low"),
            ('abc_cutoffs = ["0.8"]', "field 'abc_cutoffs': value ['0.8']: expected an array of 2"),
            ("lifecycle = 3", "field 'lifecycle': value 3: expected a table"),
            ('value_basis = "margin"', "field 'value_basis': value 'margin': expected one of"),
            (
                "[priority.value_class_shift]\nA = 5",
                "field 'priority.value_class_shift[A]': value 5: expected an int from -3 to 3",
            ),
            ("[priority.value_class_shift]\nD = 1", "value 'D': expected one of A, B, C"),
            ("[losses]\nwindow_days = 0", "field 'losses.window_days': value 0: must be > 0"),
            (
                '[[playbook.stages.lost]]\nid = "x"\ntext = ""\nwho = "a"\nurgency = "low"',
                "field 'playbook.stages.lost.0.text': value '': must be a non-empty string",
            ),
            ('columns = ["nowhere:X"]', "field 'columns.0': value 'nowhere:X': column"),
        ],
    )
    def test_bad_values_name_key_and_value(self, tmp_path: Path, text: str, message: str) -> None:
        with pytest.raises(ValidationError) as caught:
            load_policies(_write(tmp_path, text))
        assert message in str(caught.value)

    def test_unknown_keys_name_the_known_ones(self, tmp_path: Path) -> None:
        with pytest.raises(UsageError) as caught:
            load_policies(_write(tmp_path, "[lifecycle]\nrecurence_count = 2"))
        text = str(caught.value)
        assert "unknown key 'lifecycle.recurence_count'" in text
        assert "recurrence_count, recurrence_window" in text
        with pytest.raises(UsageError, match=r"unknown key 'treshold' \(known: lifecycle, ladder"):
            load_policies(_write(tmp_path, "treshold = 2"))

    def test_unreadable_or_not_toml(self, tmp_path: Path) -> None:
        with pytest.raises(UsageError, match="cannot read it"):
            load_policies(tmp_path / "missing.toml")
        with pytest.raises(UsageError, match="not TOML"):
            load_policies(_write(tmp_path, "[lifecycle\n"))
        with pytest.raises(UsageError, match="must be a str or a path"):
            load_policies(5)  # type: ignore[arg-type]  # never a file descriptor
        with pytest.raises(UsageError, match="expected ReportPolicies"):
            policies_to_toml(LifecyclePolicy())  # type: ignore[arg-type]

    def test_an_unexported_column_has_no_file_form(self) -> None:
        def assess(history: Any, *, as_of: datetime, tz: Any) -> relcycle.Cell:
            raise AssertionError("not called")

        policies = ReportPolicies(columns=(relcycle.Column("local", assess),))
        with pytest.raises(UsageError, match=r"column 'local'.*does not export it"):
            policies_to_toml(policies)

    def test_part_days_have_no_file_form(self) -> None:
        policies = ReportPolicies(lifecycle=LifecyclePolicy(recurrence_window=timedelta(hours=36)))
        where = r"lifecycle\.recurrence_window: 1 day, 12:00:00 is not whole days"
        with pytest.raises(UsageError, match=where):
            policies_to_toml(policies)

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("[lifecycle]\nrecurence_count = 2", "unknown key 'lifecycle.recurence_count'"),
            ('[lifecycle]\nrecurrence_count = "three"', "value 'three': expected an int"),
        ],
    )
    def test_cli_exits_2_before_reading_the_source(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
    ) -> None:
        """A bad policy file is a usage error (exit 2), found before the source is read."""
        policy = _write(tmp_path, text)
        assert main(["report", str(tmp_path / "no-such-source"), "--policy", str(policy)]) == 2
        err = capsys.readouterr().err
        assert message in err
        assert "no such file or folder" not in err


CHANGED = """
[lifecycle]
recurrence_count = 2
recurrence_window = 90

[cost_rates]
default_rate = "120"

[risks]
key_person_min_contacts = 1

[[playbook.stages.recurring_problems]]
id = "recurring.review"
text = "Review every delivery of the client with logistics."
who = "service_manager"
urgency = "high"
"""


class TestSameReport:
    def test_a_changed_file_gives_the_python_policies_report(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        """The CLI with a policy file writes the report of the same policies built in Python."""
        source = write_history(tmp_path / "history")
        policy = _write(tmp_path, CHANGED)
        python = ReportPolicies(
            lifecycle=LifecyclePolicy(recurrence_count=2, recurrence_window=timedelta(days=90)),
            cost_rates=CostRates(default_rate=Decimal("120")),
            risks=RiskPolicy(key_person_min_contacts=1),
            playbook=attrs.evolve(
                ReportPolicies().playbook,
                stages={
                    **ReportPolicies().playbook.stages,
                    "recurring_problems": (
                        Action(
                            "recurring.review",
                            "Review every delivery of the client with logistics.",
                            "service_manager",
                            "high",
                        ),
                    ),
                },
            ),
        )
        assert load_policies(policy) != python  # the file replaces the stages table whole
        stages = tomllib.loads(CHANGED)["playbook"]["stages"]
        assert set(load_policies(policy).playbook.stages) == set(stages)
        python = attrs.evolve(python, playbook=load_policies(policy).playbook)
        assert load_policies(policy) == python

        as_of = datetime.fromisoformat(AS_OF)
        portfolio = load_history(source).portfolio
        expected = "".join(
            iter_render(build_report(portfolio, as_of=as_of, tz=UTC, policies=python), "json")
        )
        default = "".join(iter_render(build_report(portfolio, as_of=as_of, tz=UTC), "json"))
        assert expected != default  # the file changes the report
        argv = ["report", str(source), "--as-of", AS_OF, "--format", "json"]
        assert main([*argv, "--policy", str(policy)]) == 0
        assert capsys.readouterr().out == expected
        assert main(argv) == 0
        assert capsys.readouterr().out == default

    def test_column_flags_add_to_the_file_columns(
        self, tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        source = write_history(tmp_path / "history")
        policy = _write(tmp_path, "columns = []")
        argv = ["report", str(source), "--as-of", AS_OF, "--format", "csv", "--policy", str(policy)]
        assert main(argv) == 0
        assert "funnel_stage" not in capsys.readouterr().out.splitlines()[0]
        assert main([*argv, "--column", "relcycle.funnel:FUNNEL_COLUMN"]) == 0
        assert "funnel_stage" in capsys.readouterr().out.splitlines()[0]


# ----------------------------------------------------------------------- property

_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_ids = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=8)
_days = st.integers(1, 800).map(lambda d: timedelta(days=d))
_share = st.decimals(min_value=0, max_value=1, places=3)
_money = st.decimals(min_value=0, max_value=10_000, places=2)
_levels = st.dictionaries(st.sampled_from(list(Severity)), _days, max_size=4)
_window = st.none() | st.integers(1, 1000)


def _actions(keys: list[str], prefix: str) -> st.SearchStrategy[dict[str, list[Action]]]:
    """Actions per key; one id per action (an id names one action in a playbook)."""
    words = _text.filter(str.strip)
    fields = st.tuples(words, words, st.sampled_from(list(Urgency)))
    return st.dictionaries(st.sampled_from(keys), st.lists(fields, max_size=2)).map(
        lambda table: {
            key: [Action(f"{prefix}.{key}.{i}", *item) for i, item in enumerate(items)]
            for key, items in table.items()
        }
    )


_regularity = st.builds(
    RegularityPolicy,
    min_gaps=st.integers(1, 9),
    max_cv=_share,
    overdue_factor=st.decimals(min_value=0, max_value=5, places=2),
    window_days=_window,
)

_policies = st.builds(
    ReportPolicies,
    lifecycle=st.builds(
        LifecyclePolicy,
        recurrence_count=st.integers(2, 9),
        recurrence_window=_days,
        trouble_free_period=_days,
        service_levels=_levels,
        client_service_levels=st.dictionaries(_ids, _levels, max_size=2),
        sla_attribute_prefix=st.none() | _ids,
        rejection_memory=_days,
        late_orders_fail=st.booleans(),
        staff_complaints_monitor=st.booleans(),
        failures_recur_as=st.none() | st.sampled_from(list(ComplaintCategory)),
        reactivate_on_sale=st.booleans(),
        reactivation_sales=st.integers(1, 9),
        reactivation_window=_days,
        lapse_after=st.none() | _days,
        lapse_intervals=st.none() | st.decimals(min_value="0.5", max_value=12, places=1),
        lapse_min_silence=st.none() | _days,
        manager_left_min_contacts=st.integers(1, 9),
        strict=st.booleans(),
    ),
    ladder=st.builds(
        LadderPolicy,
        advocacy_purposes=st.frozensets(st.sampled_from(list(Purpose))),
        advocate_min_signals=st.integers(1, 9),
        expert_min_tenure=_days,
        hostile_stages=st.frozensets(st.sampled_from([s for s in Stage if s is not Stage.lost])),
    ),
    motivation=st.builds(
        MotivationPolicy,
        window_days=_window,
        attribute_rules=st.lists(
            st.builds(AttributeRule, _ids, _text, st.sampled_from(list(MotivationSegment))),
            max_size=2,
        ),
        lowest_price_min_discounted_share=_share,
        novelty_max_mean_order=st.none() | _money,
    ),
    regularity=_regularity,
    cost_rates=st.builds(
        CostRates,
        default_rate=st.none() | _money,
        employee_rates=st.dictionaries(_ids, _money, max_size=2),
        employee_roles=st.dictionaries(_ids, _ids, max_size=2),
        role_rates=st.dictionaries(_ids, _money, max_size=2),
        marketing_per_touch=st.none() | _money,
        currency=st.none() | st.sampled_from(["EUR", "USD"]),
    ),
    risks=st.builds(
        RiskPolicy,
        key_person_min_share=_share,
        key_person_window_days=_window,
        escalation_memory_days=st.integers(1, 999),
    ),
    playbook=st.builds(
        Playbook,
        segments=_actions([m.value for m in MotivationSegment], "segment"),
        stages=_actions(list(STAGES), "stage"),
        risks=_actions([f.value for f in RiskFlag], "risk"),
    ),
    losses=st.builds(LossPolicy, window_days=st.integers(1, 3650)),
    top_fraction=_share.filter(lambda d: d > 0),
    value_basis=st.sampled_from(list(ValueBasis)),
    priority=st.builds(
        PriorityPolicy,
        value_class_shift=st.dictionaries(st.sampled_from(list(ValueClass)), st.integers(-3, 3)),
    ),
    columns=st.sampled_from([(), (FUNNEL_COLUMN,)]),
)


@settings(max_examples=60, deadline=None)
@given(_policies)
def test_policies_round_trip_through_toml(policies: ReportPolicies) -> None:
    """policies_to_toml then load gives the same policies, for any valid policies."""
    text = policies_to_toml(policies)
    assert policies_from_mapping(tomllib.loads(text)) == policies
