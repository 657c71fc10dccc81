"""The report's plots read correctly: one week of data is not on the frame's edge, no label is cut off, every control is drawn."""

import re

import pytest

from ls_context.quality.export import build
from ls_context.quality.metrics import compute
from ls_context.quality.report import plots, render
from ls_context.quality.synthetic import confusion, simulated_export

LABELS = ["Positive", "Negative", "A label name well over fourteen characters"]


def pilot(weeks: tuple[str, ...] = ("2026-11-24T10:00:00Z",)) -> dict:
    labelers = {f"a.rather.long.labeler.name{i}@example.com": confusion(3, a) for i, a in enumerate([0.9, 0.8, 0.6])}
    export, gold, _ = simulated_export(60, labelers, LABELS, per_task=3, gold_tasks=15, control="sentiment", seed=1)
    for t, task in enumerate(export):
        for annotation in task["annotations"]:
            annotation["created_at"] = weeks[t % len(weeks)]
            annotation["result"].append({"from_name": "topic", "to_name": "text", "type": "choices",
                                         "value": {"choices": ["billing" if t % 2 else "delivery"]}})
    return compute(build(export, gold))


def test_a_single_week_sits_in_the_middle_of_the_frame():
    trend = dict(plots(pilot()))["Gold accuracy per week"]
    frame = re.search(r"<rect x='(\d+)' y='\d+' width='(\d+)'", trend)
    left, width = int(frame.group(1)), int(frame.group(2))
    centres = {float(x) for x in re.findall(r"<circle cx='([\d.]+)'", trend)}
    assert centres == {left + width / 2} and "<polyline" not in trend  # three labelers, one point each, no line to draw


def test_every_control_gets_its_heat_maps_with_a_colour_scale():
    captions = [caption for caption, _ in plots(pilot())]
    for control in ("sentiment", "topic"):
        assert f"Cohen's kappa between labelers ({control})" in captions
        assert any(caption.startswith("Confusion") and caption.endswith(control) for caption in captions)
    assert all("class='scale'" in svg for caption, svg in plots(pilot()) if caption.startswith(("Cohen", "Confusion")))


@pytest.mark.browser
def test_no_text_of_any_plot_is_cut_off(browser, tmp_path):
    page = browser.new_page(viewport={"width": 1200, "height": 900})
    path = tmp_path / "report.html"
    path.write_text(render(pilot(("2026-11-10T10:00:00Z", "2026-11-17T10:00:00Z", "2026-11-24T10:00:00Z"))))
    page.goto(path.as_uri())
    outside = page.evaluate("""() => [...document.querySelectorAll('svg')].flatMap(svg => {
        const frame = svg.getBoundingClientRect();
        return [...svg.querySelectorAll('text')].map(text => [text.textContent, text.getBoundingClientRect(), frame])
            .filter(([, box, f]) => box.left < f.left - 0.5 || box.top < f.top - 0.5 || box.right > f.right + 0.5 || box.bottom > f.bottom + 0.5)
            .map(([content]) => content);
    })""")
    texts = page.evaluate("() => document.querySelectorAll('svg text').length")
    page.close()
    assert texts > 40 and outside == []
