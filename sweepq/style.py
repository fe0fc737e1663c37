"""The page's style sheet, inline in every page (`page.render`, the index and error pages)."""

STYLE = """
:root{--fg:#111827;--muted:#6b7280;--line:#e5e7eb;--bg:#f8fafc;--card:#fff;--ok:#047857;
--bad:#b91c1c;--accent:#2563eb}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--fg);
font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
main{max-width:1240px;margin:0 auto;padding:20px 24px 40px}
h1{font-size:24px;margin:0;word-break:break-word}
h2{font-size:17px;margin:28px 0 10px}
h3{font-size:15px;margin:0 0 8px;word-break:break-word}
header .title{display:flex;flex-wrap:wrap;align-items:center;gap:10px 14px}
.sub{color:var(--muted);margin:4px 0 16px}
.badge{display:inline-block;padding:3px 10px;border-radius:999px;font-size:13px;
font-weight:600;color:#fff;background:#475569;white-space:nowrap}
.badge.running{background:#2563eb}.badge.paused{background:#b45309}
.badge.complete{background:#047857}.badge.idle{background:#6b7280}
section.overall{background:var(--card);border:1px solid var(--line);border-radius:10px;
padding:16px 18px}
.progress-line{display:flex;justify-content:space-between;align-items:baseline;margin-bottom:6px;
font-variant-numeric:tabular-nums}
.progress-line .count{font-size:18px;font-weight:600}
.progress-line .share{color:var(--muted)}
.bar{display:flex;height:8px;border-radius:4px;background:#e5e7eb;overflow:hidden}
.bar.big{height:14px;border-radius:7px}
.bar .done{background:var(--accent)}.bar .err{background:var(--bad)}
.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px 18px;
margin-top:14px}
.fig .label{display:block;color:var(--muted);font-size:12px;text-transform:uppercase;
letter-spacing:.04em}
.fig .value{display:block;font-size:20px;font-weight:600;font-variant-numeric:tabular-nums}
.fig small,.card small{display:block;font-size:12px;font-weight:400;color:var(--muted)}
.card dd small{display:inline}
section.pause{margin-top:14px;background:#fffbeb;border:1px solid #f59e0b;border-radius:10px;
padding:12px 16px}
.pause .msg{margin:6px 0 0;color:#78350f;word-break:break-word}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:14px}
.card{background:var(--card);border:1px solid var(--line);border-top:4px solid var(--accent);
border-radius:10px;padding:14px 16px;min-width:0}
.card-progress{display:flex;justify-content:space-between;font-size:13px;color:var(--muted);
margin-bottom:4px;font-variant-numeric:tabular-nums}
.card .rate{margin:10px 0 8px;color:var(--muted)}
.card .rate .big{font-size:26px;font-weight:700;color:var(--fg);font-variant-numeric:tabular-nums}
.card .ci{display:block;font-size:12px}
.card dl{display:grid;grid-template-columns:auto 1fr;gap:3px 12px;margin:0;font-size:13.5px}
.card dt{color:var(--muted)}
.card dd{margin:0;text-align:right;font-variant-numeric:tabular-nums}
.scroll{overflow-x:auto;background:var(--card);border:1px solid var(--line);border-radius:10px}
table{border-collapse:collapse;width:100%;font-size:14px}
th,td{padding:7px 8px;border-bottom:1px solid var(--line);text-align:left;vertical-align:top}
thead th{font-size:12px;color:var(--muted);font-weight:600;background:#f9fafb;vertical-align:bottom;
line-height:1.25}
thead th.num{white-space:normal}
tbody tr:last-child>*{border-bottom:0}
tr.group th{text-align:center;border-bottom:1px solid var(--line)}
tr.group td{border-bottom:0}
.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.sig{font-weight:700}
.muted{color:var(--muted)}
.task{white-space:nowrap}
.arm-name{display:inline-block;max-width:260px;min-width:7em;overflow-wrap:break-word}
tbody th{font-weight:600}
td.ok{color:var(--ok);font-weight:600}td.bad{color:var(--bad);font-weight:600}
td.detail{min-width:140px;word-break:break-word}
td.output{min-width:220px;max-width:420px}
code{font:12.5px/1.4 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre-wrap;
word-break:break-word}
.notes{color:var(--muted);font-size:13px;margin:8px 0 0;padding-left:18px}
p.notes{padding-left:0}
.chart-box{background:var(--card);border:1px solid var(--line);border-radius:10px;padding:8px}
svg.chart{display:block;width:100%;height:auto}
svg.chart.wide{max-height:480px}
svg.chart.narrow{display:none}
svg .grid{stroke:#eef0f3}
svg .axis{stroke:#9ca3af}
svg .tick{font-size:12px;fill:#6b7280}
svg .axis-label{font-size:12.5px;fill:#374151}
svg .ci,svg .cap{stroke-width:2}
svg circle{stroke:#fff;stroke-width:1.5}
svg .label{font-size:12px;fill:#111827;paint-order:stroke;stroke:#fff;stroke-width:3px}
svg .leader{stroke-width:1;stroke-dasharray:2 2}
svg .frontier{fill:none;stroke:#9ca3af;stroke-width:1.5;stroke-dasharray:5 4}
footer{margin-top:28px;color:var(--muted);font-size:13px}
ul.sweeps{font-size:16px}
@media (max-width:600px){
svg.chart.wide{display:none}
svg.chart.narrow{display:block}
main{padding:14px 12px 30px}
h1{font-size:20px}
.figs{grid-template-columns:repeat(2,minmax(0,1fr))}
.fig .value{font-size:17px}
th,td{padding:6px 8px}
}
"""
