"""The commands and code the README and the data pages show run as written.

Each page runs in a scratch folder, top to bottom: a ``{code-block}`` with a
``:caption:`` naming a path is written to that path, ``python`` blocks are run,
and ``console`` blocks are run as ``relcycle`` commands whose output (stdout and
stderr, in order) must be the lines shown (a ``...`` line stands for any lines).
"""

from __future__ import annotations

import contextlib
import io
import re
import shlex
import tomllib
from pathlib import Path

import pytest

from relcycle.cli import main

ROOT = Path(__file__).resolve().parent.parent
FENCE = re.compile(r"^```(\{code-block\} )?(\w+)\n((?::\w+: [^\n]*\n)*)\n?(.*?)^```$", re.M | re.S)

#: Folders the pages' examples read, filled with a small simulated history.
FIXTURES = ("data", "exports/2026-06")


def blocks(page: Path) -> list[tuple[str, dict[str, str], str]]:
    """The page's fenced blocks: (language, options, text), in order."""
    out = []
    for match in FENCE.finditer(page.read_text(encoding="utf-8")):
        options = dict(
            re.findall(r"^:(\w+): (.*)$", match.group(3), re.M) if match.group(3) else []
        )
        out.append((match.group(2), options, match.group(4)))
    return out


def run_console(block: str) -> None:
    """Run each ``$ relcycle ...`` line and compare its output with the lines shown."""
    lines = block.splitlines()
    starts = [i for i, line in enumerate(lines) if line.startswith("$ ")]
    for n, start in enumerate(starts):
        end = starts[n + 1] if n + 1 < len(starts) else len(lines)
        argv = shlex.split(lines[start][2:])
        assert argv[0] == "relcycle", lines[start]
        captured = io.StringIO()
        with contextlib.redirect_stdout(captured), contextlib.redirect_stderr(captured):
            main(argv[1:])
        assert_lines(captured.getvalue().splitlines(), lines[start + 1 : end], lines[start])


def assert_lines(got: list[str], shown: list[str], command: str) -> None:
    """``got`` matches ``shown``, where a ``...`` line matches any run of lines."""
    pattern = "\n".join(".*?" if s == "..." else re.escape(s) for s in shown)
    pattern = pattern.replace("\n.*?\n", "(?:\n.*?)?\n")
    text = "\n".join(got)
    assert re.fullmatch(pattern, text, re.S), f"{command}\n--- got:\n{text}\n--- shown:\n" + (
        "\n".join(shown)
    )


def run_page(page: Path) -> int:
    """Run a page's blocks in the current folder; return how many ran."""
    namespace: dict[str, object] = {"__name__": "docs"}
    ran = 0
    for i, (language, options, text) in enumerate(blocks(page)):
        if "caption" in options and "/" in options["caption"]:
            target = Path(options["caption"])
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        elif language == "python":
            exec(compile(text, f"{page.name}[{i}]", "exec"), namespace)
        elif language == "console":
            run_console(text)
        else:
            continue
        ran += 1
    return ran


@pytest.fixture
def scratch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A scratch folder holding the fixture histories, as the working directory."""
    from relcycle import simulate_portfolio, write_history

    history = simulate_portfolio(8, seed=2)
    for folder in FIXTURES:
        write_history(history, tmp_path / folder)
    monkeypatch.chdir(tmp_path)
    return tmp_path


class TestPages:
    @pytest.mark.parametrize(
        ("page", "count"), [("docs/byod.md", 11), ("docs/data.md", 2), ("docs/policies.md", 9)]
    )
    def test_page_runs(self, scratch: Path, page: str, count: int) -> None:
        """Every file, Python and console block of the page runs as shown."""
        pytest.importorskip("pandas")
        pytest.importorskip("pyarrow")
        assert run_page(ROOT / page) == count

    def test_readme_runs_twice(self, scratch: Path) -> None:
        """The README's Python blocks run, and run again in the same folder."""
        assert run_page(ROOT / "README.md") >= 2
        assert run_page(ROOT / "README.md") >= 2

    def test_shown_output_is_compared(self) -> None:
        """A console block whose output differs fails (the check can fail)."""
        with pytest.raises(AssertionError):
            run_console("$ relcycle diagram lifecycle\nstateDiagram-v3")
        run_console("$ relcycle diagram lifecycle\nstateDiagram-v2\n...")


class TestInstallCommands:
    def test_docs_command_upgrades_pip_before_groups(self) -> None:
        """--group needs pip 25.1: the README's docs command upgrades pip first, and CI runs it."""
        readme = (ROOT / "README.md").read_text(encoding="utf-8")
        lines = readme.splitlines()
        start = lines.index("**Build the documentation:**")
        command = next(line for line in lines[start:] if line.startswith("python3 -m venv"))
        assert command.index("pip install -U pip") < command.index("--group docs")
        assert "sphinx-build -W" in command
        ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
        assert "Build the documentation:" in ci

    def test_docs_group_has_what_the_api_page_imports(self) -> None:
        """The API page documents relcycle.testing, so the docs group installs hypothesis."""
        groups = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
        docs = groups["dependency-groups"]["docs"]
        assert "relcycle.testing" in (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
        assert any(req.startswith("hypothesis") for req in docs)

    def test_no_page_installs_from_an_index(self) -> None:
        """relcycle is not on a package index: pages install extras from the checkout."""
        for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
            text = page.read_text(encoding="utf-8")
            for found in re.findall(r"pip install [\"']?relcycle\[", text):
                raise AssertionError(f"{page.name}: {found} (install '.[extra]' from the checkout)")
