"""The README's production section, run as written against a real Label Studio.

Its TOML file and bash lines are read out of README.md and run with only the hosts, ports, paths,
project id and secrets replaced by the test's own (the table below): gunicorn with basic auth and
the webhook secret in one directory, on PostgreSQL; the team's commands from a second directory,
with no repeated flags. Between the commands, three labelers annotate a held-out project of real
review snippets (VADER's, not written for this project) through Label Studio's API.
"""

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
import requests
from sqlalchemy import func, select

from harness.postgres import postgres_schema
from harness.vader import snippets
from ls_context.demo.local_studio import free_port
from ls_context.store import Event, Feedback, Store

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(os.environ.get("VIRTUAL_ENV") or ROOT / ".venv") / "bin"
PASSWORD, SECRET = "basic-auth-password-1", "webhook-secret-value-1"
pytestmark = [pytest.mark.labelstudio, pytest.mark.postgres]

LABEL_CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="Positive"/>
    <Choice value="Negative"/>
    <Choice value="Neutral"/>
  </Choices>
</View>
"""

# Guidelines the way an admin would write them for review snippets: definitions, a few examples, three rules.
GUIDELINES = """project: Review sentiment
version: "1.0"
controls:
  sentiment:
    labels:
      - value: Positive
        definition: The writer recommends the film or praises it overall.
        why: Positive snippets go to the highlights page.
        do:
          - "A warm, funny film that earns every laugh."
          - "The cast is superb and the ending is moving."
      - value: Negative
        definition: The writer advises against the film or finds it mostly bad.
        why: Negative snippets feed the weekly report on complaints.
        do:
          - "A dull, tedious mess that wastes a fine cast."
          - "The plot is boring and the jokes fall flat."
      - value: Neutral
        definition: Neither praise nor criticism, or both in equal measure.
        why: Neutral snippets are left out of both lists.
        do:
          - "The film runs two hours and is set in Boston."
        edge_cases:
          - situation: Praise for the actors, criticism of the script, no verdict.
            label: Neutral
            why: No overall recommendation either way.
rules:
  - id: praise
    control: sentiment
    label: Positive
    when: {keywords: [masterpiece, "delight*", brilliant, wonderful, superb]}
    rationale: Strong praise words point to a recommendation.
  - id: pan
    control: sentiment
    label: Negative
    when: {keywords: [dull, boring, tedious, mess, "wast*"]}
    rationale: Words of boredom or waste point to a pan.
gate:
  min_accuracy: 0.7
  min_gold_per_labeler: 5
"""


def production_section() -> tuple[str, list[str]]:
    """The TOML file and the bash blocks of the README's "Production" part (before its Redis subsection)."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Production\n", 1)[1].split("\n### Processing on Redis workers", 1)[0]
    blocks = re.findall(r"```(\w+)\n(.*?)```", section, flags=re.S)
    [toml] = [body for kind, body in blocks if kind == "toml"]
    return toml, [body for kind, body in blocks if kind == "bash"]


def substitute(text_: str, table: dict) -> str:
    for old, new in table.items():
        text_ = text_.replace(old, new)
    return text_


def commands(block: str) -> list[str]:
    """The block's command lines, comments removed."""
    lines = []
    for line in block.splitlines():
        line = line.split("  #", 1)[0].strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


@pytest.fixture
def pg_schema():
    with postgres_schema("prod") as url:
        yield url


@pytest.fixture
def team(ls, make_project, tmp_path):
    """The held-out project (plain config) with 40 tasks, and the files a lead brings: guidelines and gold."""
    rows = snippets("movies")
    # Neutral snippets first among the tasks, so that the ten each labeler answers include some.
    tasks = [row for row in rows[:200] if row[1] == "Neutral"][:4] + [row for row in rows[:200] if row[1] != "Neutral"][:36]
    rest = rows[200:]
    gold = [row for row in rest if row[1] == "Negative"][:6] + [row for row in rest if row[1] == "Positive"][:6]
    project = make_project(LABEL_CONFIG, title="Review sentiment (held out)")
    ls.projects.import_tasks(id=project.id, request=[{"text": t} for t, _ in tasks])
    second = tmp_path / "second"
    second.mkdir()
    (second / "sentiment.yaml").write_text(GUIDELINES)
    (second / "gold.json").write_text(json.dumps([
        {"data": {"text": t}, "annotations": [{"result": [choice(label)]}]} for t, label in gold
    ]))
    return project, dict(gold), tasks, second


def choice(label):
    return {"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [label]}}


def test_the_readme_production_section_as_written(ls, label_studio, team, pg_schema, tmp_path):
    project, gold, tasks, second = team
    port = free_port()
    backend = f"http://127.0.0.1:{port}"
    table = {
        "/etc/ls-context/ls-context.toml": str(tmp_path / "etc" / "ls-context.toml"),
        "http://label-studio:8080": label_studio.url,
        "http://ls-context:9090": backend,
        "0.0.0.0:9090": f"127.0.0.1:{port}",
        "/var/lib/ls-context": str(tmp_path / "var"),
        "postgresql+psycopg://ls@db/ls_context": pg_schema,
        "LABEL_STUDIO_API_KEY=...": f"LABEL_STUDIO_API_KEY={label_studio.account.token}",
        "BASIC_AUTH_PASS=...": f"BASIC_AUTH_PASS={PASSWORD}",
        "$(openssl rand -hex 16)": SECRET,  # every process of the test's shell must share one value
        "--project 12": f"--project {project.id}",
    }
    toml, (exports, server, team_commands) = production_section()
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "ls-context.toml").write_text(substitute(toml, table))
    exports = substitute(exports, table)
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "HOME": str(tmp_path / "home"), "LANG": "C.UTF-8"}

    # The server, in its own directory. `pip install` is the wheel test's part (tests/test_wheel.py).
    first = tmp_path / "first"
    first.mkdir()
    script = exports + "\n".join(": " + line if line.startswith("pip install") else line
                                 for line in commands(substitute(server, table)))
    process = subprocess.Popen(["bash", "-ec", script], cwd=first, env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        wait_until(lambda: healthy(backend), 60, "gunicorn to answer", process)
        outputs = {}

        def run(line: str) -> subprocess.CompletedProcess:
            done = subprocess.run(["bash", "-c", exports + substitute(line, table)], cwd=second, env=env,
                                  capture_output=True, text=True, timeout=300)
            outputs[line] = done
            assert PASSWORD not in done.stdout + done.stderr and SECRET not in done.stdout + done.stderr
            return done

        lines = commands(team_commands)
        shown = run(lines[0])
        assert shown.returncode == 0, shown.stdout + shown.stderr
        for name in ("store", "Label Studio", "webhook secret", "model server"):
            assert f"ok    {name}:" in shown.stdout

        wired = run(lines[1])
        assert wired.returncode == 0, wired.stdout + wired.stderr
        assert f"model server connected ({backend}) with basic auth" in wired.stdout
        assert f"webhook to {backend}/webhook with the secret header and basic auth" in wired.stdout
        assert "what a labeler sees on task" in wired.stdout and "warning" not in wired.stderr
        [ml] = list(ls.ml.list(project=project.id))
        assert ml.auth_method == "BASIC_AUTH" and ml.basic_auth_user == "labelstudio"

        imported = run(lines[2])
        assert imported.returncode == 0 and "12 gold task(s) imported" in imported.stdout, imported.stderr

        # Label Studio asks the server (through basic auth) for every task's pre-annotation.
        ls.actions.create(id="retrieve_tasks_predictions", project=project.id, selected_items={"all": True, "excluded": []})
        predicted = [t for t in ls.tasks.list(project=project.id, fields="all") if t.predictions]
        rationales = [item for t in predicted for p in t.predictions for item in p.result if item["from_name"] == "ls_rationale"]
        assert len(predicted) >= 10 and rationales

        # Three labelers annotate; Label Studio's webhooks (secret + basic auth headers) reach the server.
        users = labelers(ls)
        answers = annotate(ls, project.id, users, gold, dict(tasks))
        store = Store(pg_schema)
        wait_until(lambda: count(store, Event) >= answers and count(store, Feedback) == 3 * len(gold), 30,
                   "every annotation event stored and every gold answer checked", process)

        listed = run(lines[3])
        assert listed.returncode == 0
        link = next(line.split()[-1] for line in listed.stdout.splitlines() if line.startswith("confuser@"))
        page = requests.get(link, timeout=5).text  # a labeler's own page needs no basic auth, only the link
        assert "Gold check FAILED" in page and "Expected: Negative; you gave: Positive." in page
        lead = next(line.strip() for line in listed.stdout.splitlines() if "/labelers/" in line).replace(
            "<user id>", str(users["confuser@example.com"]))
        assert requests.get(lead, timeout=5).status_code == 200
        dashboard = next(line.strip() for line in listed.stdout.splitlines() if "/dashboard?lead=" in line)
        board = requests.get(dashboard, timeout=10)  # the lead's token alone, as for the labeler pages
        assert board.status_code == 200 and "Open flags" in board.text and "confuser@example.com" in board.text
        # Basic auth, which any Label Studio user can read in the webhook's headers, opens no labeler's page.
        assert requests.get(lead.split("?")[0], auth=("labelstudio", PASSWORD), timeout=5).status_code == 403

        flagged = run(lines[4])
        assert "Guideline unclear  [Neutral]" in flagged.stdout

        report = run(lines[5])
        assert report.returncode == 0 and "(12 gold task(s))" in report.stderr
        page = (second / "report.html").read_text()  # the stored guidelines' bars: the report carries the gate too
        assert "Pilot gate: <span class='fail'>FAIL</span>" in page and "confuser@example.com" in page

        gate = run(lines[6])
        assert gate.returncode == 1, gate.stdout + gate.stderr  # the confuser fails it, with the stored thresholds
        assert "threshold 0.7" in gate.stdout
        assert "ALERT confuser@example.com: Negative -> Positive on 6 of 6 gold" in gate.stdout

        # The careful labeler's flags went back to Label Studio; nothing is dead or failed.
        wait_until(lambda: "0 pending" in run(lines[7]).stdout, 30, "the flags written back", process)
        status = outputs[lines[7]]
        assert status.returncode == 0, status.stdout + status.stderr
        assert re.search(r"events: +0 waiting, \d+ done, 0 failed", status.stdout), status.stdout
        assert ", 0 dead" in status.stdout and " 0 delivered" not in status.stdout
        assert not (second / "models").exists() and not (first / "models").exists()
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        log = process.communicate(timeout=30)[0]
    # Under gunicorn the INFO lines a lead relies on are there; the secrets are not.
    assert "webhook intake: the X-LS-Context-Secret header is required" in log
    assert "basic auth on" in log
    assert PASSWORD not in log and SECRET not in log and label_studio.account.token not in log


LABELERS = ("careful@example.com", "hasty@example.com", "confuser@example.com")


def labelers(ls) -> dict[str, int]:
    known = {user.email: user.id for user in ls.users.list()}
    for email in LABELERS:
        if email not in known:
            known[email] = ls.users.create(username=email, email=email, password="labeler-pass-1").id
    return {email: known[email] for email in LABELERS}


def annotate(ls, project_id: int, users: dict, gold: dict, truth: dict) -> int:
    """Each labeler answers the gold tasks and 10 others; the careful one flags Neutral ones, the confuser calls Negative Positive."""
    answered = [t for t in ls.tasks.list(project=project_id, fields="all") if t.data["text"] in gold]
    answered += [t for t in ls.tasks.list(project=project_id, fields="all") if t.data["text"] in truth][:10]
    for task in answered:
        label = gold.get(task.data["text"]) or truth[task.data["text"]]
        for email, user_id in users.items():
            result = [choice("Positive" if email.startswith("confuser") and label == "Negative" else label)]
            if email.startswith("careful") and task.data["text"] in truth and label == "Neutral":
                result.append({"from_name": "ls_flag", "to_name": "text", "type": "choices", "value": {"choices": ["Guideline unclear"]}})
            ls.annotations.create(id=task.id, result=result, completed_by=user_id)
    return len(answered) * len(users)


def count(store: Store, model) -> int:
    with store.reading() as session:
        return session.scalar(select(func.count()).select_from(model))


def healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/health", timeout=1, auth=("labelstudio", PASSWORD)).status_code == 200
    except requests.RequestException:
        return False


def wait_until(condition, timeout_s: float, what: str, process) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the server exited while waiting for {what}:\n{process.stdout.read()[-3000:]}")
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"{what} did not happen within {timeout_s} s")

