"""The lead opens the HTML report in a real browser: it renders, with its plots and gap tables."""

import json

import pytest
from click.testing import CliRunner

from ls_context.cli import main
from ls_context.quality.synthetic import confusion, simulated_export

pytestmark = pytest.mark.browser


def test_report_renders_with_plots(browser, tmp_path, screenshot):
    labelers = {
        "careful@example.com": confusion(3, 0.95),
        "hasty@example.com": confusion(3, 0.75),
        "confuser@example.com": confusion(3, 0.95, swap=(0, 1), swap_rate=0.8),
    }
    export, gold, _ = simulated_export(200, labelers, ["Enterprise", "Mid-market", "Not a lead"], per_task=3, gold_tasks=30, seed=2)
    (tmp_path / "export.json").write_text(json.dumps(export))
    (tmp_path / "gold.json").write_text(json.dumps(gold))
    result = CliRunner().invoke(main, ["report", "--export", str(tmp_path / "export.json"), "--gold", str(tmp_path / "gold.json"),
                                       "--out", str(tmp_path / "report.html")])
    assert result.exit_code == 0, result.output

    page = browser.new_page(viewport={"width": 1200, "height": 900})
    page.goto((tmp_path / "report.html").as_uri())
    screenshot(page)

    for plot in ("svg.accuracy", "svg.trend", "svg.heatmap"):
        box = page.locator(plot).first.bounding_box()
        assert box and box["width"] > 100 and box["height"] > 50, plot
    assert page.locator("svg.accuracy rect").count() == 3
    assert page.locator("table.confused").get_by_text("Enterprise").first.is_visible()
    page.close()
