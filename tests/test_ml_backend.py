"""The model server through its HTTP interface, with the payloads Label Studio 1.23.2 really sends."""

import base64
import json
from pathlib import Path

import pytest

from harness.config import config_for
from ml_backend.registry import ModelRegistry
from ml_backend import create_app

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
CONFIG = (ROOT / "label_configs" / "text-classification.xml").read_text()
GUIDELINES = ROOT / "label_configs" / "text-classification.yaml"


def sample(name: str) -> dict:
    return json.loads((DATA / name).read_text())


def predict_body(*texts, project="7.1700000000", config=CONFIG, **extra):
    tasks = [{"id": i + 1, "data": {"text": text}} for i, text in enumerate(texts)]
    return {"tasks": tasks, "project": project, "label_config": config, "params": {}, **extra}


def annotation_event(annotation_id, text, label, flag=None, action="ANNOTATION_CREATED", updated="2026-11-28T10:00:00Z"):
    result = [{"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]
    if flag:
        result.append({"from_name": "ls_flag", "to_name": "text", "type": "choices", "value": {"choices": [flag]}})
    return {
        "action": action,
        "annotation": {"id": annotation_id, "result": result, "updated_at": updated, "was_cancelled": False},
        "task": {"id": 1000 + annotation_id, "data": {"text": text}, "project": 7},
        "project": {"id": 7, "label_config": CONFIG, "token": "secret-project-token"},
    }


def insecure_config(tmp_path, **options):
    """These tests speak the protocol; the webhook secret has tests of its own (test_intake)."""
    return config_for(tmp_path, webhook_secret=None, insecure=True, **options)


def always_preselecting(tmp_path) -> Path:
    """The same guidelines with `min_precision: 0`: the top label is pre-selected whatever the calibration says.

    For the tests of what a pre-selection carries; the default bar has tests of its own.
    """
    copy = tmp_path / "always.yaml"
    copy.write_text(GUIDELINES.read_text().replace("  triage:\n", "  triage:\n    min_precision: 0\n", 1))
    return copy


@pytest.fixture
def app(tmp_path):
    return create_app(insecure_config(tmp_path, guidelines=always_preselecting(tmp_path)))


@pytest.fixture
def careful_client(tmp_path):
    """A server with the guidelines as shipped: pre-selecting only what calibration vouches for."""
    return create_app(insecure_config(tmp_path / "careful", guidelines=GUIDELINES)).test_client()


@pytest.fixture
def client(app):
    return app.test_client()


def backend(app):
    return app.extensions["ls_context"]


def test_health_and_setup_answer_without_building_a_model(app, client):
    setup = sample("ml-setup-request.json")

    assert client.get("/health").json["status"] == "UP"
    assert client.get("/").status_code == 200
    answer = client.post("/setup", json=setup)

    assert answer.status_code == 200
    assert answer.json["model_version"] == "ls-context-g1.0.0-r0"
    assert backend(app).models.versions() == {}  # nothing was built or loaded


def test_a_rule_gives_label_score_and_rationale(client):
    answer = client.post("/predict", json=predict_body("Someone placed orders on my account that I did not make."))

    assert answer.status_code == 200
    [prediction] = answer.json["results"]
    by_control = {item["from_name"]: item for item in prediction["result"]}
    assert by_control["triage"]["value"] == {"choices": ["Urgent intervention"]}
    assert 0.5 < prediction["score"] <= 1
    assert prediction["model_version"] == answer.json["model_version"] == "ls-context-g1.0.0-r0"
    rationale = by_control["ls_rationale"]["value"]["text"][0]
    assert rationale.startswith("Suggested: Urgent intervention (")
    assert "Rule 'fraud' points to Urgent intervention" in rationale and '"did not make"' in rationale
    assert "Urgent intervention: do-example 2" in rationale  # the guideline reference
    assert len(rationale.splitlines()) <= 3
    assert by_control["ls_rationale"]["readonly"] is True


def test_before_any_labeled_task_a_rule_gives_context_without_preselecting(careful_client):
    [prediction] = careful_client.post("/predict", json=predict_body("Someone placed orders on my account that I did not make.")).json["results"]

    by_control = {item["from_name"]: item for item in prediction["result"]}
    assert "triage" not in by_control  # nothing vouches for a pre-selection yet: no checked answers
    rationale = by_control["ls_rationale"]["value"]["text"][0]
    first, definitions, *rest = rationale.splitlines()
    assert first.startswith("Not sure: Urgent intervention or ")
    assert "Rule 'fraud' points to Urgent intervention" in first and '"did not make"' in first
    assert definitions.startswith("Urgent intervention: The customer faces harm, loss or a hard deadline now")
    second = first.removeprefix("Not sure: Urgent intervention or ").split(".")[0]
    assert f"{second}: " in definitions


def test_a_text_with_no_rule_and_no_known_word_gets_the_definitions(careful_client):
    [prediction] = careful_client.post("/predict", json=predict_body("qwzx vbnm")).json["results"]

    [rationale] = [item["value"]["text"][0] for item in prediction["result"] if item["from_name"] == "ls_rationale"]
    assert len(prediction["result"]) == 1
    first, definitions = rationale.splitlines()[:2]
    labels = ["Urgent intervention", "Frustrated but salvageable", "Routine question", "General feedback"]
    assert first.startswith("Not sure: Urgent intervention, Frustrated but salvageable, Routine question or General feedback.")
    assert "No rule fires and the model knows no word of this text" in first
    assert all(f"{label}: " in definitions for label in labels)  # no ranking to steer by: every definition


def test_without_a_rule_the_classifier_names_its_evidence_and_closest_example(client):
    [prediction] = client.post("/predict", json=predict_body("The app logs me out again, annoying but fixable")).json["results"]

    by_control = {item["from_name"]: item for item in prediction["result"]}
    assert by_control["triage"]["value"] == {"choices": ["Frustrated but salvageable"]}
    rationale = by_control["ls_rationale"]["value"]["text"][0]
    assert "'annoying'" in rationale
    assert 'Closest guideline example: "The app keeps logging me out.' in rationale


def test_the_real_label_studio_request_gets_one_answer_per_task(client):
    body = sample("ml-predict-request.json")

    answer = client.post("/predict", json=body)

    assert answer.status_code == 200
    assert len(answer.json["results"]) == len(body["tasks"])


def test_tasks_the_model_cannot_handle_get_no_prediction_not_an_error(client):
    body = predict_body("How do I reset my password?", "x")
    body["tasks"][1]["data"] = {"text": "https://example.com/message.txt"}
    body["tasks"].append({"id": 9, "data": {"other_field": "hello"}})
    body["tasks"].append({"id": 10, "data": {"text": "qwzx vbnm"}})  # no known word and no rule

    answer = client.post("/predict", json=body)

    assert answer.status_code == 200
    first, url, missing, unknown = answer.json["results"]
    assert first["result"][0]["value"] == {"choices": ["Routine question"]}
    assert url == missing == []
    assert [item["from_name"] for item in unknown["result"]] == ["ls_rationale"]  # context, no guess


def test_interactive_context_gets_a_valid_answer(client):
    body = sample("ml-predict-interactive-request.json")
    body["label_config"] = CONFIG
    body["params"]["context"] = {"result": [{"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": ["Routine question"]}}]}

    answer = client.post("/predict", json=body)

    assert answer.status_code == 200
    assert len(answer.json["results"]) == 1


@pytest.mark.parametrize(
    "body, status, message",
    [
        (b"not json", 400, "the body is not valid JSON"),
        (b'{"tasks": [', 400, "the body is not valid JSON"),
        (b"[1, 2]", 400, "the body must be a JSON object"),
        (json.dumps({"project": "7.1"}).encode(), 400, "'tasks' must be a list of task objects"),
        (json.dumps({"tasks": "all", "project": "7.1"}).encode(), 400, "'tasks' must be a list"),
        (json.dumps({"tasks": [1], "project": "7.1"}).encode(), 400, "'tasks' must be a list of task objects"),
        (json.dumps({"tasks": [], "project": None}).encode(), 400, "'project' must be a project id"),
        (json.dumps({**predict_body("a"), "label_config": 5}).encode(), 400, "'label_config' must be"),
        (json.dumps({**predict_body("a"), "label_config": "<View><Text"}).encode(), 400, "the label config cannot be read"),
        (json.dumps({**predict_body("a"), "params": {"context": {"result": [{"from_name": "nope"}]}}}).encode(), 400, "unknown control 'nope'"),
        (json.dumps({**predict_body("a"), "params": {"context": {"result": [{"from_name": ["x"]}]}}}).encode(), 400, "unknown control"),
        (json.dumps({**predict_body("a"), "project": "\u00b2"}).encode(), 400, "'project' must be a project id"),
        (json.dumps({**predict_body("a"), "project": str(2**63)}).encode(), 400, "'project' must be a project id"),
        (json.dumps({**predict_body("a"), "tasks": [{"id": True, "data": {}}]}).encode(), 400, "'tasks[0].id' must be"),
        (json.dumps({**predict_body("a"), "tasks": [{"id": 1, "data": "text"}]}).encode(), 400, "'tasks[0].data' must be"),
        (b'{"tasks": [], "project": "7.1", "x": NaN}', 400, "the body is not valid JSON"),
        (json.dumps({"tasks": [], "project": "8.1"}).encode(), 400, "no label config known yet"),
    ],
)
def test_malformed_predict_requests_get_a_clear_4xx(client, body, status, message):
    answer = client.post("/predict", data=body, content_type="application/json")

    assert answer.status_code == status
    assert message in answer.json["error"]
    assert "Traceback" not in answer.get_data(as_text=True)


def test_a_10_mb_body_is_refused_with_413(client):
    body = json.dumps(predict_body("x" * (10 * 1024 * 1024)))

    answer = client.post("/predict", data=body, content_type="application/json")

    assert answer.status_code == 413
    assert answer.json["error"] == "the request body is too large"


def test_basic_auth_is_required_when_configured(tmp_path):
    client = create_app(insecure_config(tmp_path, basic_auth_user="ls", basic_auth_pass="s3cret")).test_client()
    good = base64.b64encode(b"ls:s3cret").decode()
    bad = base64.b64encode(b"ls:guess").decode()

    assert client.get("/health").status_code == 401
    assert client.get("/health", headers={"Authorization": f"Basic {bad}"}).status_code == 401
    assert client.get("/health", headers={"Authorization": f"Basic {good}"}).status_code == 200
    unicode_guess = base64.b64encode("ls:pässwörd".encode()).decode()
    assert client.get("/health", headers={"Authorization": f"Basic {unicode_guess}"}).status_code == 401


def test_the_model_is_built_once_and_kept(app, client):
    client.post("/predict", json=predict_body("How do I export orders?"))
    first = backend(app).models.model("7")

    client.post("/setup", json={"project": "7.1700000000", "schema": CONFIG})
    client.post("/predict", json=predict_body("Where is the invoice menu?"))

    assert backend(app).models.model("7") is first


def test_annotations_refit_the_model_in_the_background(app, client):
    text = "Pallet of printer toner arrived wet"
    before = client.post("/predict", json=predict_body(text)).json

    for number in range(3):
        answer = client.post("/webhook", json=annotation_event(number + 1, f"{text} number {number}", "General feedback"))
        assert answer.status_code == 201
    assert backend(app).settle()
    after = client.post("/predict", json=predict_body(text)).json

    assert before["model_version"] == "ls-context-g1.0.0-r0"
    assert after["model_version"] != before["model_version"]
    assert after["results"][0]["result"][0]["value"] == {"choices": ["General feedback"]}
    rationale = after["results"][0]["result"][-1]["value"]["text"][0]
    assert any(f"'{word}'" in rationale for word in ("pallet", "printer", "toner", "wet"))  # words only the annotations taught


def test_flagged_annotations_are_not_training_truth(app, client):
    text = "Pallet of printer toner arrived wet"
    for number in range(3):
        client.post("/webhook", json=annotation_event(number + 1, f"{text} {number}", "General feedback", flag="Unsure"))
    assert backend(app).settle()

    answer = client.post("/predict", json=predict_body(text)).json

    assert answer["results"][0] == [] or answer["results"][0]["result"][0]["value"] != {"choices": ["General feedback"]}
    from sqlalchemy import func, select

    from ls_context.store import Annotation, Flag
    with backend(app).store.session() as session:  # kept, just not learned from
        assert session.scalar(select(func.count()).select_from(Annotation)) == 3
        assert session.scalar(select(func.count()).select_from(Flag)) == 3


def test_a_repeated_delivery_does_not_refit_twice(app, client):
    event = annotation_event(1, "Where is my parcel?", "Routine question")

    first = client.post("/webhook", json=event).json
    second = client.post("/webhook", json=event).json

    assert (first["event"], second["event"]) == ("recorded", "duplicate")


def test_start_training_refits_and_other_actions_are_ignored(app, client):
    training = sample("ml-webhook-start-training.json")
    training["project"]["id"] = 7
    training["project"]["label_config"] = CONFIG

    assert client.post("/webhook", json=training).status_code == 201
    assert backend(app).settle()
    assert backend(app).models.version("7") == "ls-context-g1.0.0-r0"
    training["id"] = "again"  # a second press of the button: a full fit although no answer came in between
    assert client.post("/webhook", json=training).status_code == 201
    assert backend(app).settle()
    assert backend(app).models.version("7") == "ls-context-g1.0.0-r1"
    assert client.post("/webhook", json={"action": "SOMETHING_NEW", "project": {"id": 7}}).json["event"] == "ignored"
    assert client.post("/webhook", json={"action": "ANNOTATION_CREATED", "task": {}}).status_code == 400


def test_start_training_fits_at_once_even_within_the_refit_interval(tmp_path):
    app = create_app(insecure_config(tmp_path, guidelines=GUIDELINES, refit_interval=600))
    client = app.test_client()
    training = sample("ml-webhook-start-training.json")
    training["project"] = {**training["project"], "id": 7, "label_config": CONFIG}

    answers = []
    for _ in range(2):  # the same body twice, as two presses of the button send
        answers.append(client.post("/webhook", json=training).json)
        assert backend(app).settle()

    assert [answer["event"] for answer in answers] == ["full fit scheduled"] * 2
    assert backend(app).models.version("7") == "ls-context-g1.0.0-r1"  # two fits, the second not held back 600 s
    backend(app).close()


def test_the_model_and_its_version_survive_a_restart(tmp_path, monkeypatch):
    settings = insecure_config(tmp_path, guidelines=GUIDELINES)
    first = create_app(settings)
    first.test_client().post("/webhook", json=annotation_event(1, "Toner arrived wet", "General feedback"))
    first.test_client().post("/webhook", json=annotation_event(2, "Where are invoices?", "Routine question"))
    assert backend(first).settle()
    version = backend(first).models.version("7")

    monkeypatch.setattr(ModelRegistry, "_fit", lambda *args: pytest.fail("the restarted server fitted instead of loading"))
    second = create_app(settings).test_client()
    answer = second.post("/predict", json=predict_body("Toner arrived wet again")).json

    assert answer["model_version"] == version
    assert (tmp_path / "models" / "project-7" / f"model-{version}.skops").exists()
    assert second.get("/metrics").json["learning"]["models"]["7"]["learned_up_to"] == 2  # both answers, none twice


def test_span_configs_get_rule_spans_with_a_rationale_per_region(tmp_path):
    config = (ROOT / "label_configs" / "named-entities.xml").read_text()
    client = create_app(insecure_config(tmp_path, guidelines=ROOT / "label_configs" / "named-entities.yaml")).test_client()
    text = "Order #48213 cost me 2,300 EUR"

    [prediction] = client.post("/predict", json=predict_body(text, config=config)).json["results"]

    spans = [item for item in prediction["result"] if item["from_name"] == "entities"]
    notes = {item["id"]: item["value"]["text"][0] for item in prediction["result"] if item["from_name"] == "ls_region_rationale"}
    assert [(s["value"]["text"], s["value"]["labels"]) for s in spans] == [("#48213", ["Order number"]), ("2,300 EUR", ["Amount"])]
    assert notes[spans[0]["id"]].startswith("A '#' or the word 'order'")


def test_a_custom_classifier_gets_rules_references_and_rationale_around_it(tmp_path):
    client = create_app(insecure_config(tmp_path, guidelines=always_preselecting(tmp_path),
                                        classifier="custom_classifier:KeywordCounter")).test_client()

    [prediction] = client.post("/predict", json=predict_body("Please call me today, right now")).json["results"]

    by_control = {item["from_name"]: item for item in prediction["result"]}
    assert by_control["triage"]["value"] == {"choices": ["Urgent intervention"]}
    assert "learned from the project's model" in by_control["ls_rationale"]["value"]["text"][0]


def test_an_unknown_custom_classifier_is_a_clear_error(tmp_path):
    from ls_context.errors import LSContextError

    with pytest.raises(LSContextError, match="classifier 'nowhere:Model' cannot be loaded"):
        create_app(insecure_config(tmp_path, classifier="nowhere:Model"))


def test_versions_and_metrics(client):
    client.post("/predict", json=predict_body("How do I export orders?", "zzzz"))

    assert client.get("/versions").json["projects"] == {"7": "ls-context-g1.0.0-r0"}
    metrics = client.get("/metrics").json
    assert (metrics["tasks"], metrics["predictions"], metrics["tasks_without_prediction"]) == (2, 2, 0)  # context for both


def test_a_gold_task_never_gets_its_answer_or_a_labelers_wrong_answer_back(app, client):
    from ls_context.store import Gold

    gold_text = "Pallet of printer toner arrived wet, please replace it"
    expected = [{"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": ["Frustrated but salvageable"]}}]
    with backend(app).store.session() as session:
        session.add(Gold(task_id=1404, project_id=7, result=expected, data={"text": gold_text}))
    client.post("/webhook", json=annotation_event(404, gold_text, "Urgent intervention"))  # a wrong answer on gold task 1404
    for number in range(3):
        client.post("/webhook", json=annotation_event(number + 1, f"Printer toner arrived wet, number {number}", "General feedback"))
    assert backend(app).settle()

    body = predict_body(gold_text, gold_text)
    body["tasks"][0]["id"] = 1404  # the gold task itself; the second is another task with the same text
    on_gold, elsewhere = client.post("/predict", json=body).json["results"]

    rationales = [item["value"]["text"][0] for prediction in (on_gold, elsewhere)
                  for item in prediction["result"] if item["from_name"] == "ls_rationale"]
    assert len(rationales) == 2 and not any(gold_text in r or "Closest gold" in r for r in rationales)
    assert on_gold["score"] != elsewhere["score"]  # the gold task's prediction comes from the model that never saw its answer


def test_the_model_without_gold_survives_a_restart(tmp_path):
    from ls_context.store import Gold

    settings = insecure_config(tmp_path, guidelines=GUIDELINES)
    first = create_app(settings)
    gold_text = "Pallet of printer toner arrived wet, please replace it"
    expected = [{"from_name": "triage", "to_name": "text", "type": "choices", "value": {"choices": ["Frustrated but salvageable"]}}]
    with backend(first).store.session() as session:
        session.add(Gold(task_id=1404, project_id=7, result=expected, data={"text": gold_text}))
    for number in range(3):
        first.test_client().post("/webhook", json=annotation_event(number + 1, f"Toner arrived wet, number {number}", "General feedback"))
    assert backend(first).settle()
    body = predict_body(gold_text)
    body["tasks"][0]["id"] = 1404
    before = first.test_client().post("/predict", json=body).json

    after = create_app(settings).test_client().post("/predict", json=body).json

    assert after == before
    assert backend(first).models.model("7").model.choices[0].gold_tasks_ == {1404}
