"""Tests for the HTML report (relcycle.render.html), including a real headless browser."""

from __future__ import annotations

import csv
import html
import io
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import Iterator
from html import escape as _E
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from relcycle import Client, Complaint, Interaction, Order, build_portfolio
from relcycle.render import atomic_write, render
from relcycle.render.html import (
    CHARTS_EXTRA,
    at_risk,
    charts_available,
    pack,
    render_html,
    unpack,
    worsened,
)
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
        # the compressed data block is base64: any three letters can occur in it by chance
        text = re.sub(r'id="relcycle-data">[^<]*</script>', "", page)
        assert "cdn" not in text.lower()

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


def data_of(page: str) -> Any:
    """The client table's data block of a page, unpacked."""
    found = re.search(
        r'<script type="application/octet-stream" id="relcycle-data">([^<]*)</script>', page
    )
    assert found is not None
    return unpack(found.group(1))


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

    def test_captions_speak_of_the_domain(self, page: str) -> None:
        """No caption names the source texts' file names ("seed 003"): they speak of the domain."""
        assert "seed" not in page.lower()
        assert "motivation segmentation" in page

    def test_migration_matrices(self, page: str, report: Report) -> None:
        """With compare_to, the four migration matrices are HTML tables in scrollable boxes."""
        assert report.compare_to is not None
        assert f"Migrations since {report.compare_to.isoformat()}" in page
        assert page.count('<div class="scroll"><table class="matrix">') == 4

    def test_no_migrations_says_how(self, report: Report) -> None:
        """Without compare_to the page says which option adds the matrices and the lists."""
        single = render_html(build_report(small_portfolio()), charts=False)
        assert "--compare-to" in single
        assert "Worsened since" not in single
        tiles = single.split('<section class="kpis">')[1].split("</section>")[0]
        assert "since" not in tiles  # no delta without a compare date

    def test_every_client_is_in_the_data_block(self, page: str, report: Report) -> None:
        """Every client has a row and an explanation; evidence ids resolve to their records."""
        data = data_of(page)
        assert [row[0] for row in data["rows"]] == [c.client_id for c in at_risk(report)] + [
            "acme",
            "beta",
            "007",
        ]
        assert len(data["why"]) == len(report.clients)
        beta = [row[0] for row in data["rows"]].index("beta")
        _reason, stage_ids = data["why"][beta][1]
        assert "i6" in stage_ids  # beta's termination decides its stage
        kind, fields = data["records"]["i6"]
        assert kind == "interaction"
        assert ["purpose", "termination"] in fields
        assert ["reason", "competitor"] in fields
        order = dict(data["records"]["b1"][1])  # fields as the contract spells them
        assert order["amount"] == "300.50"
        assert order["placed_at"] == at(5).isoformat()
        assert order["discounted"] == "false"
        assert "client_id" not in order
        lifecycle_path = data["why"][beta][5]
        assert lifecycle_path[-1][2] == "lost"

    def test_rows_carry_manager_and_first_action(self, page: str, report: Report) -> None:
        """A row names the account manager and the actions, most urgent first."""
        data = data_of(page)
        acme = next(row for row in data["rows"] if row[0] == "acme")
        assert acme[2] == "m1"
        first = data["actions"][acme[17][0]]
        assert first[0] == report["acme"].actions[0].id
        assert data["managers"] == ["m1", "m2"]

    def test_previous_states_and_change(self, page: str, report: Report) -> None:
        """With compare_to, each row has its stage, rung, class and segment then, and the
        report's one-word change."""
        data = data_of(page)
        rows = {row[0]: row for row in data["rows"]}
        stages = data["enums"]["stage"]
        assert stages[rows["beta"][18][0]] == "satisfied"
        assert rows["beta"][18][2] == "A"
        assert rows["beta"][18][3] == report["beta"].previous.motivation_segment.value
        assert rows["beta"][19] == "worsened"
        assert rows["acme"][19] == report["acme"].change == "improved"
        assert rows["007"][18] is None  # no record yet at the compare date
        assert rows["007"][19] == "new"

    def test_the_data_block_is_deterministic(self, report: Report) -> None:
        """The same report renders to the same page, byte for byte."""
        assert render_html(report, charts=False) == render_html(report, charts=False)

    def test_key_lists_are_plain_html(self, page: str) -> None:
        """The at-risk and worsened lists need no script; the client table says it needs one."""
        assert '<table class="list cards" id="at-risk">' in page
        assert '<table class="list cards" id="worsened">' in page
        assert '<div class="controls" id="controls" hidden>' in page
        assert "<noscript>" in page

    def test_text_is_escaped(self) -> None:
        """Client names and ids are escaped, never injected as markup."""
        portfolio = build_portfolio(
            clients=[Client(client_id="x<1>", name="<script>alert(1)</script>")],
            orders=[Order(order_id="o1", client_id="x<1>", placed_at=at(1), amount="5")],
        )
        page = render_html(build_report(portfolio), charts=False)
        assert "<script>alert(1)</script>" not in page
        assert data_of(page)["rows"][0][1] == "<script>alert(1)</script>"  # escaped by the script
        assert "esc(r[NAME])" in page


class TestPack:
    @given(
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(),
            lambda inner: (
                st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4)
            ),
            max_leaves=20,
        )
    )
    def test_round_trip(self, payload: Any) -> None:
        """unpack(pack(x)) == x, and the block is plain ASCII (safe inside a script element)."""
        text = pack({"x": payload})
        assert text.isascii()
        assert "<" not in text
        assert unpack(text) == {"x": payload}
        assert pack({"x": payload}) == text  # no timestamp in the gzip header


class TestDecisions:
    def test_at_risk_most_valuable_first(self) -> None:
        """At risk: not lost, troubled or flagged; ordered by value class, then revenue."""
        portfolio = build_portfolio(
            orders=[
                Order(order_id=f"o{i}", client_id=f"c{i}", placed_at=at(i), amount=str(10 * i))
                for i in range(1, 11)
            ],
            complaints=[
                Complaint(
                    complaint_id=f"k{i}{j}",
                    client_id=f"c{i}",
                    opened_at=at(20 + j),
                    category="delivery",
                    client_loss="5",
                )
                for i in (2, 5, 9)
                for j in range(3)
            ],
        )
        report = build_report(portfolio, as_of=at(40))
        found = at_risk(report)
        assert [c.client_id for c in found] == ["c9", "c5", "c2"]
        assert [c.value_class.rank for c in found] == sorted(c.value_class.rank for c in found)
        assert all(c.lifecycle_stage.value != "lost" for c in found)

    def test_at_risk_list(self, page: str, report: Report) -> None:
        """The list shows the client, its manager, class, revenue and first action."""
        section = page.split('id="at-risk"')[1].split("</table>")[0]
        gamma = report["gamma"]
        assert 'data-client="gamma"' in section
        assert ">m1<" in section
        assert _E(gamma.actions[0].text) in section
        assert "overdue complaint" in section
        assert 'data-client="beta"' not in section  # lost: past saving, not at risk

    def test_at_risk_list_is_capped(self) -> None:
        """Beyond ``top`` the list shows the most valuable and says how many there are."""
        portfolio = build_portfolio(
            orders=[
                Order(order_id=f"o{i}", client_id=f"c{i:02}", placed_at=at(i), amount=str(i))
                for i in range(1, 31)
            ],
            interactions=[
                Interaction(
                    interaction_id=f"u{i}", client_id=f"c{i:02}", at=at(i + 1), purpose="ultimatum"
                )
                for i in range(1, 31)
            ],
        )
        page = render_html(build_report(portfolio), charts=False, top=5)
        section = page.split('id="at-risk"')[1].split("</table>")[0]
        assert section.count("data-client=") == 5
        assert "The first 5 of 30" in page
        assert 'data-client="c30"' in section  # the largest first
        assert len(data_of(page)["rows"]) == 30  # the table holds every client

    def test_worsened(self, report: Report) -> None:
        """Worse: a more severe stage, a lower rung, a lower class; each change is named."""
        assert worsened(report) == {
            "beta": [("lifecycle_stage", "satisfied", "lost"), ("value_class", "A", "B")],
            "gamma": [
                ("lifecycle_stage", "voicing_discontent", "monitoring_failures"),
                ("ladder_rung", "buyer", "adversary"),
            ],
        }
        assert worsened(build_report(small_portfolio())) == {}

    def test_worsened_list(self, page: str, report: Report) -> None:
        """The page lists the clients that got worse since the compare date, by value."""
        assert report.compare_to is not None
        assert f"Worsened since {report.compare_to.date().isoformat()}" in page
        section = page.split('id="worsened"')[1].split("</table>")[0]
        assert section.index('data-client="beta"') < section.index('data-client="gamma"')
        assert "lifecycle stage: satisfied &rarr; lost" in section
        assert "ladder rung: buyer &rarr; adversary" in section

    def test_key_figures_with_deltas(self, page: str, report: Report) -> None:
        """Each count tile shows its change since the compare date (then: the clients with
        records by then, evaluated then)."""
        assert report.compare_to is not None
        since = report.compare_to.date().isoformat()
        then = build_report(small_portfolio(), as_of=report.compare_to)
        present = [c for c in then.clients if c.orders or c.contacts]
        then_lost = sum(c.lifecycle_stage.value == "lost" for c in present)
        then_a = sum(c.value_class.value == "A" for c in present)
        now_lost = report.summary["lifecycle_stage"]["lost"]
        now_a = report.summary["value_class"]["A"]
        tiles = page.split('<section class="kpis">')[1].split("</section>")[0]
        assert (
            f'<span>lost</span><i class="worse">{now_lost - then_lost:+,} since {since}</i>'
            in tiles
        )
        assert f"{now_a - then_a:+,} since {since}</i>" in tiles
        assert now_lost - then_lost == 1
        assert now_a - then_a == -1


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
        assert len(data_of(page)["rows"]) == len(report.clients)
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


def _png_size(png: Path) -> tuple[int, int]:
    """A PNG's (width, height), from its header."""
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def _distinct_colours(png: Path, x0: int = 0, x1: int | None = None) -> int:
    """Distinct RGB colours on a grid of the image's pixels in columns ``x0:x1``
    (matplotlib decodes faster; the standard library does it too)."""
    try:
        from matplotlib.image import imread
    except ImportError:
        pass
    else:
        grid = imread(png)[::4, x0:x1:2, :3]
        return len({bytes(p) for p in (grid * 255).round().astype("uint8").reshape(-1, 3)})
    width, _height, rows = _png_pixels(png.read_bytes())
    channels = len(rows[0]) // width
    end = width if x1 is None else x1
    colours: set[bytes] = set()
    for row in rows[::4]:
        for x in range(x0 * channels, end * channels, channels * 2):
            colours.add(row[x : x + 3])
    return len(colours)


#: Appended to a copy of the page by the browser tests: once the client table is built, it
#: exercises the page as a user would (open a client, open an evidence record, filter by
#: value class, download the CSV) and posts what it saw to the frame around the page,
#: which writes it into attributes of its <html> for ``--dump-dom`` to print.
_PROBE = """
<script>
(function(){
  var out=document.documentElement,tries=0;
  function note(k,v){window.parent.postMessage([k,String(v)],'*');}
  var downloads=0;
  URL.createObjectURL=function(blob){var n=++downloads;
    blob.text().then(function(t){note('csv-'+n,t);});return 'blob:probe';};
  var click=HTMLAnchorElement.prototype.click;
  HTMLAnchorElement.prototype.click=function(){
    if(!this.hasAttribute('download')){return click.call(this);}};
  var timer=setInterval(function(){
    var controls=document.getElementById('controls');
    if(controls.hidden){if(++tries>400){clearInterval(timer);note('state','timeout');}return;}
    clearInterval(timer);
    note('viewport',document.documentElement.clientWidth);
    note('shown',document.getElementById('shown').textContent);
    note('rows',document.querySelectorAll('#clients tbody tr').length);
    note('width',document.documentElement.scrollWidth);
    note('matrices',JSON.stringify(Array.prototype.map.call(
      document.querySelectorAll('.scroll>table.matrix'),function(t){
        var box=t.parentNode,r=box.getBoundingClientRect();
        return [getComputedStyle(box).overflowX,Math.round(r.right)];})));
    document.querySelector('#at-risk a[data-client]').click();
    note('dialog',document.getElementById('detail').open);
    var rec=document.querySelector('#detail a.rec');
    if(rec){rec.click();note('record',document.getElementById('record').textContent);}
    document.getElementById('detail-close').click();
    note('closed',!document.getElementById('detail').open);
    document.getElementById('csv').click();
    var sel=document.getElementById('f-class');
    sel.value='A';sel.dispatchEvent(new Event('change'));
    note('shown-a',document.getElementById('shown').textContent);
    document.getElementById('csv').click();
    note('state','done');
  },25);
})();
</script>
"""


@pytest.fixture(scope="module")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The headless Chromium binary; the test skips when there is none or it cannot start."""
    binary = _browser()
    if binary is None:
        pytest.skip("headless Chromium is not installed (Debian: chromium)")
    try:
        probe = _chromium(
            binary, tmp_path_factory.mktemp("probe"), "--dump-dom", "data:text/html,<p>ok</p>"
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        pytest.skip(f"headless Chromium cannot start: {exc}")
    if probe.returncode != 0 or "<p>ok</p>" not in probe.stdout:
        last = (probe.stderr.strip().splitlines() or ["no message"])[-1]
        pytest.skip(f"headless Chromium cannot start (exit {probe.returncode}): {last}")
    return binary


@pytest.fixture(scope="module")
def demo_report() -> Report:
    """A simulated portfolio of 300 clients (more than a page of the table), compared,
    and a client whose name a spreadsheet would run as a formula."""
    from datetime import timedelta

    from relcycle.simulate import simulate_portfolio

    sim = simulate_portfolio(300, seed=0)
    portfolio = build_portfolio(
        clients=[*sim.clients, Client(client_id="Z-FORMULA", name='=HYPERLINK("http://x")')],
        orders=[
            *sim.orders,
            Order(order_id="z1", client_id="Z-FORMULA", placed_at=sim.as_of, amount="10"),
        ],
        interactions=sim.interactions,
        complaints=sim.complaints,
    )
    return build_report(portfolio, as_of=sim.as_of, compare_to=sim.as_of - timedelta(days=182))


#: Headless Chromium lays a page out at least this wide, whatever the window size.
MIN_WINDOW = 500


def _framed(tmp_path: Path, page: str, width: int, height: int) -> Path:
    """The page in a frame ``width`` px wide (a phone's width is below the least window).

    The frame's left, the rest of the window white; the frame passes the probe's
    messages on to its own <html>.
    """
    (tmp_path / "report.html").write_text(page, encoding="utf-8")
    frame = tmp_path / f"frame-{width}.html"
    frame.write_text(
        '<!DOCTYPE html><html><body style="margin:0;background:#fff">'
        f'<iframe src="report.html" style="border:0;display:block;width:{width}px;'
        f'height:{height}px"></iframe><script>addEventListener("message",function(e){{'
        'document.documentElement.setAttribute("data-probe-"+e.data[0],e.data[1]);});'
        "</script></body></html>",
        encoding="utf-8",
    )
    return frame


def _probed(binary: str, tmp_path: Path, report: Report, width: int) -> dict[str, str]:
    """Load the page with the probe in a ``width`` px frame; the probe's findings by name."""
    page = render_html(report).replace("</body>", _PROBE + "</body>")
    frame = _framed(tmp_path, page, width, 1200)
    dom = _chromium(
        binary,
        tmp_path / f"profile-{width}",
        f"--window-size={max(width, MIN_WINDOW)},1200",
        "--virtual-time-budget=20000",
        "--hide-scrollbars",
        "--dump-dom",
        frame.resolve().as_uri(),
    )
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert _console_errors(dom.stderr) == []
    head = dom.stdout[: dom.stdout.index(">", dom.stdout.index("<html"))]
    return {k: html.unescape(v) for k, v in re.findall(r'data-probe-([a-z0-9-]+)="([^"]*)"', head)}


@pytest.mark.browser
class TestInChromium:
    def test_the_page_works_at_1400_px(
        self, chromium: str, tmp_path: Path, demo_report: Report
    ) -> None:
        """The table is built from the data block, paged, filtered; a client and a record open;
        the CSV holds the filtered rows; the matrices scroll inside their boxes."""
        seen = _probed(chromium, tmp_path, demo_report, 1400)
        n = len(demo_report.clients)
        assert seen["state"] == "done"
        assert seen["viewport"] == "1400"
        assert seen["shown"] == f"{n} of {n} clients"
        assert seen["rows"] == "100"  # one page
        assert int(seen["width"]) <= 1400
        matrices = json.loads(seen["matrices"])
        assert len(matrices) == 4
        assert all(overflow == "auto" and right <= 1400 for overflow, right in matrices)
        assert seen["dialog"] == "true"
        assert seen["closed"] == "true"
        assert seen["record"].split()[0] in ("order", "interaction", "complaint")
        class_a = [c for c in demo_report.clients if c.value_class.value == "A"]
        assert seen["shown-a"] == f"{len(class_a)} of {n} clients"
        every = list(csv.reader(io.StringIO(seen["csv-1"])))
        assert len(every) == n + 1
        formula = next(row for row in every if row[0] == "Z-FORMULA")
        assert formula[1] == '\'=HYPERLINK("http://x")'  # inert in a spreadsheet
        lines = list(csv.reader(io.StringIO(seen["csv-2"])))
        assert lines[0][:4] == ["client_id", "name", "account_manager", "lifecycle_stage"]
        assert lines[0][-2:] == ["previous_value_class", "change"]
        assert len(lines) == len(class_a) + 1
        assert {row[7] for row in lines[1:]} == {"A"}
        assert {row[0] for row in lines[1:]} == {c.client_id for c in class_a}
        first = demo_report[lines[1][0]]
        assert lines[1][17] == str(first.revenue.amount)  # money exact, as in the data

    def test_no_horizontal_overflow_at_390_px(
        self, chromium: str, tmp_path: Path, demo_report: Report
    ) -> None:
        """On a phone-sized window the page does not scroll sideways (wide tables scroll
        inside their own boxes)."""
        seen = _probed(chromium, tmp_path, demo_report, 390)
        assert seen["state"] == "done"
        assert seen["viewport"] == "390"
        assert int(seen["width"]) <= 390
        assert seen["dialog"] == "true"

    @pytest.mark.parametrize("width", [1400, 390])
    def test_screenshot(
        self, chromium: str, tmp_path: Path, demo_report: Report, width: int
    ) -> None:
        """A screenshot of the page in a ``width`` px frame: the window's size, a page that is
        not blank, and nothing drawn right of the frame."""
        frame = _framed(tmp_path, render_html(demo_report), width, 2000)
        window = max(width, MIN_WINDOW)
        shot = tmp_path / f"report-{width}.png"
        done = _chromium(
            chromium,
            tmp_path / "profile-shot",
            f"--screenshot={shot}",
            f"--window-size={window},2000",
            "--virtual-time-budget=20000",
            "--hide-scrollbars",
            frame.resolve().as_uri(),
        )
        assert done.returncode == 0, done.stderr[-2000:]
        assert _console_errors(done.stderr) == []
        assert _png_size(shot) == (window, 2000)
        assert _distinct_colours(shot, 0, width) > (50 if charts_available() else 8)
        if window > width:
            assert _distinct_colours(shot, width) == 1  # white: the frame holds it all


@pytest.mark.skipif(not charts_available(), reason="needs the html extra (matplotlib)")
def test_the_pages_shares_agree() -> None:
    """The Pareto chart's mark and the key-figure tile say the same share (issue 15).

    Seven clients: the top 20% is ceil(1.4) = 2 clients (80% of revenue), not
    round(1.4) = 1 (50%), in the summary, the tile and the chart alike.
    """
    amounts = ["50", "30", "10", "4", "3", "2", "1"]
    orders = [
        Order(order_id=f"o{i}", client_id=f"c{i}", placed_at=at(i), amount=a)
        for i, a in enumerate(amounts)
    ]
    report = build_report(build_portfolio(orders=orders))
    assert report.summary["top_share"] == 0.8
    page = render_html(report)
    tile = re.search(r"<b>([^<]*)</b><span>of revenue held by the top ([^<]*) of clients", page)
    assert tile is not None
    chart = re.search(r"top (\d+%) hold (\d+%)", page)
    assert chart is not None
    assert (tile.group(1), tile.group(2)) == ("80%", "20%")
    assert (chart.group(2), chart.group(1)) == ("80%", "20%")
    assert "top 20% of clients hold 80% of revenue" in render(report, "table")
