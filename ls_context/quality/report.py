"""The quality report: one self-contained HTML file with inline SVG plots, and the metrics as JSON.

Plots are drawn as plain SVG so the report opens anywhere, offline, without a plotting library.
"""

from __future__ import annotations

from html import escape

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:8px 0 20px}th,td{border:1px solid #ccc;padding:4px 8px;text-align:left}
th{background:#f3f3f3}.fail{color:#b00}.plots{display:flex;flex-wrap:wrap;gap:24px}
figure{margin:0}figcaption{font-weight:600;margin-bottom:4px}
"""


def render(metrics: dict, title: str = "Labeling quality report") -> str:
    annotators = metrics["annotators"]
    first_control = next(iter(metrics["confusions"]), None)
    plots = [
        _figure("Gold accuracy per labeler (95% interval)", accuracy_chart(annotators)),
        _figure("Gold accuracy per week", trend_chart(annotators)),
    ]
    if first_control:
        kappa = metrics["agreement"][first_control]["cohen_kappa_matrix"]
        confusion = metrics["confusions"][first_control]
        has_gold = any(any(row) for row in confusion["vs_gold"])
        plots.append(_figure(f"Cohen's kappa between labelers ({first_control})", heat_map(kappa["values"], kappa["labelers"], kappa["labelers"], signed=True)))
        table = confusion["vs_gold"] if has_gold else confusion["vs_consensus"]
        plots.append(_figure(f"Confusion, {'gold' if has_gold else 'consensus'} (rows) vs labelers (columns), {first_control}",
                             heat_map(table, confusion["labels"], confusion["labels"])))
    counts = metrics["counts"]
    return "\n".join([
        "<!doctype html><html><head><meta charset='utf-8'>", f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p>{counts['tasks']} tasks, {counts['labelers']} labelers, {counts['annotations']} annotations."
        + (f" Skipped: {escape(', '.join(f'{n} {why}' for why, n in metrics['skipped'].items()))}." if metrics["skipped"] else "") + "</p>",
        f"<div class='plots'>{''.join(plots)}</div>",
        "<h2>Labelers</h2>", labeler_table(annotators),
        "<h2>Agreement</h2>", agreement_table(metrics["agreement"]),
        "<h2>Guideline gaps</h2>", gaps_tables(metrics["guideline_gaps"]),
        "</body></html>",
    ])


def _figure(caption: str, svg: str) -> str:
    return f"<figure><figcaption>{escape(caption)}</figcaption>{svg}</figure>"


def accuracy_chart(annotators: dict, width: int = 460) -> str:
    rows = [(name, a) for name, a in annotators.items() if a["gold_accuracy"] is not None]
    if not rows:
        return "<p><i>No gold answers yet.</i></p>"
    left, bar = 150, width - 240
    height = 24 * len(rows) + 30
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' class='accuracy'>"]
    for i, (name, a) in enumerate(rows):
        y = 10 + 24 * i
        parts.append(f"<text x='{left - 6}' y='{y + 12}' text-anchor='end' font-size='12'>{escape(_short(name))}</text>")
        parts.append(f"<rect x='{left}' y='{y + 2}' width='{bar * a['gold_accuracy']:.1f}' height='14' fill='#9ecae1'/>")
        parts.append(f"<line x1='{left + bar * a['gold_ci_low']:.1f}' x2='{left + bar * a['gold_ci_high']:.1f}' y1='{y + 9}' y2='{y + 9}' stroke='#08306b' stroke-width='2'/>")
        parts.append(f"<text x='{left + bar + 8}' y='{y + 13}' font-size='11'>{a['gold_accuracy']:.0%} (n={a['gold_n']})</text>")
    axis = height - 14
    for tick in (0, 0.5, 1):
        parts.append(f"<text x='{left + bar * tick:.1f}' y='{axis + 10}' font-size='10' text-anchor='middle'>{tick:.0%}</text>")
    parts.append("</svg>")
    return "".join(parts)


def trend_chart(annotators: dict, width: int = 520, height: int = 220) -> str:
    weeks = sorted({week for a in annotators.values() for week in a["trend"]})
    if not weeks:
        return "<p><i>No dated gold answers yet.</i></p>"
    left, top, plot_w, plot_h = 40, 10, width - 220, height - 40
    x = {week: left + (plot_w * i / max(len(weeks) - 1, 1)) for i, week in enumerate(weeks)}
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' class='trend'>",
             f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='none' stroke='#ccc'/>"]
    for i, (name, a) in enumerate(sorted(annotators.items())):
        if not a["trend"]:
            continue
        color = PALETTE[i % len(PALETTE)]
        points = " ".join(f"{x[w]:.1f},{top + plot_h * (1 - acc):.1f}" for w, acc in a["trend"].items())
        parts.append(f"<polyline points='{points}' fill='none' stroke='{color}' stroke-width='2'/>")
        for w, acc in a["trend"].items():
            parts.append(f"<circle cx='{x[w]:.1f}' cy='{top + plot_h * (1 - acc):.1f}' r='3' fill='{color}'/>")
        parts.append(f"<text x='{left + plot_w + 8}' y='{top + 14 * (i + 1)}' font-size='11' fill='{color}'>{escape(_short(name, 26))}</text>")
    for week in (weeks[0], weeks[-1]):
        parts.append(f"<text x='{x[week]:.1f}' y='{height - 12}' font-size='10' text-anchor='middle'>{week}</text>")
    parts.append(f"<text x='{left - 4}' y='{top + 8}' font-size='10' text-anchor='end'>100%</text>")
    parts.append(f"<text x='{left - 4}' y='{top + plot_h}' font-size='10' text-anchor='end'>0%</text></svg>")
    return "".join(parts)


def heat_map(values: list[list], rows: list[str], columns: list[str], signed: bool = False, cell: int = 34) -> str:
    numbers = [v for row in values for v in row if v is not None]
    if not numbers:
        return "<p><i>Not enough overlap yet.</i></p>"
    top = max(abs(v) for v in numbers) or 1
    left, head = 120, 90
    width, height = left + cell * len(columns) + 10, head + cell * len(rows) + 10
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' class='heatmap'>"]
    for j, name in enumerate(columns):
        x = left + cell * j + cell / 2
        parts.append(f"<text transform='translate({x:.0f},{head - 6}) rotate(-45)' font-size='11'>{escape(_short(name, 14))}</text>")
    for i, (name, row) in enumerate(zip(rows, values)):
        y = head + cell * i
        parts.append(f"<text x='{left - 6}' y='{y + cell / 2 + 4:.0f}' text-anchor='end' font-size='11'>{escape(_short(name, 16))}</text>")
        for j, v in enumerate(row):
            fill = "#eee" if v is None else _color(v / top, signed)
            label = "" if v is None else (f"{v:.2f}" if signed else f"{v:g}")
            parts.append(f"<rect x='{left + cell * j}' y='{y}' width='{cell - 1}' height='{cell - 1}' fill='{fill}'><title>{escape(label)}</title></rect>")
            parts.append(f"<text x='{left + cell * j + cell / 2:.0f}' y='{y + cell / 2 + 4:.0f}' font-size='10' text-anchor='middle'>{label}</text>")
    parts.append("</svg>")
    return "".join(parts)


def _color(share: float, signed: bool) -> str:
    share = max(-1.0, min(1.0, share))
    if signed and share < 0:
        level = int(255 - 120 * -share)
        return f"rgb(255,{level},{level})"
    level = int(255 - 170 * share)
    return f"rgb({level},{level + (255 - level) // 3},255)"


def labeler_table(annotators: dict) -> str:
    head = "<tr><th>labeler</th><th>gold accuracy</th><th>95% interval</th><th>gold n</th><th>agreement with consensus</th><th>flag rate</th><th>median lead time (s)</th><th>annotations</th></tr>"
    rows = []
    for name, a in sorted(annotators.items()):
        interval = "" if a["gold_ci_low"] is None else f"{a['gold_ci_low']:.0%} - {a['gold_ci_high']:.0%}"
        rows.append(
            f"<tr><td>{escape(name)}</td><td>{_pct(a['gold_accuracy'])}</td><td>{interval}</td><td>{a['gold_n']}</td>"
            f"<td>{_pct(a['agreement_with_consensus'])}</td><td>{_pct(a['flag_rate'])}</td>"
            f"<td>{'' if a['median_lead_time'] is None else round(a['median_lead_time'], 1)}</td><td>{a['annotations']}</td></tr>"
        )
    return f"<table class='labelers'>{head}{''.join(rows)}</table>"


def agreement_table(agreement: dict) -> str:
    head = "<tr><th>control</th><th>Krippendorff's alpha</th><th>Fleiss' kappa</th><th>mean Cohen's kappa</th><th>metric</th></tr>"
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{_fmt(a['krippendorff_alpha'])}</td><td>{_fmt(a['fleiss_kappa'])}</td>"
        f"<td>{_fmt(a['cohen_kappa_mean'])}</td><td>{a['metric']}</td></tr>"
        for name, a in agreement.items()
    )
    return f"<table class='agreement'>{head}{rows}</table>"


def gaps_tables(gaps: list[dict]) -> str:
    sections = []
    pairs = [g for g in gaps if g["kind"] == "confused_pair"]
    if pairs:
        rows = "".join(
            f"<tr><td>{escape(g['control'])}</td><td>{escape(g['expected'])}</td><td>{escape(g['given'])}</td><td>{g['count']}</td>"
            f"<td>{', '.join(map(str, g['example_tasks']))}</td></tr>" for g in pairs
        )
        sections.append("<h3>Most confused labels (on gold)</h3><table class='gaps confused'><tr><th>control</th><th>expected</th>"
                        f"<th>labeled as</th><th>times</th><th>example tasks</th></tr>{rows}</table>")
    flags = [g for g in gaps if g["kind"] == "flagged_label"]
    if flags:
        rows = "".join(f"<tr><td>{escape(g['label'])}</td><td>{g['count']}</td><td>{escape(', '.join(f'{r} ({n})' for r, n in g['reasons'].items()))}</td></tr>" for g in flags)
        sections.append(f"<h3>Labels with the most flags</h3><table class='gaps flags'><tr><th>label</th><th>flags</th><th>reasons</th></tr>{rows}</table>")
    rules = [g for g in gaps if g["kind"] == "overridden_rule"]
    if rules:
        rows = "".join(f"<tr><td>{escape(g['rule'])}</td><td>{g['overridden']} of {g['fired']}</td><td>{g['rate']:.0%}</td></tr>" for g in rules)
        sections.append(f"<h3>Decision rules labelers override</h3><table class='gaps rules'><tr><th>rule</th><th>overridden</th><th>rate</th></tr>{rows}</table>")
    low = [g for g in gaps if g["kind"] == "low_consensus"]
    if low:
        rows = "".join(f"<tr><td>{g['task']}</td><td>{escape(g['control'])}</td><td>{g['confidence']:.0%}</td></tr>" for g in low)
        sections.append(f"<h3>Tasks with the lowest consensus</h3><table class='gaps low'><tr><th>task</th><th>control</th><th>confidence</th></tr>{rows}</table>")
    return "".join(sections) or "<p><i>No gaps found.</i></p>"


def _pct(value) -> str:
    return "" if value is None else f"{value:.0%}"


def _fmt(value) -> str:
    return "" if value is None else f"{value:.3f}"


def _short(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
