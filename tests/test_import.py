"""Tests that ``import relcycle`` stays light and the command starts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import relcycle

HEAVY = (
    "hypothesis",
    "numpy",
    "pandas",
    "polars",
    "pyarrow",
    "dask",
    "distributed",
    "matplotlib",
    "rich",
    "relcycle.testing",
)


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    """Run ``code`` in a fresh interpreter of this environment."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def run_module(*args: str) -> subprocess.CompletedProcess[str]:
    """Run ``python -m relcycle`` with ``args``."""
    return subprocess.run(
        [sys.executable, "-m", "relcycle", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


class TestLightImport:
    """``import relcycle`` needs only attrs, dateutil and the standard library."""

    def test_no_heavy_module_is_imported(self) -> None:
        """A fresh ``import relcycle`` pulls in none of the optional dependencies."""
        code = (
            "import json, sys\n"
            "import relcycle\n"
            f"heavy = {HEAVY!r}\n"
            "print(json.dumps(sorted(m for m in sys.modules "
            "if m.split('.')[0] in heavy or m in heavy)))\n"
        )
        result = run_python(code)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == []

    def test_third_party_modules_are_only_attrs_and_dateutil(self) -> None:
        """Every non-stdlib top-level module loaded is attrs, dateutil or relcycle."""
        code = (
            "import json, sys\n"
            "before = set(sys.modules)\n"
            "import relcycle\n"
            "tops = {m.split('.')[0] for m in set(sys.modules) - before}\n"
            "print(json.dumps(sorted(t for t in tops "
            "if t not in sys.stdlib_module_names and not t.startswith('_'))))\n"
        )
        result = run_python(code)
        assert result.returncode == 0, result.stderr
        assert set(json.loads(result.stdout)) <= {"attr", "attrs", "dateutil", "relcycle", "six"}

    def test_the_testing_module_does_import_hypothesis(self) -> None:
        """relcycle.testing is where hypothesis comes in (the ``testing`` extra)."""
        result = run_python("import sys, relcycle.testing; print('hypothesis' in sys.modules)")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "True"

    def test_testing_imported_before_hypothesis_registers_its_strategies(self) -> None:
        """Importing relcycle.testing first (hypothesis runs the entry point mid-import) works."""
        code = (
            "import relcycle.testing\n"
            "import hypothesis.strategies as st\n"
            "from hypothesis import given, settings\n"
            "from relcycle import Order\n"
            "@settings(max_examples=5, database=None)\n"
            "@given(st.from_type(Order))\n"
            "def check(o):\n"
            "    assert isinstance(o, Order)\n"
            "check()\n"
            "print('ok')\n"
        )
        result = run_python(code)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == "ok"

    def test_only_the_core_loads_until_a_model_is_used(self) -> None:
        """``import relcycle`` loads the core; the report and models load on first use."""
        code = (
            "import json, sys\n"
            "import relcycle\n"
            "before = sorted(m for m in sys.modules if m.startswith('relcycle'))\n"
            "relcycle.build_report\n"
            "after = 'relcycle.report' in sys.modules\n"
            "print(json.dumps([before, after]))\n"
        )
        result = run_python(code)
        assert result.returncode == 0, result.stderr
        before, after = json.loads(result.stdout)
        assert "relcycle.report" not in before
        assert "relcycle.lifecycle" not in before
        assert "relcycle.model" in before
        assert after is True

    def test_every_exported_name_resolves(self) -> None:
        """Every name in ``relcycle.__all__`` is importable from the package."""
        missing = [name for name in relcycle.__all__ if not hasattr(relcycle, name)]
        assert missing == []
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            relcycle.nope  # noqa: B018

    def test_version_comes_from_the_package_metadata(self) -> None:
        """relcycle.__version__ is a non-empty version string."""
        assert isinstance(relcycle.__version__, str)
        assert relcycle.__version__[0].isdigit()


class TestCommand:
    """The ``relcycle`` command and ``python -m relcycle`` start and answer."""

    def test_module_help(self) -> None:
        """``python -m relcycle --help`` prints the usage and exits 0."""
        result = run_module("--help")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("usage: relcycle")

    def test_module_version(self) -> None:
        """``python -m relcycle --version`` prints the package version."""
        result = run_module("--version")
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"relcycle {relcycle.__version__}"

    def test_console_script_version(self) -> None:
        """The installed ``relcycle`` script prints the same version."""
        name = "relcycle.exe" if os.name == "nt" else "relcycle"
        script = Path(sys.executable).parent / name
        assert script.exists(), f"the console script is not installed next to {sys.executable}"
        result = subprocess.run(
            [str(script), "--version"], capture_output=True, text=True, timeout=120, check=False
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == f"relcycle {relcycle.__version__}"

    def test_no_command_prints_help_and_exits_2(self) -> None:
        """Without a subcommand the command shows its help and exits with 2 (usage)."""
        result = run_module()
        assert result.returncode == 2
        assert "usage: relcycle" in result.stdout + result.stderr
