"""The boxes and spans scenarios, in a real Label Studio and a real browser, as the demo runs them.

Street scenes: a labeler sees the picture, the label hints and the flag, boxes a gold task with the
wrong label and reads the verdict on their own page; the pilot's gate fails the sloppy labeler on
box IoU and names the pair the confuser swaps; the report shows the region table and a gold vs
labeler picture over the image. Claim entities: the keyword rules mark spans, each with its own
rationale in the region list; the gate fails the sloppy labeler on span IoU. Each step leaves a
screenshot.
"""

import re

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from harness.browser import open_task
from test_journey import start_demo
from ls_context.checks.personal import Links
from ls_context.cli import main
from ls_context.demo.run import simulate_pilot
from ls_context.demo.scenarios import scenario
from ls_context.quality.export import data_key
from ls_context.store import Gold

pytestmark = [pytest.mark.labelstudio, pytest.mark.browser]
STREETS, ENTITIES = scenario("street-scenes"), scenario("claim-entities")


@pytest.fixture
def demo_of(ls, label_studio, tmp_path, monkeypatch):
    started = []

    def start(chosen):
        prepared, backend = start_demo(chosen, label_studio, tmp_path, monkeypatch)
        started.append((prepared, backend))
        return prepared
    yield start
    for prepared, backend in started:
        backend.stop()
        ls.projects.delete(id=prepared.project_id)


def gold_ids(demo) -> set[int]:
    with demo.services.store.session() as session:
        return set(session.scalars(select(Gold.task_id).where(Gold.project_id == demo.project_id)))


def test_boxes_journey_from_the_labelers_view_to_the_gate_and_the_report(demo_of, page, label_studio, browser, tmp_path, screenshot):
    demo = demo_of(STREETS)
    view = page.locator(".lsf-main-view")
    results = STREETS.results()
    # 1. A gold picture with a car: the picture is drawn, the labels carry their definitions, the flag is there.
    gold = next(t for t in demo.studio.tasks(demo.project_id) if t["id"] in gold_ids(demo)
                and [item["value"]["rectanglelabels"] for item in results[data_key(t["data"])]] == [["Car"]]
                and results[data_key(t["data"])][0]["value"]["x"] > 5)
    open_task(page, label_studio.url, demo.project_id, gold["id"])
    image = view.locator("img").first
    image.wait_for(state="visible", timeout=30_000)
    page.wait_for_function("() => [...document.querySelectorAll('.lsf-main-view img')].some(i => i.complete && i.naturalWidth === 640)",
                           timeout=30_000)
    assert view.get_by_text("Not sure? Flag it instead of guessing:").is_visible()
    view.get_by_text(re.compile("^Truck$")).first.hover()
    page.get_by_text(STREETS.guide().controls["objects"].label("Truck").hint).wait_for(state="visible", timeout=5_000)
    screenshot(page, "1-picture-hints-flag", full_page=False)

    # 2. The car boxed as a Truck: the labeler's own page says which label gold expected.
    view.get_by_text(re.compile("^Truck$")).first.click()
    box = view.locator("canvas").first.bounding_box()
    car = results[data_key(gold["data"])][0]["value"]
    left, top = box["x"] + box["width"] * car["x"] / 100, box["y"] + box["height"] * car["y"] / 100
    right, bottom = left + box["width"] * car["width"] / 100, top + box["height"] * car["height"] / 100
    page.mouse.move(left, top)
    page.mouse.down()
    page.mouse.move((left + right) / 2, (top + bottom) / 2, steps=5)
    page.mouse.move(right, bottom, steps=5)
    page.mouse.up()
    page.wait_for_timeout(300)
    screenshot(page, "2-box-drawn", full_page=False)
    page.get_by_role("button", name="Submit").click()
    drawn = _wait_for_annotation(demo, gold["id"])
    [region] = [item for item in drawn["result"] if item["from_name"] == "objects"]
    assert region["value"]["rectanglelabels"] == ["Truck"]
    feedback = browser.new_page(viewport={"width": 560, "height": 700})
    feedback.goto(Links.of(demo.services.store).feedback_url(demo.backend_url, demo.studio.whoami().id))
    verdict = feedback.get_by_text("Gold check FAILED.", exact=False).first
    verdict.wait_for(state="visible", timeout=15_000)
    assert "Expected: Car; you gave: Truck." in verdict.inner_text()
    screenshot(feedback, "2b-own-feedback-page", full_page=False)
    feedback.close()

    # 3. The pilot: the gate fails the sloppy labeler on box IoU and names the pair the confuser swaps.
    verdict, report_path = simulate_pilot(demo, tmp_path)
    lines = verdict.splitlines()
    iou = next(line for line in lines if line.startswith(("PASS", "FAIL")) and "region IoU" in line)
    assert iou.startswith("FAIL") and "sloppy@example.com on objects" in iou and "careful@" not in iou and "confuser@" not in iou
    assert any(re.match(r"ALERT confuser@example.com: (Car -> Truck|Truck -> Car) on \d+ of \d+ gold", line) for line in lines)
    assert any(line.startswith("ALERT sloppy@example.com: regions drawn loosely in objects: mean IoU") for line in lines)
    gate = CliRunner().invoke(main, ["gate", "--project", str(demo.project_id)])  # gold and thresholds from the store
    assert gate.exit_code == 1 and "sloppy@example.com on objects" in gate.output, gate.output

    # 4. The report: the region tables and the worst tasks drawn over their pictures.
    page.goto(report_path.as_uri())
    page.get_by_role("heading", name=re.compile("^Regions: objects")).wait_for()
    rows = page.locator("table.regions.labelers tr")
    sloppy = rows.filter(has_text="sloppy@example.com").inner_text()
    confuser = rows.filter(has_text="confuser@example.com").inner_text()
    assert "Truck" in confuser or "Car" in confuser.split("\t")[-1]
    assert float(sloppy.split("\t")[6]) < 0.75 < float(rows.filter(has_text="careful@example.com").inner_text().split("\t")[6])
    pictures = page.locator("figure.region-picture svg")
    assert pictures.count() >= 3 and pictures.first.locator("image").count() == 1 and pictures.first.locator("rect").count() >= 3
    page.set_viewport_size({"width": 1100, "height": 900})
    screenshot(page.locator("section.region-control").first, "4-report-regions", full_page=None)


def test_spans_journey_with_rule_marked_spans_and_the_gate(demo_of, page, label_studio, tmp_path, screenshot):
    demo = demo_of(ENTITIES)
    view = page.locator(".lsf-main-view")
    # 1. A task where the rules mark an injury and an amount: both spans pre-annotated, each with its own rationale.
    task = next(t for t in demo.studio.tasks(demo.project_id) if re.search(r"broken|whiplash|sprained", t["data"]["description"])
                and re.search(r"\d EUR", t["data"]["description"]) and t["id"] not in gold_ids(demo))
    _wait_for_prediction(demo, task["id"])
    open_task(page, label_studio.url, demo.project_id, task["id"])
    rule = next(r for r in ENTITIES.guide().rules if r.id == "injury-words")
    # Label Studio shows each region's rationale as a read-only text box under the region, in the region list.
    page.wait_for_function("why => [...document.querySelectorAll('textarea')].some(box => box.value.startsWith(why))",
                           arg=rule.rationale, timeout=15_000)
    amount = re.search(r"[\d,]+ EUR", task["data"]["description"]).group(0)
    assert view.locator(".htx-highlight").filter(has_text=amount).count() >= 1
    screenshot(page, "1-spans-with-rationale", full_page=False)

    # 2. The pilot: the gate fails the sloppy labeler on span IoU and names the Cause / Damage swap.
    verdict, report_path = simulate_pilot(demo, tmp_path)
    lines = verdict.splitlines()
    iou = next(line for line in lines if "region IoU" in line)
    assert iou.startswith("FAIL") and "sloppy@example.com on entities" in iou and "careful@" not in iou
    assert any(re.match(r"ALERT confuser@example.com: (Cause -> Damage|Damage -> Cause)", line) for line in lines)

    # 3. The report lists the worst tasks' spans, gold's beside the labeler's, with the text each one covers.
    page.goto(report_path.as_uri())
    section = page.locator("section.region-control").first
    section.wait_for()
    assert section.locator("h2").inner_text().startswith("Regions: entities (labels")
    picture = section.locator("figure.region-picture svg.spans").first
    assert picture.locator("text").count() >= 4 and re.search(r"(Cause|Damage|Injury|Amount): \u201c", picture.text_content())
    screenshot(section, "3-report-spans", full_page=None)


def _wait_for_annotation(demo, task_id: int, timeout: float = 15) -> dict:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = demo.studio.export(demo.project_id)
        task = next((t for t in found if t["id"] == task_id and t.get("annotations")), None)
        if task:
            return task["annotations"][-1]
        time.sleep(0.3)
    raise AssertionError(f"task {task_id} has no annotation after {timeout} s")


def _wait_for_prediction(demo, task_id: int, timeout: float = 30) -> None:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = next(t for t in demo.studio.export(demo.project_id) if t["id"] == task_id)
        if task.get("predictions"):
            return
        time.sleep(0.3)
    raise AssertionError(f"task {task_id} has no prediction after {timeout} s")
