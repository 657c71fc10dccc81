"""The quality report: one self-contained HTML file with inline SVG plots, and the metrics as JSON.

The page is the template `templates/report.html`; plots are drawn here as plain SVG so the report
opens anywhere, offline, without a plotting library. Every text from the data is escaped.
"""

from __future__ import annotations

import numpy as np
from jinja2 import Environment, PackageLoader
from markupsafe import Markup, escape

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"]
GAP_KINDS = ("confused_pair", "flagged_label", "overridden_rule", "low_consensus")


def _pct(value) -> str:
    return "" if value is None else f"{value:.0%}"


def _decimal(value) -> str:
    return "" if value is None else f"{value:.3f}"


# Autoescape on: labeler names, labels, task ids and rule ids come from the export, not from us.
TEMPLATES = Environment(loader=PackageLoader("ls_context.quality", "templates"), autoescape=True, trim_blocks=True, lstrip_blocks=True)
TEMPLATES.filters.update(pct=_pct, decimal=_decimal)


def render(metrics: dict, title: str = "Labeling quality report", gate=None, flags=None, task_link: str | None = None,
           nonce: str = "") -> str:
    """The whole report as one HTML page: plots, the labeler and agreement tables, the guideline gaps.

    The lead's dashboard adds `gate` ((criteria, alert lines)), the open `flags` grouped by reason,
    links to each task in Label Studio (`task_link`, the URL a task id completes) and the nonce its
    Content-Security-Policy allows the style sheet by.
    """
    gaps = {kind: [g for g in metrics["guideline_gaps"] if g["kind"] == kind] for kind in GAP_KINDS}
    return TEMPLATES.get_template("report.html").render(
        title=title, counts=metrics["counts"], skipped=metrics["skipped"], plots=plots(metrics),
        labelers=sorted(metrics["annotators"].items()), agreement=metrics["agreement"],
        gaps={kind: rows for kind, rows in gaps.items() if rows},
        regions=metrics.get("regions") or {}, region_plots=region_plots(metrics.get("regions") or {}),
        texts=metrics.get("texts") or {}, gate=gate, flags=flags, task_link=task_link, nonce=nonce,
        course=metrics.get("onboarding"),
    )


def region_plots(regions: dict) -> dict:
    """Per region control: the labeler x labeler F1 heat map, and a gold-vs-labeler picture of each worst task."""
    plots = {}
    for name, found in regions.items():
        matrix = found["agreement"]["f1_matrix"]
        shown = [i for i, labeler in enumerate(matrix["labelers"]) if labeler in found["labelers"]] or range(len(matrix["labelers"]))
        plots[name] = {
            "matrix": heat_map([[matrix["values"][i][j] for j in shown] for i in shown],
                               [matrix["labelers"][i] for i in shown], [matrix["labelers"][i] for i in shown], signed=True),
            "worst": [(f"task {row['task']}, {row['labeler']}: F1 {row['f1']:.0%}", region_picture(row, found["kind"]))
                      for row in found["worst"]],
        }
    return plots


def region_picture(row: dict, kind: str, width: int = 320) -> Markup:
    """Gold regions in green, the labeler's in dashed red: over the task's image when the report can reach it.

    Boxes and polygons are in percent of the image, as Label Studio stores them; spans are listed
    as text in the order they appear, gold's and the labeler's side by side.
    """
    if kind in ("labels", "hypertextlabels"):
        return _span_lines(row, width)
    size = row.get("image_size")
    height = round(width * min(max(size[1] / size[0], 0.25), 4)) if size else round(width * 0.75)
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' viewBox='0 0 100 100' "
             "preserveAspectRatio='none' role='img' class='regions'>",
             "<rect x='0' y='0' width='100' height='100' fill='#f7f7f7' stroke='#ccc' stroke-width='0.5'/>"]
    if row.get("image"):
        parts.append(f"<image href='{escape(row['image'])}' x='0' y='0' width='100' height='100' preserveAspectRatio='none'/>")
    for regions, colour, dash, below in ((row["gold"], "#1a9850", "", False), (row["given"], "#d73027", " stroke-dasharray='2,1.2'", True)):
        for region in regions:
            parts.append(_region_shape(region, colour, dash, below))
    parts.append("</svg>")
    return Markup("".join(parts))


def _span_lines(row: dict, width: int, line: int = 15, most: int = 8) -> Markup:
    """Gold's spans (green) and the labeler's (red), one per line in text order: label and the text it covers."""
    def ordered(regions):
        return sorted(regions, key=lambda r: r["value"].get("start") if isinstance(r["value"].get("start"), (int, float)) else 0)[:most]
    gold, given = ordered(row["gold"]), ordered(row["given"])
    height = line * (max(len(gold), len(given), 1) + 1) + 8
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' class='regions spans'>",
             f"<rect x='0' y='0' width='{width}' height='{height}' fill='#f7f7f7' stroke='#ccc'/>",
             f"<text x='6' y='{line}' font-size='11' font-weight='600' fill='#1a9850'>gold</text>",
             f"<text x='{width // 2 + 4}' y='{line}' font-size='11' font-weight='600' fill='#d73027'>labeler</text>"]
    for column, (regions, colour) in enumerate(((gold, "#1a9850"), (given, "#d73027"))):
        x = 6 if column == 0 else width // 2 + 4
        for number, region in enumerate(regions, start=2):
            text = region["value"].get("text")
            shown = f"{region['label']}: \u201c{text}\u201d" if isinstance(text, str) else region["label"]
            parts.append(f"<text x='{x}' y='{line * number}' font-size='10' fill='{colour}'>{escape(_short(shown, 27))}"
                         f"<title>{escape(shown)}</title></text>")
    parts.append("</svg>")
    return Markup("".join(parts))


def _region_shape(region: dict, colour: str, dash: str, below: bool) -> str:
    """One region's outline and label; gold's label above it, the labeler's below, so both stay readable."""
    value, label = region["value"], escape(_short(region["label"] or "", 16))
    try:
        if "points" in value:
            points = np.asarray(value["points"], dtype=float).reshape(-1, 2)
            x, y, h = points[:, 0].min(), points[:, 1].min(), np.ptp(points[:, 1])
            shape = (f"<polygon points='{' '.join(f'{px:.2f},{py:.2f}' for px, py in points)}' fill='none' "
                     f"stroke='{colour}' stroke-width='0.8'{dash}/>")
        else:
            x, y, w, h = (float(value[k]) for k in ("x", "y", "width", "height"))
            rotation = float(value.get("rotation") or 0)
            shape = (f"<rect x='{x:.2f}' y='{y:.2f}' width='{w:.2f}' height='{h:.2f}' fill='none' stroke='{colour}' "
                     f"stroke-width='0.8'{dash} transform='rotate({rotation:.1f} {x:.2f} {y:.2f})'/>")
    except (KeyError, TypeError, ValueError):
        return ""
    at = min(y + h + 4, 99) if below else max(y - 0.8, 3)
    return shape + f"<text x='{x + 0.5:.2f}' y='{at:.2f}' font-size='3.5' fill='{colour}'>{label}</text>"


def plots(metrics: dict) -> list[tuple[str, Markup]]:
    """(caption, SVG) of each plot: accuracy and its trend, then the kappa and confusion heat maps of every control."""
    annotators = metrics["annotators"]
    figures = [
        ("Gold accuracy per labeler (95% interval)", accuracy_chart(annotators)),
        ("Gold accuracy per week", trend_chart(annotators)),
    ]
    for control, confusion in metrics["confusions"].items():
        kappa = metrics["agreement"][control]["cohen_kappa_matrix"]
        has_gold = any(any(row) for row in confusion["vs_gold"])
        if metrics["agreement"][control]["metric"] == "nominal":
            figures.append((f"Cohen's kappa between labelers ({control})",
                            heat_map(kappa["values"], kappa["labelers"], kappa["labelers"], signed=True)))
        table = confusion["vs_gold"] if has_gold else confusion["vs_consensus"]
        figures.append((f"Confusion, {'gold' if has_gold else 'consensus'} (rows) vs labelers (columns), {control}",
                        heat_map(table, confusion["labels"], confusion["labels"])))
    return figures


def accuracy_chart(annotators: dict, width: int = 460) -> Markup:
    """A bar per labeler with gold answers: accuracy, and its 95% interval as a line."""
    rows = [(name, a) for name, a in annotators.items() if a["gold_accuracy"] is not None]
    if not rows:
        return Markup("<p><i>No gold answers yet.</i></p>")
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
    return Markup("".join(parts))


def trend_chart(annotators: dict, width: int = 520, height: int = 220) -> Markup:
    """Gold accuracy per ISO week, a line per labeler; each week sits in the middle of its own band, so one week reads too."""
    weeks = sorted({week for a in annotators.values() for week in a["trend"]})
    if not weeks:
        return Markup("<p><i>No dated gold answers yet.</i></p>")
    left, top, plot_w, plot_h = 40, 10, width - 220, height - 50
    x = {week: left + plot_w * (i + 0.5) / len(weeks) for i, week in enumerate(weeks)}
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' class='trend'>",
             f"<rect x='{left}' y='{top}' width='{plot_w}' height='{plot_h}' fill='none' stroke='#ccc'/>"]
    for level in (0.5,):
        parts.append(f"<line x1='{left}' x2='{left + plot_w}' y1='{top + plot_h * (1 - level):.1f}' y2='{top + plot_h * (1 - level):.1f}' "
                     "stroke='#eee'/>")
    for i, (name, a) in enumerate(sorted(annotators.items())):
        if not a["trend"]:
            continue
        color = PALETTE[i % len(PALETTE)]
        points = " ".join(f"{x[w]:.1f},{top + plot_h * (1 - acc):.1f}" for w, acc in a["trend"].items())
        if len(a["trend"]) > 1:
            parts.append(f"<polyline points='{points}' fill='none' stroke='{color}' stroke-width='2'/>")
        for w, acc in a["trend"].items():
            parts.append(f"<circle cx='{x[w]:.1f}' cy='{top + plot_h * (1 - acc):.1f}' r='3.5' fill='{color}'><title>"
                         f"{escape(name)}, {escape(w)}: {acc:.0%}</title></circle>")
        parts.append(f"<text x='{left + plot_w + 8}' y='{top + 14 * (i + 1)}' font-size='11' fill='{color}'>{escape(_short(name, 26))}</text>")
    step = max(1, -(-len(weeks) // 6))  # at most six week labels, evenly spread
    for week in weeks[::step]:
        parts.append(f"<text x='{x[week]:.1f}' y='{top + plot_h + 16}' font-size='10' text-anchor='middle'>{escape(week)}</text>")
    parts.append(f"<text x='{left - 4}' y='{top + 8}' font-size='10' text-anchor='end'>100%</text>")
    parts.append(f"<text x='{left - 4}' y='{top + plot_h * 0.5 + 4:.0f}' font-size='10' text-anchor='end'>50%</text>")
    parts.append(f"<text x='{left - 4}' y='{top + plot_h}' font-size='10' text-anchor='end'>0%</text></svg>")
    return Markup("".join(parts))


def heat_map(values: list[list], rows: list[str], columns: list[str], signed: bool = False, cell: int = 34) -> Markup:
    """A table of numbers as coloured cells, with a colour scale; `signed` colours negatives red (for kappas).

    Column names are rotated 45 degrees; the space above and to the right of the cells is sized to the
    longest one, so none is cut off.
    """
    numbers = [v for row in values for v in row if v is not None]
    if not numbers:
        return Markup("<p><i>Not enough overlap yet.</i></p>")
    top = max(abs(v) for v in numbers) or 1
    longest = max((len(_short(name, 14)) for name in columns), default=1)
    reach = int(longest * 7.2 * 0.71) + 14  # a rotated label's height and width: characters x ~7 px (11 px type) x sin 45
    left, head = max(60, max((len(_short(name, 26)) for name in rows), default=1) * 7 + 12), max(40, reach)
    scale_x = left + cell * len(columns) + max(16, reach - cell // 2)
    width, height = scale_x + 60, head + max(cell * len(rows), 90) + 10
    parts = [f"<svg xmlns='http://www.w3.org/2000/svg' width='{width}' height='{height}' role='img' class='heatmap'>"]
    for j, name in enumerate(columns):
        x = left + cell * j + cell / 2
        parts.append(f"<text transform='translate({x:.0f},{head - 6}) rotate(-45)' font-size='11'>{escape(_short(name, 14))}"
                     f"<title>{escape(name)}</title></text>")
    for i, (name, row) in enumerate(zip(rows, values)):
        y = head + cell * i
        parts.append(f"<text x='{left - 6}' y='{y + cell / 2 + 4:.0f}' text-anchor='end' font-size='11'>{escape(_short(name, 26))}"
                     f"<title>{escape(name)}</title></text>")
        for j, v in enumerate(row):
            fill = "#eee" if v is None else _color(v / top, signed)
            label = "" if v is None else (f"{v:.2f}" if signed else f"{v:g}")
            parts.append(f"<rect x='{left + cell * j}' y='{y}' width='{cell - 1}' height='{cell - 1}' fill='{fill}'><title>{escape(label)}</title></rect>")
            parts.append(f"<text x='{left + cell * j + cell / 2:.0f}' y='{y + cell / 2 + 4:.0f}' font-size='10' text-anchor='middle'>{label}</text>")
    parts += _colour_scale(scale_x, head, -top if signed else 0, top, signed)
    parts.append("</svg>")
    return Markup("".join(parts))


def _colour_scale(x: float, y: float, low: float, high: float, signed: bool, length: int = 80) -> list[str]:
    """A vertical bar of the colours used, from `high` at the top to `low` at the bottom, with both ends labelled."""
    steps = 16
    parts = [f"<rect class='scale' x='{x:.0f}' y='{y + length * k / steps:.1f}' width='12' height='{length / steps + 0.5:.1f}' "
             f"fill='{_color((high - (high - low) * k / (steps - 1)) / (abs(high) or 1), signed)}'/>" for k in range(steps)]
    for value, at in ((high, y + 8), (low, y + length)):
        shown = f"{value:.2f}" if signed else f"{value:g}"
        parts.append(f"<text x='{x + 16:.0f}' y='{at:.0f}' font-size='10'>{shown}</text>")
    return parts


def _color(share: float, signed: bool) -> str:
    share = max(-1.0, min(1.0, share))
    if signed and share < 0:
        level = int(255 - 120 * -share)
        return f"rgb(255,{level},{level})"
    level = int(255 - 170 * share)
    return f"rgb({level},{level + (255 - level) // 3},255)"


def _short(text: str, limit: int = 22) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"
