"""The HTML report: one self-contained page a manager can open offline.

The page holds everything inline — styles, a few lines of vanilla JavaScript, and
the charts as SVG drawn by matplotlib (the ``html`` extra) — so it needs no
network and no CDN. Without JavaScript the page is still complete: the client
table is plain HTML and each client's explanation is a ``<details>`` element;
the script only adds sorting and filtering. Without matplotlib the page shows
the same figures as tables and says which extra adds the charts.

Sections: key figures; charts (stage distribution, ladder funnel, the
contacts-vs-orders segment map, the Pareto curve of revenue, loss reasons);
migration matrices (when the report compares two moments); the client table
with each client's explanation (why this stage, rung and segment, with the ids
of the records that decided them).
"""

from __future__ import annotations

import html
import io
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from relcycle.render.table import migration_text

if TYPE_CHECKING:
    from relcycle.report import ClientReport, Report

__all__ = [
    "CHARTS_EXTRA",
    "MAX_TABLE_CLIENTS",
    "PATH_STEPS",
    "charts_available",
    "render_fragment",
    "render_html",
]

#: The extra that installs the chart library.
CHARTS_EXTRA = "relcycle[html]"

#: The client table shows at most this many clients (the most urgent first).
MAX_TABLE_CLIENTS = 5000

#: Colours of the lifecycle stages, healthy to lost.
STAGE_COLOURS: tuple[str, ...] = (
    "#2e9e5b",
    "#9cc34a",
    "#f2c230",
    "#f29b30",
    "#e8682a",
    "#d63b2f",
    "#9c1f3a",
    "#4a4a57",
)

#: Colours of the ladder rungs, lowest first.
RUNG_COLOURS: tuple[str, ...] = (
    "#c0392b",
    "#e67e22",
    "#95a5a6",
    "#5dade2",
    "#2e86c1",
    "#1b4f72",
)

#: Colours of the motivation segments, by value.
SEGMENT_COLOURS: Mapping[str, str] = {
    "lowest_price": "#e67e22",
    "novelty": "#8e44ad",
    "belonging": "#2e86c1",
    "stability": "#27ae60",
    "unclassified": "#95a5a6",
}

_E = html.escape


def charts_available() -> bool:
    """True if matplotlib (the ``html`` extra) can be imported."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


# --------------------------------------------------------------------------- charts


def _svg(draw: Callable[[Any], None], prefix: str, *, size: tuple[float, float]) -> str:
    """Draw on a fresh matplotlib Figure and return it as inline SVG markup.

    Uses the object API (no pyplot, no global state); ids inside the SVG get
    ``prefix`` so several charts can share one page.
    """
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context(
        {
            "svg.fonttype": "none",
            "svg.hashsalt": "relcycle",
            "font.family": "sans-serif",
            "font.size": 10,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.edgecolor": "#8a8f98",
            "axes.labelcolor": "#333842",
            "xtick.color": "#5b616b",
            "ytick.color": "#5b616b",
        }
    ):
        fig = Figure(figsize=size, dpi=100, layout="constrained")
        draw(fig)
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", metadata={"Date": None, "Creator": "relcycle"})
    text = buffer.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}-\1"', text)
    text = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}-\1)", text)
    text = re.sub(r'href="#([^"]+)"', rf'href="#{prefix}-\1"', text)
    return re.sub(
        r'<svg([^>]*?) width="[^"]+" height="[^"]+"',
        r'<svg\1 class="chart" role="img" preserveAspectRatio="xMidYMid meet"',
        text,
        count=1,
    )


def _bar_chart(
    labels: Sequence[str],
    counts: Sequence[int],
    colours: Sequence[str],
    xlabel: str,
) -> Callable[[Any], None]:
    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        y = list(range(len(labels)))
        bars = ax.barh(y, counts, color=colours, height=0.7)
        ax.set_yticks(y, [lbl.replace("_", " ") for lbl in labels])
        ax.invert_yaxis()
        ax.set_xlabel(xlabel)
        ax.bar_label(bars, labels=[str(c) for c in counts], padding=3, fontsize=9)
        ax.margins(x=0.15)
        ax.xaxis.get_major_locator().set_params(integer=True)

    return draw


def _funnel(labels: Sequence[str], counts: Sequence[int]) -> Callable[[Any], None]:
    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        top = max(counts) if counts and max(counts) > 0 else 1
        y = list(range(len(labels)))
        lefts = [(top - c) / 2 for c in counts]
        ax.barh(y, counts, left=lefts, color=list(RUNG_COLOURS[: len(labels)]), height=0.82)
        for yi, c, lbl in zip(y, counts, labels, strict=True):
            ax.text(
                top / 2,
                yi,
                f"{lbl}  {c}",
                ha="center",
                va="center",
                fontsize=9,
                color="#1d2129" if c < top * 0.35 else "white",
                fontweight="bold",
            )
        ax.set_yticks([])
        ax.set_xticks([])
        ax.set_xlim(0, top)
        for side in ("left", "bottom"):
            ax.spines[side].set_visible(False)
        ax.set_title("highest rung on top", fontsize=9, color="#5b616b")

    return draw


def _segment_map(clients: Sequence[ClientReport]) -> Callable[[Any], None]:
    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        many = len(clients) > 2000
        for segment, colour in SEGMENT_COLOURS.items():
            xs = [c.contacts for c in clients if c.motivation_segment.value == segment]
            ys = [c.orders for c in clients if c.motivation_segment.value == segment]
            if not xs:
                continue
            ax.scatter(
                _jitter(xs, 0),
                _jitter(ys, 1),
                s=14,
                alpha=0.65,
                color=colour,
                edgecolors="none",
                label=f"{segment.replace('_', ' ')} ({len(xs)})",
                rasterized=many,
            )
        ax.set_xscale("symlog", linthresh=1)
        ax.set_yscale("symlog", linthresh=1)
        ax.set_xlabel("contacts (interactions)")
        ax.set_ylabel("orders (sales)")
        ax.grid(alpha=0.25)
        if clients:
            ax.legend(fontsize=8, frameon=False, loc="upper left")

    return draw


def _jitter(values: Sequence[int], salt: int) -> list[float]:
    """A small deterministic spread so equal counts do not hide each other."""
    return [
        v * (1 + 0.06 * (((i * 7919 + salt * 104729) % 97) / 97 - 0.5))
        for i, v in enumerate(values)
    ]


def _pareto(amounts: Sequence[Decimal], top_fraction: float) -> Callable[[Any], None]:
    def draw(fig: Any) -> None:
        ax = fig.add_subplot()
        ordered = sorted(amounts, reverse=True)
        total = sum(ordered, Decimal(0))
        n = len(ordered)
        stride = max(1, n // 800)
        xs = [0.0]
        ys = [0.0]
        running = Decimal(0)
        for i, a in enumerate(ordered, start=1):
            running += a
            if i % stride == 0 or i == n:
                xs.append(i / n)
                ys.append(float(running / total) if total else 0.0)
        ax.plot(xs, ys, color="#2e86c1", linewidth=2)
        ax.fill_between(xs, ys, color="#2e86c1", alpha=0.12)
        ax.plot([0, 1], [0, 1], color="#8a8f98", linestyle=":", linewidth=1)
        if n and total:
            k = max(1, round(n * top_fraction))
            share = float(sum(ordered[:k], Decimal(0)) / total)
            ax.axvline(k / n, color="#d63b2f", linewidth=1, linestyle="--")
            ax.annotate(
                f"top {top_fraction:.0%} hold {share:.0%}",
                xy=(k / n, share),
                xytext=(k / n + 0.08, max(0.1, share - 0.25)),
                arrowprops={"arrowstyle": "->", "color": "#d63b2f"},
                color="#d63b2f",
                fontsize=9,
            )
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1.02)
        ax.xaxis.set_major_formatter(_percent())
        ax.yaxis.set_major_formatter(_percent())
        ax.set_xlabel("share of clients, largest first")
        ax.set_ylabel("share of revenue")
        ax.grid(alpha=0.25)

    return draw


def _percent() -> Any:
    from matplotlib.ticker import PercentFormatter

    return PercentFormatter(xmax=1, decimals=0)


# --------------------------------------------------------------------------- page parts

_CSS = """
:root{--ink:#1d2129;--muted:#5b616b;--line:#e3e6eb;--bg:#f6f7f9;--card:#fff;--accent:#2e86c1}
*{box-sizing:border-box}
body{margin:0;color:var(--ink);background:var(--bg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{background:#1b2a3a;color:#fff;padding:22px 32px}
header h1{margin:0 0 4px;font-size:22px;font-weight:600}
header p{margin:0;color:#c5d0dc}
main{padding:20px 32px 40px;max-width:1500px;margin:0 auto}
h2{font-size:17px;margin:28px 0 12px}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.kpi b{display:block;font-size:22px;font-weight:600}
.kpi span{color:var(--muted);font-size:12px}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px;align-items:start}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px}
figure h3{margin:0 0 6px;font-size:14px}
figcaption{color:var(--muted);font-size:12px;margin-top:4px}
svg.chart{width:100%;height:auto;display:block}
.note{background:#fff8e1;border:1px solid #f2d27a;border-radius:8px;padding:10px 14px}
table{border-collapse:collapse;background:var(--card)}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
.counts{display:grid;grid-template-columns:repeat(auto-fit,minmax(220px,1fr));gap:12px;align-items:start}
.counts table{width:100%;border:1px solid var(--line);border-radius:8px}
.matrices{grid-template-columns:repeat(auto-fit,minmax(560px,1fr))}
figure{overflow-x:auto}
.matrix{font-size:12px}
.matrix th{white-space:normal}
.matrix td.d{font-weight:600;outline:1px solid #8a8f98}
.clients-wrap{overflow-x:auto;border:1px solid var(--line);border-radius:8px}
#clients{width:100%;font-size:13px}
#clients th[data-key]{cursor:pointer}
#clients th[aria-sort=ascending]::after{content:" \\25B2"}
#clients th[aria-sort=descending]::after{content:" \\25BC"}
.tag{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;color:#fff;
white-space:nowrap}
.risk{display:inline-block;padding:0 6px;margin:1px;border-radius:4px;font-size:11px;
background:#fdecea;color:#9c1f3a;border:1px solid #f5c2c0}
details summary{cursor:pointer;color:var(--accent)}
td.whycell{position:relative;white-space:nowrap}
details .why{white-space:normal;font-size:12px}
details[open] .why{position:absolute;right:4px;top:1.9em;width:min(680px,85vw);z-index:5;
background:#fff;border:1px solid #c9ced6;border-radius:8px;padding:8px 14px;
box-shadow:0 8px 28px rgba(20,30,45,.22)}
details .why p{margin:4px 0}
details .why ul{margin:2px 0 6px;padding-left:18px}
details .why .path{color:var(--muted)}
code{font-size:11px;background:#eef1f5;padding:0 3px;border-radius:3px}
.controls{display:flex;gap:10px;flex-wrap:wrap;margin:8px 0 10px}
.controls input,.controls select{padding:5px 8px;border:1px solid #c9ced6;border-radius:6px;
font:inherit}
footer{color:var(--muted);font-size:12px;padding:0 32px 30px;max-width:1500px;margin:0 auto}
"""

_JS = """
(function(){
  var table=document.getElementById('clients');
  if(!table){return;}
  var body=table.tBodies[0];
  var rows=Array.prototype.slice.call(body.rows);
  var controls=document.getElementById('controls');
  if(controls){controls.hidden=false;}
  var q=document.getElementById('q');
  var fs=document.getElementById('f-stage');
  var fg=document.getElementById('f-segment');
  var shown=document.getElementById('shown');
  function filter(){
    var text=(q.value||'').toLowerCase(), st=fs.value, sg=fg.value, n=0;
    rows.forEach(function(r){
      var ok=(!text||r.textContent.toLowerCase().indexOf(text)>=0)&&
        (!st||r.getAttribute('data-stage')===st)&&(!sg||r.getAttribute('data-segment')===sg);
      r.hidden=!ok; if(ok){n++;}
    });
    shown.textContent=n+' shown';
  }
  [q,fs,fg].forEach(function(el){el.addEventListener('input',filter);});
  Array.prototype.forEach.call(table.tHead.rows[0].cells,function(th,col){
    if(!th.hasAttribute('data-key')){return;}
    th.addEventListener('click',function(){
      var asc=th.getAttribute('aria-sort')!=='ascending';
      Array.prototype.forEach.call(table.tHead.rows[0].cells,function(o){o.removeAttribute('aria-sort');});
      th.setAttribute('aria-sort',asc?'ascending':'descending');
      var numeric=th.classList.contains('n')||th.hasAttribute('data-rank');
      rows.sort(function(a,b){
        var x=a.cells[col].getAttribute('data-v'), y=b.cells[col].getAttribute('data-v');
        var c=numeric?(parseFloat(x)-parseFloat(y)):(x<y?-1:(x>y?1:0));
        return asc?c:-c;
      });
      rows.forEach(function(r){body.appendChild(r);});
    });
  });
  filter();
})();
"""


def _kpis(report: Report) -> str:
    s = report.summary
    stages = s["lifecycle_stage"]
    troubled = sum(v for k, v in stages.items() if k not in ("satisfied", "lost"))
    cards = [
        (f"{s['clients']:,}", "clients"),
        (f"{Decimal(s['revenue']):,.0f} {s['currency']}", "revenue"),
        (
            "-" if s.get("top_share") is None else f"{s['top_share']:.0%}",
            f"of revenue held by the top {s['top_fraction']:.0%} of clients",
        ),
        (f"{stages.get('satisfied', 0):,}", "satisfied"),
        (f"{troubled:,}", "on the way to loss (stages 1-4)"),
        (f"{stages.get('lost', 0):,}", "lost"),
        (f"{sum(1 for c in report.clients if c.risks):,}", "with a risk flag"),
    ]
    if s.get("rejected_rows") is not None:
        cards.append((f"{s['rejected_rows']:,}", "input rows rejected"))
    return (
        '<section class="kpis">'
        + "".join(f'<div class="kpi"><b>{_E(v)}</b><span>{_E(t)}</span></div>' for v, t in cards)
        + "</section>"
    )


def _counts_table(title: str, counts: Mapping[str, int]) -> str:
    rows = "".join(
        f'<tr><td>{_E(k.replace("_", " "))}</td><td class="n">{v:,}</td></tr>'
        for k, v in counts.items()
    )
    return (
        f'<table><thead><tr><th>{_E(title)}</th><th class="n">clients</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _counts_section(report: Report) -> str:
    s = report.summary
    parts = [
        _counts_table("lifecycle stage", s["lifecycle_stage"]),
        _counts_table("ladder rung", s["ladder_rung"]),
        _counts_table("motivation segment", s["motivation_segment"]),
        _counts_table("value class", s["value_class"]),
        _counts_table("regularity", s["regularity"]),
        _counts_table("loss reason", s["loss_reasons"]),
        _counts_table("risk flag", s["risks"]),
    ]
    return '<section class="counts">' + "".join(parts) + "</section>"


def _figure(title: str, svg: str, caption: str) -> str:
    return f"<figure><h3>{_E(title)}</h3>{svg}<figcaption>{_E(caption)}</figcaption></figure>"


def _charts(report: Report) -> str:
    s = report.summary
    clients = report.clients
    stage_counts = s["lifecycle_stage"]
    rung_counts = s["ladder_rung"]
    losses = s["loss_reasons"]
    figures = [
        _figure(
            "Lifecycle stages",
            _svg(
                _bar_chart(
                    list(stage_counts), list(stage_counts.values()), STAGE_COLOURS, "clients"
                ),
                "stages",
                size=(6.0, 3.4),
            ),
            "Clients per stage of the dissatisfaction-to-loss lifecycle, healthy to lost.",
        ),
        _figure(
            "Relationship ladder",
            _svg(
                _funnel(list(rung_counts), list(rung_counts.values())),
                "ladder",
                size=(6.0, 3.4),
            ),
            "Clients per rung of the ladder, from expert (top) down to adversary.",
        ),
        _figure(
            "Segment map: contacts vs orders",
            _svg(_segment_map(clients), "segments", size=(6.0, 4.0)),
            "Each dot is a client, coloured by motivation segment (seed 003 reads the "
            "segments from the number of contacts and of orders). Log scales.",
        ),
        _figure(
            "Pareto curve of revenue",
            _svg(
                _pareto([c.revenue.amount for c in clients], float(s["top_fraction"])),
                "pareto",
                size=(6.0, 4.0),
            ),
            "Cumulative share of revenue against the share of clients, largest first; "
            "the dotted diagonal is an even spread.",
        ),
    ]
    if sum(losses.values()):
        figures.append(
            _figure(
                "Why clients were lost",
                _svg(
                    _bar_chart(
                        list(losses), list(losses.values()), ["#9c1f3a"] * len(losses), "clients"
                    ),
                    "losses",
                    size=(6.0, 3.0),
                ),
                "Loss reasons of the lost clients (the reason of their termination).",
            )
        )
    else:
        figures.append(
            _figure("Why clients were lost", "<p>No client is lost.</p>", "Loss reasons.")
        )
    return '<section class="grid">' + "".join(figures) + "</section>"


def _columns_section(report: Report, charts: bool) -> str:
    """The extra columns with a vocabulary (the sales funnel): clients per value.

    A bar chart per column when charts are drawn, else a table of the counts.
    """
    counts: Mapping[str, Mapping[str, int]] = report.summary.get("columns", {})
    if not counts:
        return ""
    parts = []
    for name, values in counts.items():
        title = name.replace("_", " ")
        if charts:
            svg = _svg(
                _bar_chart(
                    list(values), list(values.values()), ["#2e86c1"] * len(values), "clients"
                ),
                f"column-{name}",
                size=(6.0, 3.2),
            )
            parts.append(
                _figure(title, svg, f"Clients per {title}; each client's evidence is in its why.")
            )
        else:
            parts.append(_counts_table(title, values))
    return f'<h2>Extra columns</h2><section class="grid">{"".join(parts)}</section>'


def _matrix_html(name: str, matrix: Any) -> str:
    data = matrix.to_dict()
    order = [str(v) for v in data["order"]]
    if matrix.entered or matrix.left:
        order.append(next(k for k in data["counts"] if k not in order))  # "(absent)"
    counts = data["counts"]
    cells = [[int(counts.get(a, {}).get(b, 0)) for b in order] for a in order]
    peak = max((v for row in cells for v in row), default=0) or 1
    head = "".join(f'<th class="n">{_E(b.replace("_", " "))}</th>' for b in order)
    body = []
    for a, row in zip(order, cells, strict=True):
        tds = []
        for b, v in zip(order, row, strict=True):
            alpha = 0.08 + 0.62 * (v / peak) if v else 0
            style = f' style="background:rgba(46,134,193,{alpha:.2f})"' if v else ""
            cls = "n d" if a == b else "n"
            tds.append(f'<td class="{cls}"{style}>{v if v else ""}</td>')
        body.append(f"<tr><th>{_E(a.replace('_', ' '))}</th>{''.join(tds)}</tr>")
    caption = migration_text(name, matrix)
    return (
        f"<figure><h3>{_E(name.replace('_', ' '))}</h3>"
        f'<table class="matrix"><thead><tr><th>before \\ now</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
        f"<figcaption>{_E(caption)}</figcaption></figure>"
    )


def _migrations(report: Report) -> str:
    if report.migrations is None or report.compare_to is None:
        return (
            '<h2>Migrations</h2><p class="note">Run the report with <code>--compare-to '
            "T0</code> to see how clients moved between stages, rungs, segments and value "
            "classes since T0.</p>"
        )
    parts = [_matrix_html(name, m) for name, m in report.migrations.items()]
    return (
        f"<h2>Migrations since {_E(report.compare_to.isoformat())}</h2>"
        "<p>Rows: where clients stood then; columns: where they stand now; the diagonal "
        "(outlined) is no change.</p>"
        f'<section class="grid matrices">{"".join(parts)}</section>'
    )


def _ids(ids: Iterable[str]) -> str:
    shown = list(ids)
    if not shown:
        return ""
    more = ""
    if len(shown) > 12:
        more = f" and {len(shown) - 12} more"
        shown = shown[:12]
    return " " + " ".join(f"<code>{_E(i)}</code>" for i in shown) + _E(more)


#: The most recent state changes an explanation lists per machine.
PATH_STEPS = 5


def _path(title: str, steps: Sequence[Any]) -> str:
    """The latest state changes of a trajectory as a short list."""
    moves = [s for s in steps if s.source != s.target][-PATH_STEPS:]
    if not moves:
        return ""
    items = "".join(
        f"<li>{_E(s.at.date().isoformat())}: {_E(str(s.source.value))} &rarr; "
        f"{_E(str(s.target.value))} ({_E(str(s.event.value).replace('_', ' '))})"
        f"{_ids(s.record_ids)}</li>"
        for s in moves
    )
    return f'<p class="path">{_E(title)}</p><ul>{items}</ul>'


def _explanation(c: ClientReport) -> str:
    ev = c.evidence
    parts = [
        f"<p><b>Stage {_E(c.lifecycle_stage.value.replace('_', ' '))}</b>"
        + (f" since {_E(c.stage_since.date().isoformat())}" if c.stage_since else "")
        + f": {_E(ev['stage'].reason)}{_ids(ev['stage'].record_ids)}</p>",
        f"<p><b>Rung {_E(c.ladder_rung.value)}</b>: {_E(ev['rung'].reason)}"
        f"{_ids(ev['rung'].record_ids)}</p>",
        f"<p><b>Segment {_E(c.motivation_segment.value.replace('_', ' '))}</b>: "
        f"{_E(ev['segment'].reason)}"
        f"{_ids(ev['segment'].record_ids)}</p>",
    ]
    parts.append(_path("Lifecycle path (latest changes)", c.lifecycle.trajectory.steps))
    parts.append(_path("Ladder path (latest changes)", c.ladder.trajectory.steps))
    for risk in c.risks:
        parts.append(
            f"<p><b>Risk {_E(risk.flag.value.replace('_', ' '))}</b>: {_E(risk.evidence.reason)}"
            f"{_ids(risk.evidence.record_ids)}</p>"
        )
    for name, cell in c.columns.items():
        parts.append(
            f"<p><b>{_E(name.replace('_', ' '))} {_E(str(cell.value))}</b>: "
            f"{_E(cell.evidence.reason)}{_ids(cell.evidence.record_ids)}</p>"
        )
    if c.actions:
        items = "".join(f"<li>{_E(a.text)}</li>" for a in c.actions)
        parts.append(f"<p><b>Recommended</b></p><ul>{items}</ul>")
    return '<details><summary>why</summary><div class="why">' + "".join(parts) + "</div></details>"


def _tag(text: str, colour: str) -> str:
    return f'<span class="tag" style="background:{colour}">{_E(text.replace("_", " "))}</span>'


def _client_rows(clients: Sequence[ClientReport]) -> str:
    rows = []
    for c in clients:
        stage = c.lifecycle_stage
        rung = c.ladder_rung
        seg = c.motivation_segment.value
        rfm = c.rfm
        profit = "" if c.profit is None else f"{c.profit.amount:,.2f}"
        cells = [
            f'<td data-v="{_E(c.client_id)}">{_E(c.client_id)}'
            + (f"<br><small>{_E(c.name)}</small>" if c.name else "")
            + "</td>",
            f'<td data-v="{stage.rank}">{_tag(stage.value, STAGE_COLOURS[stage.rank])}'
            + (f"<br><small>{_E(c.loss_reason.value)}</small>" if c.loss_reason else "")
            + "</td>",
            f'<td data-v="{rung.rank}">{_tag(rung.value, RUNG_COLOURS[rung.rank])}</td>',
            f'<td data-v="{_E(seg)}">{_tag(seg, SEGMENT_COLOURS.get(seg, "#95a5a6"))}</td>',
            f'<td data-v="{_E(c.value_class.value)}">{_E(c.value_class.value)}</td>',
            f'<td data-v="{_E(c.regularity.value)}">'
            f"{_E(c.regularity.value.replace('_', ' '))}</td>",
            f'<td data-v="{rfm.r or 0}{rfm.f or 0}{rfm.m or 0}">'
            + (
                "-"
                if rfm.r is None
                else f"{rfm.r}{rfm.f}{rfm.m}<br><small>{_E(rfm.segment or '')}</small>"
            )
            + "</td>",
            f'<td class="n" data-v="{c.orders}">{c.orders:,}</td>',
            f'<td class="n" data-v="{c.contacts}">{c.contacts:,}</td>',
            f'<td class="n" data-v="{c.requests}">{c.requests:,}</td>',
            f'<td class="n" data-v="{c.complaints_open}">{c.complaints_open:,}</td>',
            f'<td class="n" data-v="{c.revenue.amount}">{c.revenue.amount:,.2f}</td>',
            f'<td class="n" data-v="{"" if c.profit is None else c.profit.amount}">{profit}</td>',
            f'<td data-v="{len(c.risks)}">'
            + "".join(f'<span class="risk">{_E(f.replace("_", " "))}</span>' for f in c.risk_flags)
            + "</td>",
            f'<td class="whycell">{_explanation(c)}</td>',
        ]
        rows.append(
            f'<tr data-stage="{_E(stage.value)}" data-segment="{_E(seg)}">{"".join(cells)}</tr>'
        )
    return "\n".join(rows)


_HEADERS: tuple[tuple[str, str], ...] = (
    ("client", ""),
    ("stage", "data-rank"),
    ("rung", "data-rank"),
    ("segment", ""),
    ("class", ""),
    ("regularity", ""),
    ("RFM", "data-rank"),
    ("orders", "n"),
    ("contacts", "n"),
    ("requests", "n"),
    ("open complaints", "n"),
    ("revenue", "n"),
    ("profit", "n"),
    ("risks", "data-rank"),
)


def _urgency_key(c: ClientReport) -> tuple[int, int, Decimal, str]:
    lost = c.lifecycle_stage.value == "lost"
    return (int(lost), -c.lifecycle_stage.rank, -c.revenue.amount, c.client_id)


def _client_table(report: Report, limit: int) -> str:
    clients = list(report.clients)
    note = ""
    if len(clients) > limit:
        clients = sorted(clients, key=_urgency_key)[:limit]
        note = (
            f'<p class="note">The table shows {limit:,} of {len(report.clients):,} clients: '
            "the furthest along the lifecycle and the largest first. Every client is in "
            "the JSON, JSON Lines and CSV formats.</p>"
        )
    heads = []
    for label, kind in _HEADERS:
        attrs_ = ' data-key="1"'
        if kind == "n":
            attrs_ += ' class="n"'
        elif kind == "data-rank":
            attrs_ += " data-rank"
        heads.append(f"<th{attrs_}>{_E(label)}</th>")
    heads.append("<th>why</th>")
    stage_opts = "".join(
        f'<option value="{_E(k)}">{_E(k.replace("_", " "))}</option>'
        for k in report.summary["lifecycle_stage"]
    )
    seg_opts = "".join(
        f'<option value="{_E(k)}">{_E(k.replace("_", " "))}</option>'
        for k in report.summary["motivation_segment"]
    )
    controls = (
        '<div class="controls" id="controls" hidden>'
        '<input id="q" type="search" placeholder="filter clients..." aria-label="filter">'
        '<select id="f-stage" aria-label="stage"><option value="">every stage</option>'
        f"{stage_opts}</select>"
        '<select id="f-segment" aria-label="segment"><option value="">every segment</option>'
        f"{seg_opts}</select>"
        '<span id="shown"></span></div>'
    )
    return (
        f"<h2>Clients</h2>{note}{controls}"
        '<div class="clients-wrap"><table id="clients">'
        f"<thead><tr>{''.join(heads)}</tr></thead>"
        f"<tbody>\n{_client_rows(clients)}\n</tbody></table></div>"
    )


def _header(report: Report, title: str) -> str:
    s = report.summary
    since = (
        "" if report.compare_to is None else f", compared with {_E(report.compare_to.isoformat())}"
    )
    return (
        f"<header><h1>{_E(title)}</h1>"
        f"<p>As of {_E(report.as_of.isoformat())}{since} &middot; {s['clients']:,} clients "
        f"&middot; money in {_E(s['currency'])}</p></header>"
    )


def render_html(
    report: Report,
    *,
    title: str = "relcycle portfolio report",
    charts: bool | None = None,
    max_clients: int = MAX_TABLE_CLIENTS,
) -> str:
    """Return the report as one self-contained HTML page.

    Args:
        report: The report.
        title: The page's title.
        charts: Draw charts (needs matplotlib, the ``html`` extra). None: when installed.
        max_clients: The most clients the client table lists (the most urgent first).

    Returns:
        The page: no external resource, works offline, readable without JavaScript.
    """
    if charts is None:
        charts = charts_available()
    if charts:
        visual = _charts(report)
    else:
        visual = (
            '<p class="note">Charts need matplotlib: install '
            f"<code>{_E(CHARTS_EXTRA)}</code> (<code>pip install "
            f"'{_E(CHARTS_EXTRA)}'</code>). The figures are in the tables below.</p>"
        )
    body = "".join(
        [
            _header(report, title),
            "<main>",
            _kpis(report),
            "<h2>Portfolio</h2>",
            visual,
            "<h2>Counts</h2>",
            _counts_section(report),
            _columns_section(report, charts),
            _migrations(report),
            _client_table(report, max_clients),
            "</main>",
            "<footer>Generated by relcycle. Stage, rung and segment carry the ids of the "
            "records that decided them (open a client's <em>why</em>). Money is exact; "
            "<code>frequency</code>, <code>recency</code>, <code>T</code> and "
            "<code>monetary_value</code> follow lifetimes' daily-period definitions."
            "</footer>",
        ]
    )
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<link rel="icon" href="data:,">'
        f"<title>{_E(title)}</title><style>{_CSS}</style></head>"
        f"<body>{body}<script>{_JS}</script></body></html>\n"
    )


def render_fragment(report: Report, *, max_clients: int = 50) -> str:
    """An HTML fragment for notebooks (``Report._repr_html_``): key figures, counts, clients.

    No script and no chart, so it renders in any notebook frontend.
    """
    return (
        '<div class="relcycle-report">'
        f"<p><b>relcycle report</b> as of {_E(report.as_of.isoformat())}</p>"
        f"{_kpis(report)}{_counts_section(report)}"
        f"{_client_table(report, max_clients)}</div>"
    )
