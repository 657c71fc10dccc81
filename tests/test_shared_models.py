"""Fit once, serve everywhere: server processes share one store, one fits and publishes, every one learns each answer.

Two apps on one configuration stand for two server processes (gunicorn workers or replicas):
each has its own registry, watcher and worker thread; they share the store and the model directory.
"""

import threading
import time

import pytest

from ml_backend import create_app
from ml_backend.registry import GROWTH, Loaded
from test_ml_backend import CONFIG, GUIDELINES, annotation_event, backend, insecure_config, predict_body

TAUGHT = [
    ("The invoice total is wrong again", "Frustrated but salvageable"),
    ("Where can I download last month's invoice?", "Routine question"),
    ("Thanks, the new dashboard looks great", "General feedback"),
    ("Our warehouse is flooded and every order is stuck", "Urgent intervention"),
    ("Billing charged me twice, please sort it out", "Frustrated but salvageable"),
    ("How do I add a second user to the account?", "Routine question"),
]
NEW = "The dashboard invoice download is wrong twice"  # known words: the vocabulary waits for the next full fit


def rationale(answer: dict) -> str:
    return answer["results"][0]["result"][-1]["value"]["text"][0]


def learned_up_to(client) -> int:
    return client.get("/metrics").json["learning"]["models"]["7"]["learned_up_to"]


@pytest.fixture
def processes(tmp_path):
    """Two server processes on one store; the first has learned TAUGHT and published its model."""
    settings = insecure_config(tmp_path, guidelines=GUIDELINES, model_poll=0.2)
    first = create_app(settings)
    for number, (text, label) in enumerate(TAUGHT, start=1):
        assert first.test_client().post("/webhook", json=annotation_event(number, text, label)).status_code == 201
    assert backend(first).settle()
    # A fresh full fit, published: on a loaded machine the trainer may have fitted before the last answer above,
    # learned it one by one, and a test's answer would make another full fit due in the middle of the test.
    backend(first).models.model("7", CONFIG)
    assert backend(first).models.refit("7", force=True) is not None
    second = create_app(settings)
    yield first, second
    backend(first).close()
    backend(second).close()


def test_a_second_process_loads_the_published_model_instead_of_fitting(processes):
    first, second = processes
    backend(second).models._fit = lambda *args: pytest.fail("the second process fitted its own model")

    answer = second.test_client().post("/predict", json=predict_body("Where do I find my invoice?")).json

    assert answer["model_version"] == backend(first).models.version("7")
    assert learned_up_to(second.test_client()) == learned_up_to(first.test_client()) == len(TAUGHT)


def test_an_answer_given_to_one_process_reaches_the_others_model_within_a_poll(processes):
    first, second = processes
    backend(second).models._fit = lambda *args: pytest.fail("the second process fitted its own model")
    reader = second.test_client()
    before = reader.post("/predict", json=predict_body(NEW + " again")).json
    assert NEW not in rationale(before)

    for number in (50, 51):  # two labelers agree: the task may be cited
        event = annotation_event(number, NEW, "General feedback")
        event["task"]["id"] = 1050
        assert first.test_client().post("/webhook", json=event).status_code == 201
    deadline = time.monotonic() + 5
    while learned_up_to(reader) < len(TAUGHT) + 2 and time.monotonic() < deadline:
        time.sleep(0.05)  # the second process's watcher polls every 0.2 s here
    after = reader.post("/predict", json=predict_body(NEW + " again")).json

    assert learned_up_to(reader) == len(TAUGHT) + 2
    assert f'"{NEW}"' in rationale(after)  # the new task is now the closest example


def test_learning_one_answer_moves_the_classifier_towards_it(processes):
    first, _ = processes
    models = backend(first).models
    loaded = models.model("7", CONFIG)  # the fixture's fresh full fit: a second one, whose answers must be learned
    assert loaded.learned_since_fit == 0
    choice = loaded.model.choices[0]
    text = "Where can I download the invoice for last month?"
    column = choice.classifier.classes_.index("General feedback")
    before = choice.classifier.predict_proba([text])[0][column]

    assert first.test_client().post("/webhook", json=annotation_event(60, text, "General feedback")).status_code == 201
    assert backend(first).settle()

    assert models.model("7", CONFIG) is loaded  # learned in place: one answer is not a tenth of the project
    after = choice.classifier.predict_proba([text])[0][column]
    assert after > before
    learning = first.test_client().get("/metrics").json["learning"]
    assert learning["answers_learned"] >= 1 and 0 <= learning["latency_p95"] < 5


def test_only_one_process_fits_at_a_time_and_the_other_loads_its_result(tmp_path):
    settings = insecure_config(tmp_path, guidelines=GUIDELINES)
    first, second = backend(create_app(settings)).models, backend(create_app(settings)).models
    for models in (first, second):
        models.remember_config("7", CONFIG)
    assert first._claim("7") and not second._claim("7")
    second._fit = lambda *args: pytest.fail("the second process fitted while the first held the lease")

    found = {}
    waiting = threading.Thread(target=lambda: found.update(loaded=second.model("7", CONFIG)))
    waiting.start()
    time.sleep(0.5)
    assert waiting.is_alive()  # waiting for the first process's model, not fitting
    fitted = first._fit("7", CONFIG)
    first._publish("7", fitted)
    first._release("7")
    waiting.join(timeout=10)

    assert found["loaded"].version == fitted.version and found["loaded"].record_id == fitted.record_id
    assert second._claim("7")  # released: the next fit may be anyone's


def test_a_full_fit_waits_until_the_project_has_grown_by_a_tenth(processes):
    first, _ = processes
    models = backend(first).models
    loaded = models.model("7", CONFIG)
    loaded.examples_at_fit, loaded.learned_since_fit = 40, 0
    loaded.next_fit_at = Loaded(loaded.model, "v", "h", examples_at_fit=40).next_fit_at

    assert loaded.next_fit_at == int(GROWTH * 40)
    assert models.refit("7") is None  # nothing new: no fit
    loaded.learned_since_fit = loaded.next_fit_at
    assert models.refit("7") is not None


def test_a_full_fit_less_accurate_on_gold_than_the_running_model_is_not_published(processes, monkeypatch, caplog):
    import ml_backend.registry as registry

    first, _ = processes
    models = backend(first).models
    current = models.model("7", CONFIG)
    current.learned_since_fit = current.next_fit_at
    scores = iter([0.5, 0.9])  # the new fit's accuracy on gold, then the running model's
    monkeypatch.setattr(registry, "gold_accuracy", lambda model, gold: next(scores))

    assert models.refit("7") is None
    assert models.model("7", CONFIG) is current
    assert "less accurate on gold" in caplog.text
    assert current.next_fit_at > current.learned_since_fit  # the next try waits for more answers


def test_each_answer_is_turned_into_a_lesson_once_and_every_process_applies_it(processes):
    from sqlalchemy import func, select

    from ls_context.store import AnswersChanged, Lesson

    first, second = processes
    reader = second.test_client()
    reader.post("/predict", json=predict_body("Where do I find my invoice?"))
    loaded = backend(first).models.model("7", CONFIG)
    assert backend(first).models._claim("7", f"learn:{loaded.record_id}")  # the first process is the version's learner
    backend(second).models._lesson = lambda *args: pytest.fail("the second process computed a lesson the learner owns")

    event = annotation_event(70, "Billing is wrong twice", "Frustrated but salvageable")
    assert first.test_client().post("/webhook", json=event).status_code == 201
    deadline = time.monotonic() + 5
    while learned_up_to(reader) < len(TAUGHT) + 1 and time.monotonic() < deadline:
        time.sleep(0.05)

    assert learned_up_to(reader) == learned_up_to(first.test_client()) == len(TAUGHT) + 1
    with backend(first).store.reading() as session:
        newest = session.scalar(select(func.max(AnswersChanged.id)))
        assert session.scalar(select(func.count()).select_from(Lesson).where(Lesson.answer_id == newest)) == 1
    first_choice = backend(first).models.model("7", CONFIG).model.choices[0]
    second_choice = backend(second).models.model("7", CONFIG).model.choices[0]
    assert (first_choice.classifier.coef_ == second_choice.classifier.coef_).all()  # the same model in both
