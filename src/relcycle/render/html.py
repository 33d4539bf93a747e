"""The HTML report: one self-contained page a manager can open offline and decide from.

The page holds everything inline — styles, a little vanilla JavaScript, the charts
as SVG drawn by matplotlib (the ``html`` extra) and the client data — so it needs
no network and no CDN. It is written to be acted on, top to bottom:

- key figures, each with its change since the compare date (``--compare-to``);
- the clients at risk (on the way to loss, or with a risk flag) in priority
  order (:func:`relcycle.report.priority_key`: most urgent action first, its
  urgency moved by the value class, then value class, profit, revenue), each with
  its first recommended action;
- with ``--compare-to``, the clients that got worse since then (a more severe
  stage, a lower rung, a lower value class), most valuable first;
- the client table: every client, filtered by risk, value class, account manager,
  stage and segment, sorted by any column, paged, and downloadable as CSV (the
  filtered rows); a client opens its explanation (why this stage, rung, segment and
  risks, the recommended actions, the latest moves) whose evidence ids open the
  records' fields;
- charts, counts and the migration matrices.

The client table is built in the browser from one data block (compact JSON,
gzip-compressed and base64-encoded: :func:`pack`), so a report of 20,000 clients
stays a few megabytes; the key figures, the lists, the charts, the counts and
the matrices are plain HTML and need no script. Without matplotlib the page shows
the same figures as tables and says which extra adds the charts.
"""

from __future__ import annotations

import base64
import gzip
import html
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from relcycle._repr import count
from relcycle.render.table import migration_text
from relcycle.report import decimal_text, priority_key
from relcycle.segmentation.value import share_text, top_count

if TYPE_CHECKING:
    from relcycle.report import ClientReport, Report

__all__ = [
    "CHARTS_EXTRA",
    "MAX_EVIDENCE_IDS",
    "PATH_STEPS",
    "TOP_CLIENTS",
    "at_risk",
    "charts_available",
    "pack",
    "render_fragment",
    "render_html",
    "unpack",
    "worsened",
]

#: The extra that installs the chart library.
CHARTS_EXTRA = "relcycle[html]"

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


def _pareto(
    amounts: Sequence[Decimal], top_fraction: Decimal, top_share: Decimal
) -> Callable[[Any], None]:
    """The Pareto curve; its mark is the summary's top group and share (one computation)."""

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
            k = top_count(n, top_fraction)
            share = float(top_share)
            ax.axvline(k / n, color="#d63b2f", linewidth=1, linestyle="--")
            ax.annotate(
                f"top {share_text(top_fraction)} hold {share_text(top_share)}",
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

# --------------------------------------------------------------------------- page parts

_CSS = """
:root{--ink:#1d2129;--muted:#5b616b;--line:#e3e6eb;--bg:#f6f7f9;--card:#fff;--accent:#2e86c1;
--bad:#9c1f3a;--good:#1e7d46}
*{box-sizing:border-box}
body{margin:0;color:var(--ink);background:var(--bg);
font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header{background:#1b2a3a;color:#fff;padding:22px 32px}
header h1{margin:0 0 4px;font-size:22px;font-weight:600}
header p{margin:0;color:#c5d0dc}
main{padding:20px 32px 40px;max-width:1500px;margin:0 auto}
h2{font-size:17px;margin:28px 0 12px}
a{color:var(--accent)}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px}
.kpi{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:12px 14px}
.kpi b{display:block;font-size:22px;font-weight:600}
.kpi span{color:var(--muted);font-size:12px}
.kpi i{display:block;font-style:normal;font-size:12px;color:var(--muted)}
.kpi i.worse{color:var(--bad)}
.kpi i.better{color:var(--good)}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(420px,100%),1fr));gap:16px;
align-items:start}
.grid>*{min-width:0}
figure{margin:0;background:var(--card);border:1px solid var(--line);border-radius:8px;
padding:12px;min-width:0}
figure h3{margin:0 0 6px;font-size:14px}
figcaption{color:var(--muted);font-size:12px;margin-top:4px}
svg.chart{width:100%;height:auto;display:block}
.note{background:#fff8e1;border:1px solid #f2d27a;border-radius:8px;padding:10px 14px}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;background:var(--card)}
th,td{padding:5px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600;white-space:nowrap}
td.n,th.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
.counts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(220px,100%),1fr));gap:12px;
align-items:start}
.counts table{width:100%;border:1px solid var(--line);border-radius:8px}
.matrices{grid-template-columns:repeat(auto-fit,minmax(min(560px,100%),1fr))}
.matrix{font-size:12px}
.matrix th{white-space:normal}
.matrix td.d{font-weight:600;outline:1px solid #8a8f98}
.list{width:100%;font-size:13px;border:1px solid var(--line)}
.list small,.why small{color:var(--muted)}
.tag{display:inline-block;padding:1px 7px;border-radius:10px;font-size:12px;color:#fff;
white-space:nowrap}
.risk{display:inline-block;padding:0 6px;margin:1px;border-radius:4px;font-size:11px;
background:#fdecea;color:var(--bad);border:1px solid #f5c2c0;white-space:nowrap}
.urg-critical{color:var(--bad);font-weight:600}
.urg-high{font-weight:600}
td.act{min-width:280px}
td.who{white-space:nowrap}
#clients{width:100%;font-size:13px}
#clients th[data-col]{cursor:pointer}
#clients th[aria-sort=ascending]::after{content:" \\25B2"}
#clients th[aria-sort=descending]::after{content:" \\25BC"}
.controls{display:flex;gap:8px;flex-wrap:wrap;margin:8px 0 10px;align-items:center}
.controls input,.controls select,.controls button,.pager button{padding:5px 8px;
border:1px solid #c9ced6;border-radius:6px;font:inherit;background:#fff;max-width:100%}
.controls button,.pager button{cursor:pointer}
.pager{display:flex;gap:8px;align-items:center;margin:8px 0;flex-wrap:wrap}
dialog{max-width:min(760px,94vw);width:100%;border:1px solid #c9ced6;border-radius:10px;
padding:16px 20px;box-shadow:0 12px 40px rgba(20,30,45,.3)}
dialog::backdrop{background:rgba(20,30,45,.35)}
dialog h3{margin:0 0 8px}
.why p{margin:6px 0}
.why ul{margin:2px 0 8px;padding-left:18px}
.why a.rec{font-family:ui-monospace,monospace;font-size:12px;margin-right:4px}
#record{margin-top:10px;border-top:1px solid var(--line);padding-top:8px}
#record table{font-size:12px}
code{font-size:11px;background:#eef1f5;padding:0 3px;border-radius:3px}
footer{color:var(--muted);font-size:12px;padding:0 32px 30px;max-width:1500px;margin:0 auto}
@media (max-width:640px){header{padding:16px}main{padding:12px 12px 30px}footer{padding:0 12px 20px}
.kpi b{font-size:18px}
.cards thead{display:none}
.cards,.cards tbody,.cards tr,.cards td{display:block;width:100%}
.cards tr{border-bottom:2px solid #c9ced6;padding:6px 0}
.cards td{border:0;padding:2px 10px;text-align:left}
.cards td[data-label]{display:inline-block;width:auto}
.cards td[data-label]::before{content:attr(data-label) ": ";color:var(--muted);font-size:12px}
.cards td.act{min-width:0}}
"""

# The client table is built in the browser from one JSON block (gzip, then base64:
# the table of 20,000 clients with their explanations and evidence records then
# weighs a few megabytes instead of tens). Row fields, by position: see _row().
_JS = """
(function(){
  'use strict';
  var box=document.getElementById('relcycle-data');
  var app=document.getElementById('clients-app');
  if(!box||!app){return;}
  var ID=0,NAME=1,AM=2,STAGE=3,LOSS=4,RUNG=5,SEG=6,CLS=7,REG=8,RFM=9,ORD=10,CON=11,REQ=12,
      OPEN=13,REV=14,PROFIT=15,RISKS=16,ACTS=17,PREV=18,CHANGE=19;
  var D,rows,view=[],page=0,PAGE=100,sortCol=-1,asc=true;
  function $(id){return document.getElementById(id);}
  function esc(s){return String(s==null?'':s).replace(/[&<>"']/g,function(c){
    return {'&':'&amp;','<':'&lt;','>':'&gt;','"':'&quot;',"'":'&#39;'}[c];});}
  function words(s){return String(s).replace(/_/g,' ');}
  function money(s){if(s==null){return '';}var x=parseFloat(s);
    return x.toLocaleString('en-US',{minimumFractionDigits:2,maximumFractionDigits:2});}
  function tag(text,colour){return '<span class="tag" style="background:'+colour+'">'+
    esc(words(text))+'</span>';}
  function fail(msg){$('clients-status').textContent=msg;}
  function unpack(){
    var bin=atob(box.textContent.trim()),bytes=new Uint8Array(bin.length);
    for(var i=0;i<bin.length;i++){bytes[i]=bin.charCodeAt(i);}
    var stream=new Blob([bytes]).stream().pipeThrough(new DecompressionStream('gzip'));
    return new Response(stream).text().then(JSON.parse);
  }
  if(typeof DecompressionStream==='undefined'){
    fail('This browser cannot unpack the client table (it needs DecompressionStream); '+
      'the JSON, JSON Lines and CSV formats hold every client.');
    return;
  }
  unpack().then(start,function(e){fail('The client table could not be read: '+e);});

  function start(data){
    D=data;rows=D.rows;
    var opts=function(sel,values,label){values.forEach(function(v){
      var o=document.createElement('option');o.value=v;o.textContent=label?label(v):words(v);
      sel.appendChild(o);});};
    opts($('f-stage'),D.enums.stage);
    opts($('f-class'),D.enums.value_class);
    opts($('f-segment'),D.enums.segment);
    opts($('f-risk'),D.enums.risk);
    opts($('f-manager'),D.managers,function(v){return v;});
    ['q','f-stage','f-class','f-segment','f-risk','f-manager','f-worse'].forEach(function(id){
      var el=$(id);if(el){el.addEventListener('input',filter);el.addEventListener('change',filter);}
    });
    $('prev').addEventListener('click',function(){if(page>0){page--;draw();}});
    $('next').addEventListener('click',function(){
      if((page+1)*PAGE<view.length){page++;draw();}});
    $('csv').addEventListener('click',download);
    Array.prototype.forEach.call(document.querySelectorAll('#clients th[data-col]'),
      function(th){th.addEventListener('click',function(){sortBy(th);});});
    $('controls').hidden=false;$('pager').hidden=false;
    $('clients-status').textContent='';
    filter();
  }
  function atRisk(r){return D.enums.stage[r[STAGE]]!=='lost'&&
    (r[STAGE]>0||r[RISKS].length>0);}
  function filter(){
    var q=$('q').value.toLowerCase(),st=$('f-stage').value,cl=$('f-class').value,
        sg=$('f-segment').value,rk=$('f-risk').value,am=$('f-manager').value,
        wo=$('f-worse')&&$('f-worse').checked;
    view=rows.filter(function(r){
      if(q&&(r[ID]+' '+(r[NAME]||'')).toLowerCase().indexOf(q)<0){return false;}
      if(st&&D.enums.stage[r[STAGE]]!==st){return false;}
      if(cl&&r[CLS]!==cl){return false;}
      if(sg&&r[SEG]!==sg){return false;}
      if(am&&r[AM]!==am){return false;}
      if(rk==='*'&&!atRisk(r)){return false;}
      if(rk==='-'&&r[RISKS].length){return false;}
      if(rk&&rk!=='*'&&rk!=='-'&&r[RISKS].indexOf(rk)<0){return false;}
      if(wo&&r[CHANGE]!=='worsened'){return false;}
      return true;
    });
    if(sortCol>=0){order();}
    page=0;draw();
  }
  function key(r,col){
    var v=r[col];
    if(col===RFM){return v?v[0]*100+v[1]*10+v[2]:-1;}
    if(col===REV||col===PROFIT){return v==null?-Infinity:parseFloat(v);}
    if(col===RISKS){return v.length;}
    if(col===ACTS){return v.length?D.actions[v[0]][3]:-1;}
    return v==null?'':v;
  }
  function order(){
    view.sort(function(a,b){var x=key(a,sortCol),y=key(b,sortCol);
      var c=x<y?-1:(x>y?1:0);return asc?c:-c;});
  }
  function sortBy(th){
    var col=+th.getAttribute('data-col');
    asc=(sortCol===col)?!asc:!th.hasAttribute('data-desc');sortCol=col;
    Array.prototype.forEach.call(document.querySelectorAll('#clients th'),
      function(o){o.removeAttribute('aria-sort');});
    th.setAttribute('aria-sort',asc?'ascending':'descending');
    order();page=0;draw();
  }
  function cells(r){
    var e=D.enums,rfm=r[RFM],a=r[ACTS].length?D.actions[r[ACTS][0]]:null;
    return [
      '<a href="#" data-client="'+esc(r[ID])+'">'+esc(r[ID])+'</a>'+
        (r[NAME]?'<br><small>'+esc(r[NAME])+'</small>':''),
      esc(r[AM]||''),
      esc(r[CLS]),
      money(r[REV]),money(r[PROFIT]),
      tag(e.stage[r[STAGE]],D.colours.stage[r[STAGE]])+
        (r[LOSS]?'<br><small>'+esc(r[LOSS])+'</small>':''),
      r[RISKS].map(function(f){return '<span class="risk">'+esc(words(f))+'</span>';}).join(''),
      a?'<span class="urg-'+esc(a[3])+'">'+esc(a[1])+'</span><br><small>'+esc(words(a[2]))+
        ', '+esc(a[3])+'</small>':'',
      tag(e.rung[r[RUNG]],D.colours.rung[r[RUNG]]),
      tag(r[SEG],D.colours.segment[r[SEG]]||'#95a5a6'),
      esc(words(r[REG])),
      rfm?rfm[0]+''+rfm[1]+rfm[2]+'<br><small>'+esc(rfm[3]||'')+'</small>':'-',
      r[ORD].toLocaleString('en-US'),r[CON].toLocaleString('en-US'),
      r[OPEN].toLocaleString('en-US')
    ];
  }
  var CELL_CLASS={0:'who',3:'n',4:'n',7:'act',11:'n',12:'n',13:'n',14:'n'};
  function draw(){
    var body=$('clients').tBodies[0],start=page*PAGE,part=view.slice(start,start+PAGE);
    body.innerHTML=part.map(function(r){
      return '<tr>'+cells(r).map(function(c,i){
        return CELL_CLASS[i]?'<td class="'+CELL_CLASS[i]+'">'+c+'</td>':'<td>'+c+'</td>';
      }).join('')+'</tr>';}).join('');
    $('shown').textContent=view.length+' of '+rows.length+' clients';
    $('page').textContent=view.length?('rows '+(start+1)+'-'+(start+part.length)):'no client';
    $('prev').disabled=page===0;$('next').disabled=start+PAGE>=view.length;
  }
  var CSV_HEAD=['client_id','name','account_manager','lifecycle_stage','loss_reason',
    'ladder_rung','motivation_segment','value_class','regularity','rfm_r','rfm_f','rfm_m',
    'rfm_segment','orders','contacts','requests','complaints_open','revenue','profit',
    'currency','risks','first_action'];
  // as the CSV format: a cell a spreadsheet would run as a formula gets a leading '
  var NUMBER=/^[+-]?(\\d+(\\.\\d*)?|\\.\\d+)([eE][+-]?\\d+)?$/;
  function csvCell(v){v=v==null?'':String(v);
    if(/^[=+\\-@\\t\\r]/.test(v)&&!NUMBER.test(v)){v="'"+v;}
    return /[",\\r\\n]/.test(v)?'"'+v.replace(/"/g,'""')+'"':v;}
  function download(){
    var e=D.enums,head=CSV_HEAD.slice(),prev=D.compare_to!=null;
    if(prev){head.push('previous_lifecycle_stage','previous_ladder_rung',
      'previous_motivation_segment','previous_value_class','change');}
    var lines=[head.join(',')];
    view.forEach(function(r){
      var rfm=r[RFM]||[null,null,null,null],a=r[ACTS].length?D.actions[r[ACTS][0]][0]:'';
      var out=[r[ID],r[NAME],r[AM],e.stage[r[STAGE]],r[LOSS],e.rung[r[RUNG]],r[SEG],r[CLS],
        r[REG],rfm[0],rfm[1],rfm[2],rfm[3],r[ORD],r[CON],r[REQ],r[OPEN],r[REV],r[PROFIT],
        D.currency,r[RISKS].join('; '),a];
      if(prev){var p=r[PREV]||[null,null,null,null];
        out.push(p[0]==null?'':e.stage[p[0]],p[1]==null?'':e.rung[p[1]],p[3],p[2],r[CHANGE]);}
      lines.push(out.map(csvCell).join(','));
    });
    var blob=new Blob([lines.join('\\r\\n')+'\\r\\n'],{type:'text/csv;charset=utf-8'});
    var link=document.createElement('a');
    link.href=URL.createObjectURL(blob);link.download=D.csv_name;
    document.body.appendChild(link);link.click();
    setTimeout(function(){URL.revokeObjectURL(link.href);link.remove();},0);
  }

  // ------------------------------------------------------------------ the detail dialog
  var index=null;
  function find(id){
    if(!index){index={};rows.forEach(function(r,i){index[r[ID]]=i;});}
    return index[id];
  }
  function recs(ids){return ids.map(function(i){
    return '<a href="#" class="rec" data-rec="'+esc(i)+'">'+esc(i)+'</a>';}).join('');}
  function explain(i){
    var r=rows[i],w=D.why[i],e=D.enums,h=[];
    h.push('<h3>'+esc(r[ID])+(r[NAME]?' &middot; '+esc(r[NAME]):'')+'</h3>');
    h.push('<p><small>account manager '+esc(r[AM]||'-')+' &middot; class '+esc(r[CLS])+
      ' &middot; revenue '+money(r[REV])+' '+esc(D.currency)+
      (r[PROFIT]!=null?' &middot; profit '+money(r[PROFIT]):'')+'</small></p>');
    if(D.compare_to!=null){var p=r[PREV];h.push('<p><small>on '+esc(D.compare_to)+': '+
      (p==null?'not yet a client':esc(words(e.stage[p[0]]))+', '+esc(e.rung[p[1]])+
      ', '+esc(words(p[3]))+', class '+esc(p[2]))+' ('+esc(r[CHANGE])+')</small></p>');}
    h.push('<p><b>Stage '+esc(words(e.stage[r[STAGE]]))+'</b>'+(w[0]?' since '+esc(w[0]):'')+
      ': '+esc(w[1][0])+' '+recs(w[1][1])+'</p>');
    h.push('<p><b>Rung '+esc(e.rung[r[RUNG]])+'</b>: '+esc(w[2][0])+' '+recs(w[2][1])+'</p>');
    h.push('<p><b>Segment '+esc(words(r[SEG]))+'</b>: '+esc(w[3][0])+' '+recs(w[3][1])+'</p>');
    w[8].forEach(function(k){h.push('<p><b>'+esc(words(k[0]))+' '+esc(words(k[1]))+
      '</b>: '+esc(k[2])+' '+recs(k[3])+'</p>');});
    w[7].forEach(function(k){h.push('<p><b>'+esc(words(k[0]))+' '+esc(words(k[1]||'-'))+
      '</b>: '+esc(k[2])+' '+recs(k[3])+'</p>');});
    [['Lifecycle path (latest changes)',w[5]],['Ladder path (latest changes)',w[6]]]
      .forEach(function(path){if(!path[1].length){return;}
        h.push('<p><small>'+path[0]+'</small></p><ul>'+path[1].map(function(s){
          return '<li>'+esc(s[0])+': '+esc(words(s[1]))+' &rarr; '+esc(words(s[2]))+' ('+
            esc(words(s[3]))+') '+recs(s[4])+'</li>';}).join('')+'</ul>');});
    w[4].forEach(function(k){h.push('<p><b>Risk '+esc(words(k[0]))+'</b>: '+esc(k[1])+' '+
      recs(k[2])+'</p>');});
    if(r[ACTS].length){h.push('<p><b>Recommended</b></p><ul>'+r[ACTS].map(function(k){
      var a=D.actions[k];return '<li><span class="urg-'+esc(a[3])+'">'+esc(a[1])+
        '</span> <small>('+esc(words(a[2]))+', '+esc(a[3])+')</small></li>';}).join('')+
      '</ul>');}
    return h.join('');
  }
  function showRecord(id){
    var rec=D.records[id],box=$('record');
    if(!rec){box.innerHTML='<p>Record '+esc(id)+' is not in this page.</p>';return;}
    box.innerHTML='<h3>'+esc(rec[0])+' '+esc(id)+'</h3><table>'+rec[1].map(function(f){
      return '<tr><th>'+esc(words(f[0]))+'</th><td>'+esc(f[1])+'</td></tr>';}).join('')+
      '</table>';
    box.scrollIntoView({block:'nearest'});
  }
  function open(id){
    var i=find(id),dlg=$('detail');
    if(i===undefined){return;}
    $('detail-body').innerHTML=explain(i);$('record').innerHTML='';
    if(dlg.showModal){if(!dlg.open){dlg.showModal();}}else{dlg.setAttribute('open','');}
  }
  document.addEventListener('click',function(ev){
    var a=ev.target.closest&&ev.target.closest('a[data-client],a[data-rec],#detail-close');
    if(!a||!D){return;}
    ev.preventDefault();
    if(a.id==='detail-close'){
      var d=$('detail');if(d.close){d.close();}else{d.removeAttribute('open');}
    }
    else if(a.hasAttribute('data-client')){open(a.getAttribute('data-client'));}
    else{showRecord(a.getAttribute('data-rec'));}
  });
})();
"""


def _troubled(stages: Mapping[str, int]) -> int:
    return sum(v for k, v in stages.items() if k not in ("satisfied", "lost"))


def _delta(now: int, then: int, *, more_is_better: bool) -> str:
    change = now - then
    if change == 0:
        return "<i>no change</i>"
    better = (change > 0) == more_is_better
    return f'<i class="{"better" if better else "worse"}">{change:+,}</i>'


def _kpis(report: Report) -> str:
    """The key figures; with ``compare_to``, the change of each count since then."""
    s = report.summary
    stages = s["lifecycle_stage"]
    then: dict[str, int] = {}
    if report.migrations is not None:
        stage_m = report.migrations["lifecycle_stage"]
        then_stages = {str(k.value): stage_m.row_total(k) for k in stage_m.order}
        then = {
            "clients": stage_m.total - stage_m.row_total(None),
            "satisfied": then_stages.get("satisfied", 0),
            "troubled": _troubled(then_stages),
            "lost": then_stages.get("lost", 0),
        }
        cls_m = report.migrations["value_class"]
        then["A"] = sum(1 for m in cls_m.moves if m.before is not None and m.before.value == "A")
    cards: list[tuple[str, str, str]] = [
        (f"{s['clients']:,}", "clients", "clients"),
        (f"{Decimal(s['revenue']):,.0f} {s['currency']}", "revenue", ""),
        (
            "-" if s.get("top_share") is None else share_text(s["top_share"]),
            f"of revenue held by the top {share_text(s['top_fraction'])} of clients",
            "",
        ),
        (f"{s['value_class'].get('A', 0):,}", "class A clients (most of the value)", "A"),
        (f"{stages.get('satisfied', 0):,}", "satisfied", "satisfied"),
        (f"{_troubled(stages):,}", "on the way to loss (stages 1-4)", "troubled"),
        (f"{stages.get('lost', 0):,}", "lost", "lost"),
        (f"{sum(1 for c in report.clients if c.risks):,}", "with a risk flag", ""),
    ]
    if s.get("rejected_rows") is not None:
        cards.append((f"{s['rejected_rows']:,}", "input rows rejected", ""))
    now = {
        "clients": s["clients"],
        "A": s["value_class"].get("A", 0),
        "satisfied": stages.get("satisfied", 0),
        "troubled": _troubled(stages),
        "lost": stages.get("lost", 0),
    }
    since = "" if report.compare_to is None else report.compare_to.date().isoformat()
    parts = []
    for value, text, key in cards:
        delta = ""
        if key and key in then:
            good = key not in ("troubled", "lost")
            delta = _delta(now[key], then[key], more_is_better=good)
            delta = delta.replace("</i>", f" since {_E(since)}</i>")
        parts.append(f'<div class="kpi"><b>{_E(value)}</b><span>{_E(text)}</span>{delta}</div>')
    return '<section class="kpis">' + "".join(parts) + "</section>"


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
        _counts_table("client-base stage", s["client_stage"]),
        _counts_table("loss reason", s["loss_reasons"]),
        _counts_table("risk flag", s["risks"]),
    ]
    return '<section class="counts">' + "".join(parts) + "</section>"


def _loss_table(title: str, cells: Mapping[str, Mapping[str, Any]], currency: str) -> str:
    rows = "".join(
        f'<tr><td>{_E(k.replace("_", " "))}</td><td class="n">{v["clients"]:,}</td>'
        f'<td class="n">{Decimal(v["lost_revenue"]):,.0f}</td></tr>'
        for k, v in cells.items()
        if v["clients"]
    )
    return (
        f'<div class="scroll"><table><thead><tr><th>{_E(title)}</th><th class="n">clients</th>'
        f'<th class="n">lost revenue ({_E(currency)})</th></tr></thead>'
        f"<tbody>{rows}</tbody></table></div>"
    )


def _losses_section(report: Report) -> str:
    """What we lost and why: lost clients and lost revenue per reason, segment, manager."""
    losses = report.summary["losses"]
    head = "<h2>What we lost and why</h2>"
    if not losses["clients"]:
        return head + "<p>No client is lost.</p>"
    currency = report.currency
    return (
        f"{head}<p>{_E(count(losses['clients'], 'lost client'))}: "
        f"{Decimal(losses['lost_revenue']):,.0f} {_E(currency)} of sales in the "
        f"{losses['window_days']} days before each loss (for a client lost by silence, "
        "before it went silent), by loss reason, motivation segment "
        "and the manager who held the client when it left.</p>"
        '<section class="grid">'
        + _loss_table("loss reason", losses["by_reason"], currency)
        + _loss_table("motivation segment", losses["by_segment"], currency)
        + _loss_table("manager", losses["by_manager"], currency)
        + "</section>"
    )


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
            "Each dot is a client, coloured by its motivation segment; the motivation "
            "segmentation reads the segments from the number of contacts and of orders. "
            "Log scales.",
        ),
        _figure(
            "Pareto curve of revenue",
            _svg(
                _pareto(
                    [c.revenue.amount for c in clients],
                    Decimal(str(s["top_fraction"])),
                    Decimal(str(s["top_share"])),
                ),
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
        f'<div class="scroll"><table class="matrix"><thead><tr><th>before \\ now</th>{head}'
        f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>"
        f"<figcaption>{_E(caption)}</figcaption></figure>"
    )


def _migrations(report: Report) -> str:
    if report.migrations is None or report.compare_to is None:
        return (
            '<h2>Migrations</h2><p class="note">Run the report with <code>--compare-to '
            "T0</code> to see how clients moved between stages, rungs, segments and value "
            "classes since T0, and which clients got worse.</p>"
        )
    parts = [_matrix_html(name, m) for name, m in report.migrations.items()]
    return (
        f"<h2>Migrations since {_E(report.compare_to.isoformat())}</h2>"
        "<p>Rows: where clients stood then; columns: where they stand now; the diagonal "
        "(outlined) is no change.</p>"
        f'<section class="grid matrices">{"".join(parts)}</section>'
    )


# --------------------------------------------------------------------------- decisions

#: How many clients the "at risk" and "worsened" lists show.
TOP_CLIENTS = 20


def _by_value(c: ClientReport) -> tuple[int, Decimal, str]:
    """Most valuable first: value class, then revenue, then id."""
    return (c.value_class.rank, -c.revenue.amount, c.client_id)


def at_risk(report: Report) -> list[ClientReport]:
    """The clients at risk, in priority order: most urgent first, by value.

    At risk: not lost, and on the way to loss (a lifecycle stage past ``satisfied``)
    or with a risk flag. Ordered by :func:`relcycle.report.priority_key`: the
    client's most urgent action (its urgency moved by the value class), then value
    class, profit and revenue.

    Args:
        report: The report.

    Returns:
        The clients at risk, the one to serve first first.
    """
    return sorted(
        (
            c
            for c in report.clients
            if c.lifecycle_stage.value != "lost" and (c.lifecycle_stage.rank > 0 or c.risks)
        ),
        key=priority_key,
    )


#: A worsening since the compare date: (what, before, after) in words.
Change = tuple[str, str, str]


def worsened(report: Report) -> dict[str, list[Change]]:
    """The clients that got worse since ``compare_to``, with what got worse.

    Worse: a later (more severe) lifecycle stage, a lower ladder rung, or a lower
    value class than at ``compare_to`` — the ``worsened`` entries of each client's
    :attr:`~relcycle.report.ClientReport.changed`. Clients that were not yet
    clients then are not listed.

    Args:
        report: The report (built with ``compare_to`` for a non-empty answer).

    Returns:
        ``{client_id: [(field, before, after), ...]}``, empty without ``compare_to``.
    """
    found: dict[str, list[Change]] = {}
    for c in report.clients:
        previous = c.previous
        if previous is None:
            continue
        for field, move in previous.moves(c).items():
            if move == "worsened":
                before = getattr(previous, field).value
                found.setdefault(c.client_id, []).append(
                    (field, str(before), str(getattr(c, field).value))
                )
    return found


def _client_link(c: ClientReport) -> str:
    return f'<a href="#" data-client="{_E(c.client_id)}">{_E(c.client_id)}</a>' + (
        f"<br><small>{_E(c.name)}</small>" if c.name else ""
    )


def _manager(c: ClientReport) -> str | None:
    history = c.history
    return None if history is None else history.client.account_manager


def _first_action(c: ClientReport) -> str:
    if not c.actions:
        return ""
    a = c.actions[0]
    return (
        f'<span class="urg-{_E(a.urgency.value)}">{_E(a.text)}</span>'
        f"<br><small>{_E(a.who.replace('_', ' '))}, {_E(a.urgency.value)}</small>"
    )


def _money_cell(money: Any) -> str:
    return "" if money is None else f"{money.amount:,.0f}"


def _at_risk_section(report: Report, limit: int) -> str:
    found = at_risk(report)
    if not found:
        return "<h2>Clients at risk</h2><p>No client is at risk.</p>"
    rows = []
    for c in found[:limit]:
        risks = "".join(
            f'<span class="risk">{_E(f.replace("_", " "))}</span>' for f in c.risk_flags
        )
        stage = c.lifecycle_stage
        rows.append(
            f'<tr><td class="who">{_client_link(c)}</td>'
            f'<td data-label="manager">{_E(_manager(c) or "")}</td>'
            f'<td data-label="class">{_E(c.value_class.value)}</td>'
            f'<td class="n" data-label="revenue">{_money_cell(c.revenue)}</td>'
            f'<td class="n" data-label="profit">{_money_cell(c.profit)}</td>'
            f'<td data-label="stage">{_tag(stage.value, STAGE_COLOURS[stage.rank])}</td>'
            f'<td data-label="risks">{risks}</td>'
            f'<td class="act">{_first_action(c)}</td></tr>'
        )
    more = (
        f" The first {limit} of {len(found):,} are listed; filter the client table by "
        "risk for the others."
        if len(found) > limit
        else ""
    )
    return (
        "<h2>Clients at risk, most urgent first</h2>"
        "<p>Clients on the way to loss or with a risk flag, most urgent first: the urgency of "
        "an action is that of its stage or risk, moved by the client's value class (the "
        "report's priority policy); then by value class, profit and revenue. Each with "
        f"its first recommended action.{_E(more)} Open a client for why.</p>"
        '<div class="scroll"><table class="list cards" id="at-risk"><thead><tr><th>client</th>'
        f'<th>manager</th><th>class</th><th class="n">revenue ({_E(report.currency)})</th>'
        '<th class="n">profit</th><th>stage</th><th>risks</th><th>first action</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _worsened_section(report: Report, limit: int) -> str:
    if report.compare_to is None:
        return ""
    since = report.compare_to.date().isoformat()
    changes = worsened(report)
    if not changes:
        return f"<h2>Worsened since {_E(since)}</h2><p>No client got worse.</p>"
    clients = sorted((report[cid] for cid in changes), key=_by_value)
    rows = []
    for c in clients[:limit]:
        what = "<br>".join(
            f"{_E(field.replace('_', ' '))}: {_E(b.replace('_', ' '))} &rarr; "
            f"{_E(a.replace('_', ' '))}"
            for field, b, a in changes[c.client_id]
        )
        rows.append(
            f'<tr><td class="who">{_client_link(c)}</td>'
            f'<td data-label="manager">{_E(_manager(c) or "")}</td>'
            f'<td data-label="class">{_E(c.value_class.value)}</td>'
            f'<td class="n" data-label="revenue">{_money_cell(c.revenue)}</td>'
            f"<td>{what}</td>"
            f'<td class="act">{_first_action(c)}</td></tr>'
        )
    more = (
        f" The {limit} most valuable of {len(clients):,} are listed."
        if len(clients) > limit
        else ""
    )
    return (
        f"<h2>Worsened since {_E(since)}</h2>"
        "<p>Clients whose lifecycle stage is more severe, whose ladder rung is lower or whose "
        f"value class dropped since {_E(since)}, most valuable first.{_E(more)}</p>"
        '<div class="scroll"><table class="list cards" id="worsened"><thead><tr><th>client</th>'
        f'<th>manager</th><th>class</th><th class="n">revenue ({_E(report.currency)})</th>'
        "<th>what got worse</th><th>first action</th></tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _tag(text: str, colour: str) -> str:
    return f'<span class="tag" style="background:{colour}">{_E(text.replace("_", " "))}</span>'


# --------------------------------------------------------------------------- the client table

#: The most evidence ids an explanation lists per verdict (the rest are counted).
MAX_EVIDENCE_IDS = 12

#: The most recent state changes an explanation lists per machine.
PATH_STEPS = 5


def _ids(ids: Sequence[str]) -> list[str]:
    return list(ids[:MAX_EVIDENCE_IDS])


def _path(steps: Sequence[Any]) -> list[list[Any]]:
    moves = [s for s in steps if s.source != s.target][-PATH_STEPS:]
    return [
        [
            s.at.date().isoformat(),
            str(s.source.value),
            str(s.target.value),
            str(s.event.value),
            _ids(s.record_ids),
        ]
        for s in moves
    ]


def _previous(c: ClientReport) -> list[Any] | None:
    """``[stage rank, rung rank, value class, segment]`` at ``compare_to``, or None."""
    p = c.previous
    if p is None or p.lifecycle_stage is None or p.ladder_rung is None:
        return None
    return [
        p.lifecycle_stage.rank,
        p.ladder_rung.rank,
        None if p.value_class is None else p.value_class.value,
        None if p.motivation_segment is None else p.motivation_segment.value,
    ]


def _record_fields(record: Any) -> list[list[str]]:
    """A record's known fields as ``[name, text]`` pairs, in the contract's spelling
    (ISO 8601 times, decimal money, ``true``/``false``); ids and empty fields left out."""
    out = []
    for name, value in record.to_dict().items():
        if name.endswith("_id") or value is None or value == "" or value == [] or value == {}:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, dict):
            text = ", ".join(f"{k}: {v}" for k, v in value.items())
        elif isinstance(value, list):
            text = ", ".join(map(str, value))
        else:
            text = str(value)
        out.append([name, text])
    return out


def _record_id(record: Any) -> str:
    for name in ("order_id", "interaction_id", "complaint_id"):
        value = getattr(record, name, None)
        if value is not None:
            return str(value)
    raise TypeError(f"not a record: {record!r}")


def _payload(report: Report, order: Sequence[ClientReport]) -> dict[str, Any]:
    """Everything the client table needs, as one JSON-ready dict."""
    s = report.summary
    stage_order = list(s["lifecycle_stage"])
    rung_order = list(s["ladder_rung"])
    actions: dict[str, int] = {}
    action_rows: list[list[str]] = []
    managers: set[str] = set()
    rows: list[list[Any]] = []
    why: list[list[Any]] = []
    records: dict[str, list[Any]] = {}
    for c in order:
        manager = _manager(c)
        if manager:
            managers.add(manager)
        acts = []
        for a in c.actions:
            if a.id not in actions:
                actions[a.id] = len(action_rows)
                action_rows.append([a.id, a.text, a.who, a.urgency.value])
            acts.append(actions[a.id])
        rfm = c.rfm
        rows.append(
            [
                c.client_id,
                c.name,
                manager,
                c.lifecycle_stage.rank,
                None if c.loss_reason is None else c.loss_reason.value,
                c.ladder_rung.rank,
                c.motivation_segment.value,
                c.value_class.value,
                c.regularity.value,
                None if rfm.r is None else [rfm.r, rfm.f, rfm.m, rfm.segment],
                c.orders,
                c.contacts,
                c.requests,
                c.complaints_open,
                decimal_text(c.revenue.amount),
                None if c.profit is None else decimal_text(c.profit.amount),
                list(c.risk_flags),
                acts,
                _previous(c),
                c.change,
            ]
        )
        ev = c.evidence
        verdicts: list[list[Any]] = [
            [ev[k].reason, _ids(ev[k].record_ids)] for k in ("stage", "rung", "segment")
        ]
        risks: list[list[Any]] = [
            [r.flag.value, r.evidence.reason, _ids(r.evidence.record_ids)] for r in c.risks
        ]
        paths = [_path(c.lifecycle.trajectory.steps), _path(c.ladder.trajectory.steps)]
        since = None if c.stage_since is None else c.stage_since.date().isoformat()
        base, loss = ev["client_stage"], ev.get("loss")
        more: list[list[Any]] = [
            ["client_base", c.client_stage.value, base.reason, _ids(base.record_ids)]
        ]
        if loss is not None and c.loss_reason is not None:
            more.append(["loss", c.loss_reason.value, loss.reason, _ids(loss.record_ids)])
        columns: list[list[Any]] = [
            [
                name,
                None if cell.value is None else str(cell.value),
                cell.evidence.reason,
                _ids(cell.evidence.record_ids),
            ]
            for name, cell in c.columns.items()
        ]
        why.append([since, *verdicts, risks, *paths, columns, more])
        wanted = {i for part in (*verdicts, *risks, *columns, *more) for i in part[-1]}
        wanted.update(i for path in paths for step in path for i in step[4])
        history = c.history
        if wanted and history is not None:
            for record in history.records():
                rid = _record_id(record)
                if rid in wanted:
                    records[rid] = [type(record).__name__.lower(), _record_fields(record)]
    return {
        "as_of": report.as_of.isoformat(),
        "compare_to": None if report.compare_to is None else report.compare_to.date().isoformat(),
        "currency": report.currency,
        "csv_name": f"relcycle-clients-{report.as_of.date().isoformat()}.csv",
        "enums": {
            "stage": stage_order,
            "rung": rung_order,
            "segment": list(s["motivation_segment"]),
            "value_class": list(s["value_class"]),
            "risk": list(s["risks"]),
        },
        "colours": {
            "stage": list(STAGE_COLOURS[: len(stage_order)]),
            "rung": list(RUNG_COLOURS[: len(rung_order)]),
            "segment": dict(SEGMENT_COLOURS),
        },
        "managers": sorted(managers),
        "actions": action_rows,
        "rows": rows,
        "why": why,
        "records": records,
    }


def pack(payload: Mapping[str, Any]) -> str:
    """The page's data block: compact JSON, gzip (no timestamp), then base64.

    Args:
        payload: The JSON-ready data.

    Returns:
        ASCII text; the same payload always gives the same text.
    """
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    return base64.b64encode(gzip.compress(text.encode("utf-8"), mtime=0)).decode("ascii")


def unpack(text: str) -> Any:
    """The inverse of :func:`pack` (for tests and tools reading a saved page).

    Args:
        text: The content of the page's ``relcycle-data`` block.

    Returns:
        The payload.
    """
    return json.loads(gzip.decompress(base64.b64decode(text)).decode("utf-8"))


#: The client table's columns: (label, data field, kind), in the order of the
#: script's cells(); the decision first (who, value, stage, risks, action).
_HEADERS: tuple[tuple[str, int, str], ...] = (
    ("client", 0, ""),
    ("manager", 2, ""),
    ("class", 7, ""),
    ("revenue", 14, "n"),
    ("profit", 15, "n"),
    ("stage", 3, ""),
    ("risks", 16, "desc"),
    ("first action", 17, ""),
    ("rung", 5, ""),
    ("segment", 6, ""),
    ("regularity", 8, ""),
    ("RFM", 9, "n"),
    ("orders", 10, "n"),
    ("contacts", 11, "n"),
    ("open complaints", 13, "n"),
)


def _select(ident: str, label: str, every: str, extra: str = "") -> str:
    return (
        f'<select id="{ident}" aria-label="{_E(label)}"><option value="">{_E(every)}</option>'
        f"{extra}</select>"
    )


def _client_table(report: Report) -> str:
    found = at_risk(report)
    risky = {c.client_id for c in found}
    order = found + sorted((c for c in report.clients if c.client_id not in risky), key=_by_value)
    heads = "".join(
        f'<th data-col="{col}"'
        + (' class="n" data-desc' if kind == "n" else " data-desc" if kind == "desc" else "")
        + f">{_E(label)}</th>"
        for label, col, kind in _HEADERS
    )
    worse = ""
    if report.compare_to is not None:
        worse = (
            '<label><input id="f-worse" type="checkbox"> worsened since '
            f"{_E(report.compare_to.date().isoformat())}</label>"
        )
    controls = (
        '<div class="controls" id="controls" hidden>'
        '<input id="q" type="search" placeholder="client id or name" aria-label="search">'
        + _select(
            "f-risk",
            "risk",
            "any risk or none",
            '<option value="*">at risk (troubled or flagged)</option>'
            '<option value="-">no risk flag</option>',
        )
        + _select("f-class", "value class", "every value class")
        + _select("f-manager", "account manager", "every manager")
        + _select("f-stage", "stage", "every stage")
        + _select("f-segment", "segment", "every segment")
        + worse
        + '<button id="csv" type="button">Download CSV (filtered)</button>'
        '<span id="shown"></span></div>'
    )
    pager = (
        '<div class="pager" id="pager" hidden><button id="prev" type="button">previous</button>'
        '<span id="page"></span><button id="next" type="button">next</button></div>'
    )
    return (
        '<h2>Clients</h2><div id="clients-app">'
        "<p>Every client, at risk (most urgent first) then most valuable first; click a "
        "column to sort, a client "
        "for why it stands where it stands and the records behind it.</p>"
        '<p id="clients-status"><noscript>The client table needs JavaScript; the JSON, JSON '
        "Lines and CSV formats hold every client.</noscript></p>"
        f"{controls}"
        f'<div class="scroll"><table id="clients" class="list"><thead><tr>{heads}</tr></thead>'
        f"<tbody></tbody></table></div>{pager}"
        '<script type="application/octet-stream" id="relcycle-data">'
        f"{pack(_payload(report, order))}</script></div>"
        '<dialog id="detail" aria-label="client detail"><p style="text-align:right;margin:0">'
        '<a href="#" id="detail-close">close</a></p><div id="detail-body" class="why"></div>'
        '<div id="record"></div></dialog>'
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
    top: int = TOP_CLIENTS,
) -> str:
    """Return the report as one self-contained HTML page.

    Args:
        report: The report.
        title: The page's title.
        charts: Draw charts (needs matplotlib, the ``html`` extra). None: when installed.
        top: How many clients the "at risk" and "worsened" lists show.

    Returns:
        The page: no external resource, works offline.
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
            _at_risk_section(report, top),
            _worsened_section(report, top),
            _client_table(report),
            "<h2>Portfolio</h2>",
            visual,
            "<h2>Counts</h2>",
            _counts_section(report),
            _losses_section(report),
            _columns_section(report, charts),
            _migrations(report),
            "</main>",
            "<footer>Generated by relcycle. Stage, rung and segment carry the ids of the "
            "records that decided them (open a client, then a record id). Money is exact; "
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


def render_fragment(report: Report, *, top: int = 20) -> str:
    """An HTML fragment for notebooks (``Report._repr_html_``).

    Key figures, the clients at risk, the clients that got worse, and the counts.

    No script and no chart, so it renders in any notebook frontend.
    """
    return (
        '<div class="relcycle-report">'
        f"<p><b>relcycle report</b> as of {_E(report.as_of.isoformat())}</p>"
        f"{_kpis(report)}{_at_risk_section(report, top)}{_worsened_section(report, top)}"
        f"{_counts_section(report)}{_losses_section(report)}</div>"
    )
