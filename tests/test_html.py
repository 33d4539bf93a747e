"""Tests for the HTML report (relcycle.render.html), including a real headless browser."""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from relcycle import Client, Order, build_portfolio
from relcycle.render import atomic_write, render
from relcycle.render.html import CHARTS_EXTRA, charts_available, render_html
from relcycle.report import Report, build_report
from test_report import at, small_portfolio


@pytest.fixture(scope="module")
def report() -> Report:
    return build_report(small_portfolio(), compare_to=at(45))


@pytest.fixture(scope="module")
def page(report: Report) -> str:
    return render_html(report)


class TestSelfContained:
    def test_no_external_resource(self, page: str) -> None:
        """The page loads nothing from the network: no src/href to another document or host."""
        refs = re.findall(r'\b(?:src|href)\s*=\s*"([^"]*)"', page)
        assert all(ref.startswith(("#", "data:")) for ref in refs), refs
        assert '<link rel="stylesheet"' not in page
        assert "@import" not in page
        assert "url(http" not in page
        assert "cdn" not in page.lower()

    def test_one_document(self, page: str) -> None:
        """One HTML document with its style and script inline."""
        assert page.startswith("<!DOCTYPE html>")
        assert page.count("<html") == 1
        assert page.count("<style>") == 1
        assert page.count("<script>") == 1

    def test_ids_are_unique(self, page: str) -> None:
        """Element ids (including those inside the inline SVG charts) never repeat."""
        ids = re.findall(r'\bid="([^"]+)"', page)
        assert len(ids) == len(set(ids))


class TestContent:
    def test_charts_are_inline_svg(self, page: str) -> None:
        """With matplotlib, stage, ladder, segment map, Pareto, loss and funnel charts are SVG."""
        pytest.importorskip("matplotlib")
        assert len(re.findall(r'<svg [^>]*class="chart"', page)) == 6
        for title in (
            "Lifecycle stages",
            "Relationship ladder",
            "Segment map: contacts vs orders",
            "Pareto curve of revenue",
            "Why clients were lost",
        ):
            assert title in page

    def test_migration_matrices(self, page: str, report: Report) -> None:
        """With compare_to, the four migration matrices are HTML tables."""
        assert report.compare_to is not None
        assert f"Migrations since {report.compare_to.isoformat()}" in page
        assert page.count('<table class="matrix">') == 4

    def test_no_migrations_says_how(self, report: Report) -> None:
        """Without compare_to the page says which option adds the matrices."""
        single = build_report(small_portfolio())
        assert "--compare-to" in render_html(single, charts=False)

    def test_every_client_has_a_row_and_an_explanation(self, page: str, report: Report) -> None:
        """Each client has a table row and a <details> explanation with evidence ids."""
        assert page.count("<tr data-stage=") == len(report.clients)
        assert page.count("<summary>why</summary>") == len(report.clients)
        assert "<code>i6</code>" in page  # beta's termination decides its stage
        assert "&rarr; lost" in page  # and its lifecycle path shows the move

    def test_readable_without_javascript(self, page: str) -> None:
        """Filter controls only appear with JavaScript; the table is plain HTML."""
        assert '<div class="controls" id="controls" hidden>' in page
        assert '<table id="clients">' in page

    def test_text_is_escaped(self) -> None:
        """Client names and ids are escaped, never injected as markup."""
        portfolio = build_portfolio(
            clients=[Client(client_id="x<1>", name="<script>alert(1)</script>")],
            orders=[Order(order_id="o1", client_id="x<1>", placed_at=at(1), amount="5")],
        )
        page = render_html(build_report(portfolio), charts=False)
        assert "<script>alert(1)</script>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
        assert "x&lt;1&gt;" in page

    def test_large_portfolio_table_is_capped(self) -> None:
        """Beyond max_clients the table lists the most urgent clients and says so."""
        portfolio = build_portfolio(
            orders=[
                Order(order_id=str(i), client_id=f"c{i:03}", placed_at=at(i), amount=str(i))
                for i in range(1, 31)
            ]
        )
        page = render_html(build_report(portfolio), charts=False, max_clients=10)
        assert page.count("<tr data-stage=") == 10
        assert "10 of 30 clients" in page
        assert "c030" in page  # the largest first


class TestWithoutMatplotlib:
    def test_page_still_renders_and_names_the_extra(
        self, report: Report, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Without matplotlib the page has the tables and a note naming the html extra."""
        monkeypatch.setitem(sys.modules, "matplotlib", None)
        assert not charts_available()
        page = render_html(report)
        assert "<svg" not in page
        assert CHARTS_EXTRA in page
        assert page.count("<tr data-stage=") == len(report.clients)
        assert "lifecycle stage" in page  # the counts tables


class TestAtomicWrite:
    def test_failure_leaves_nothing(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """If the final rename fails, neither the target nor a temporary file remains."""
        target = tmp_path / "report.html"

        def broken(src: str, dst: object) -> None:
            raise OSError("disk full")

        monkeypatch.setattr(os, "replace", broken)
        with pytest.raises(OSError, match="disk full"):
            atomic_write(target, "<p>x</p>")
        assert list(tmp_path.iterdir()) == []

    def test_failure_while_rendering_leaves_the_old_file(self, tmp_path: Path) -> None:
        """If producing the chunks fails midway, the old output stays and no temp file remains."""
        target = tmp_path / "report.jsonl"
        target.write_text("old", encoding="utf-8")

        def chunks() -> Iterator[str]:
            yield "{}\n"
            raise RuntimeError("renderer failed")

        with pytest.raises(RuntimeError, match="renderer failed"):
            atomic_write(target, chunks())
        assert target.read_text(encoding="utf-8") == "old"
        assert [p.name for p in tmp_path.iterdir()] == ["report.jsonl"]

    def test_replaces_an_old_file(self, tmp_path: Path, report: Report) -> None:
        """An existing output is replaced whole."""
        target = tmp_path / "report.html"
        target.write_text("old", encoding="utf-8")
        atomic_write(target, render(report, "html"))
        assert target.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
        assert [p.name for p in tmp_path.iterdir()] == ["report.html"]

    def test_new_file_gets_the_usual_permissions(self, tmp_path: Path) -> None:
        """A new report is readable like any new file (umask), not private like a temp file."""
        old = os.umask(0o022)
        try:
            atomic_write(tmp_path / "report.html", "<p>x</p>")
        finally:
            os.umask(old)
        assert (tmp_path / "report.html").stat().st_mode & 0o777 == 0o644

    def test_replaced_file_keeps_its_permissions(self, tmp_path: Path) -> None:
        """Replacing an output keeps the permissions the user gave the old file."""
        target = tmp_path / "report.html"
        target.write_text("old", encoding="utf-8")
        target.chmod(0o640)
        atomic_write(target, "<p>new</p>")
        assert target.stat().st_mode & 0o777 == 0o640


# --------------------------------------------------------------------------- browser


def _browser() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _chromium(binary: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            binary,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--enable-logging=stderr",
            "--v=0",
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _console_errors(stderr: str) -> list[str]:
    """Console output of the page (Chromium logs every console message as ``CONSOLE``).

    The page logs nothing, so any console line is a failure: an error, a warning,
    an uncaught exception.
    """
    return [line for line in stderr.splitlines() if "CONSOLE" in line or "Uncaught" in line]


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB/RGBA PNG with the standard library: (width, height, rows)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos = 8
    idat = b""
    width = height = channels = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", body[:10])
            assert depth == 8
            channels = {2: 3, 6: 4}[colour]
        elif kind == b"IDAT":
            idat += body
    raw = zlib.decompress(idat)
    stride = width * channels
    rows: list[bytes] = []
    previous = bytearray(stride)
    for y in range(height):
        start = y * (stride + 1)
        kind = raw[start]
        line = bytearray(raw[start + 1 : start + 1 + stride])
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up = previous[i]
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + ((left + up) >> 1)) & 0xFF
            elif kind == 4:
                upleft = previous[i - channels] if i >= channels else 0
                p = left + up - upleft
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - upleft)
                pred = left if pa <= pb and pa <= pc else (up if pb <= pc else upleft)
                line[i] = (line[i] + pred) & 0xFF
        rows.append(bytes(line))
        previous = line
    return width, height, rows


def _distinct_colours(png: Path) -> int:
    """Distinct RGB colours on a grid of the image's pixels (matplotlib decodes faster)."""
    try:
        from matplotlib.image import imread
    except ImportError:
        pass
    else:
        grid = imread(png)[::4, ::2, :3]
        return len({bytes(p) for p in (grid * 255).round().astype("uint8").reshape(-1, 3)})
    width, _height, rows = _png_pixels(png.read_bytes())
    channels = len(rows[0]) // width
    colours: set[bytes] = set()
    for row in rows[::4]:
        for x in range(0, len(row), channels * 2):
            colours.add(row[x : x + 3])
    return len(colours)


@pytest.mark.browser
class TestInChromium:
    def test_page_loads_without_errors_and_is_not_blank(
        self, tmp_path: Path, report: Report
    ) -> None:
        """Headless Chromium loads the page offline with no console error; the shot has colour."""
        binary = _browser()
        if binary is None:
            pytest.skip("headless Chromium is not installed (Debian: chromium)")
        page = tmp_path / "report.html"
        page.write_text(render_html(report), encoding="utf-8")
        url = page.resolve().as_uri()

        dom = _chromium(binary, tmp_path / "profile-dom", "--dump-dom", url)
        assert dom.returncode == 0, dom.stderr[-2000:]
        assert _console_errors(dom.stderr) == []
        # the script ran: the filter controls are shown and count the rows
        assert 'id="controls" hidden' not in dom.stdout
        assert f"{len(report.clients)} shown" in dom.stdout

        shot = tmp_path / "report.png"
        done = _chromium(
            binary,
            tmp_path / "profile-shot",
            f"--screenshot={shot}",
            "--window-size=1400,2000",
            "--hide-scrollbars",
            url,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert _console_errors(done.stderr) == []
        assert shot.exists()
        if charts_available():
            assert _distinct_colours(shot) > 50
        else:
            assert _distinct_colours(shot) > 8
