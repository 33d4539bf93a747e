"""The documentation's examples run and say what the library does."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _run_markdown(path: Path) -> None:
    """Execute a page's Python blocks in order; blocks with ``>>>`` are doctests."""
    namespace: dict[str, object] = {"__name__": "docs"}
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for i, block in enumerate(FENCE.findall(path.read_text(encoding="utf-8"))):
        if ">>>" in block:
            test = parser.get_doctest(block, namespace, f"{path.name}[{i}]", str(path), 0)
            runner.run(test, clear_globs=False)
        else:
            exec(compile(block, f"{path.name}[{i}]", "exec"), namespace)
    results = runner.summarize(verbose=False)
    assert results.failed == 0, f"{results.failed} example(s) in {path.name} failed"


class TestExamples:
    @pytest.mark.parametrize(
        "page",
        [
            "docs/tutorial.md",
            "docs/tutorial-own-machine.md",
            "docs/lifecycle.md",
            "docs/ladder.md",
            "docs/segmentation.md",
            "docs/report.md",
            "README.md",
        ],
    )
    def test_page_examples_run(
        self, page: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Every Python example on the page runs and prints what the page shows."""
        monkeypatch.chdir(tmp_path)  # examples may write files
        _run_markdown(ROOT / page)

    def test_lifetimes_tutorial_runs(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """The pandas -> relcycle -> lifetimes tutorial runs (when lifetimes is installed)."""
        pytest.importorskip("pandas")
        pytest.importorskip("pyarrow")
        pytest.importorskip("lifetimes")
        monkeypatch.chdir(tmp_path)
        _run_markdown(ROOT / "docs" / "tutorial-lifetimes.md")


class TestReadme:
    def test_ci_runs_the_readme_test_command(self) -> None:
        """CI extracts and runs the very test command the README gives a new user."""
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
        lines = readme.splitlines()
        start = lines.index("**Run the tests:**")
        command = next(line for line in lines[start:] if line.startswith("python3 -m venv"))
        assert "pytest" in command
        assert "Run the tests:" in ci
        assert 'bash -c "${test_cmd//.venv/$venv}"' in ci

    def test_readme_opens_with_two_commands(self) -> None:
        """The README's first two code blocks are the demo command and the test command."""
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        blocks = re.findall(r"```sh\n(.*?)```", readme, re.DOTALL)
        assert "relcycle demo" in blocks[0]
        assert "pytest" in blocks[1]
