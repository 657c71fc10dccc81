"""What the model learns from, and what it may show: gold answers, trusted labelers, their consensus.

Each test records annotations the way the server does (`Processor.annotation` with webhook-shaped
payloads, which also checks answers on gold tasks), fits the model from the store, and looks at what
a labeler would see in Label Studio: the pre-selected label, its score and the rationale.
"""

import random
import time

import pytest

from harness.vader import snippets
from ls_context.checks.processor import Processor
from ls_context.guidelines import GateThresholds
from ls_context.store import Gold, Store
from ml_backend.context_model import ChoiceModel, ContextModel, Example
from ml_backend.learning import examples_from_store, labeler_trust
from ml_backend.trust import NEUTRAL_WEIGHT, GoldAnswer, LabelerTrust, consensus

PROJECT = 3
LABELS = ["Positive", "Negative", "Neutral"]
CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="Positive"/><Choice value="Negative"/><Choice value="Neutral"/>
  </Choices>
  <TextArea name="ls_rationale" toName="text" editable="false" readonly="true" maxSubmissions="0"/>
  <Choices name="ls_flag" toName="text"><Choice value="Unsure"/></Choices>
</View>"""
PRAISE = ["a wonderful film", "great acting all round", "loved every minute", "a delightful and moving story",
          "brilliant and funny", "superb direction", "an excellent cast", "my favorite film this year"]
PANS = ["a dull mess", "terrible acting", "hated every minute", "a boring and lifeless story",
        "awful and tedious", "clumsy direction", "a wasted cast", "a feature length yawn"]
GOLD_TEXT = "my favorite thing about the nomad is the eax feature."


def choice(label):
    return [{"from_name": "sentiment", "to_name": "text", "type": "choices", "value": {"choices": [label]}}]


def payload(annotation_id, task_id, text, label, labeler, flag=None, cancelled=False):
    """An ANNOTATION_CREATED webhook's body, as Label Studio sends it."""
    result = choice(label)
    if flag:
        result.append({"from_name": "ls_flag", "to_name": "text", "type": "choices", "value": {"choices": [flag]}})
    return {
        "annotation": {"id": annotation_id, "result": result, "completed_by": labeler,
                       "updated_at": "2026-01-05T10:00:00Z", "was_cancelled": cancelled},
        "task": {"id": task_id, "data": {"text": text}, "project": PROJECT},
    }


class Team:
    """Labelers annotating one project through the server's own processing (annotations, task data, gold checks)."""

    def __init__(self, store):
        self.store = store
        self.processor = Processor(store)
        self.next_id = 0

    def gold(self, task_id, text, label, imported=True):
        """A gold task and its expected answer; `imported=False`: a gold row kept without the task's data."""
        with self.store.session() as session:
            session.add(Gold(task_id=task_id, project_id=PROJECT, result=choice(label), data={"text": text} if imported else None))

    def answer(self, labeler, task_id, text, label, session=None, **options):
        self.next_id += 1
        self.processor.annotation(payload(self.next_id, task_id, text, label, labeler, **options), PROJECT, session)

    def agree(self, labelers, task_id, text, label):
        for labeler in labelers:
            self.answer(labeler, task_id, text, label)


def examples(store, guidelines=None):
    return examples_from_store(store, PROJECT, {"sentiment": "text"}, guidelines)["sentiment"]


def fitted(store, guidelines=None) -> ContextModel:
    # These tests look at what the model learned, so it pre-selects its top label whatever its calibration says.
    return ContextModel(CONFIG, min_precision=0).fit({"sentiment": examples(store, guidelines)})


def predict(model, task_id, text):
    """(the suggested label, its score, the rationale) a labeler of this task sees."""
    [prediction] = model.predict([{"id": task_id, "data": {"text": text}}])
    if prediction is None:
        return None, 0.0, ""
    by_control = {item["from_name"]: item for item in prediction["result"]}
    rationale = by_control["ls_rationale"]["value"]["text"][0] if "ls_rationale" in by_control else ""
    return by_control["sentiment"]["value"]["choices"][0], by_control["sentiment"]["score"], rationale


def reviews(team, labelers=(1, 2)):
    """Sixteen tasks that two careful labelers agree on: the project's solid consensus."""
    for number, text in enumerate(PRAISE):
        team.agree(labelers, 100 + number, text, "Positive")
    for number, text in enumerate(PANS):
        team.agree(labelers, 200 + number, text, "Negative")


# -- gold answers are learned from the gold table, never cited, never handed back to their task ----------


def test_a_wrong_answer_on_a_gold_task_is_never_learned_or_cited(store):
    team = Team(store)
    reviews(team)
    team.gold(404, GOLD_TEXT, "Positive")
    team.answer(3, 404, GOLD_TEXT, "Negative")  # her mistake: the gold check records it, the model must not learn it

    learned = [e for e in examples(store) if e.task_id == 404]
    model = fitted(store)

    assert [(e.source, e.labels) for e in learned] == [("gold", ("Positive",))]
    for task_id, text in [(404, GOLD_TEXT), (9001, GOLD_TEXT), (9002, "the nomad eax feature is my favorite thing")]:
        _, _, rationale = predict(model, task_id, text)
        assert "nomad" not in rationale and "gold" not in rationale


def test_a_gold_task_is_predicted_by_a_model_that_did_not_learn_its_answer(store):
    team = Team(store)
    reviews(team)
    team.gold(404, GOLD_TEXT, "Positive")
    team.answer(3, 404, GOLD_TEXT, "Negative")
    model = fitted(store)
    [choice] = model.choices

    as_gold = predict(model, 404, GOLD_TEXT)
    as_other_task = predict(model, 9001, GOLD_TEXT)  # the same text, on a task that is not gold: the main model
    never_saw_it = ContextModel(CONFIG, min_precision=0).fit({"sentiment": [e for e in examples(store) if e.source != "gold"]})

    assert choice.gold_tasks_ == {404}
    assert GOLD_TEXT not in [e.text for e in choice.without_gold_.references + choice.learned_.references]
    assert as_gold[1] != as_other_task[1]
    assert as_gold == predict(never_saw_it, 404, GOLD_TEXT)


def test_a_gold_answer_kept_without_its_data_is_learned_with_the_text_last_seen(store):
    team = Team(store)
    team.gold(404, GOLD_TEXT, "Positive", imported=False)
    team.gold(405, "never seen by anyone", "Negative", imported=False)
    team.answer(3, 404, GOLD_TEXT, "Negative")

    assert [(e.task_id, e.text, e.labels, e.source) for e in examples(store)] == [(404, GOLD_TEXT, ("Positive",), "gold")]


def test_no_rationale_ever_contains_a_gold_tasks_text(store):
    team = Team(store)
    reviews(team)
    gold = {500 + n: (text.replace("a ", "truly a ", 1) + " indeed", "Positive") for n, text in enumerate(PRAISE[:4])}
    gold.update({600 + n: (text.replace("a ", "really a ", 1) + " indeed", "Negative") for n, text in enumerate(PANS[:4])})
    for task_id, (text, label) in gold.items():
        team.gold(task_id, text, label)
        team.agree((1, 2), task_id, text, label)  # labelers' right answers on gold are checks, not consensus
    model = fitted(store)

    tasks = [(task_id, text) for task_id, (text, _) in gold.items()]  # the gold tasks themselves
    tasks += [(7000 + n, text) for n, (text, _) in enumerate(gold.values())]  # their texts on other tasks
    tasks += [(8000 + n, text) for n, text in enumerate(PRAISE + PANS)]
    rationales = [predict(model, task_id, text)[2] for task_id, text in tasks]

    assert any("Closest labeled example" in rationale for rationale in rationales)
    for rationale in rationales:
        assert not any(text in rationale for text, _ in gold.values()), rationale


def test_a_consensus_task_is_never_shown_its_own_labels(store):
    team = Team(store)
    reviews(team)
    model = fitted(store)

    _, _, rationale = predict(model, 100, PRAISE[0])
    _, _, elsewhere = predict(model, 9100, PRAISE[0])

    assert f'"{PRAISE[0]}"' in elsewhere and "(agreed by 2 labelers)" in elsewhere
    assert f'"{PRAISE[0]}"' not in rationale


def test_one_labelers_lone_answer_teaches_but_is_never_cited(store):
    team = Team(store)
    reviews(team)
    team.answer(1, 300, "a wonderful and brilliant film", "Positive")

    [lone] = [e for e in examples(store) if e.task_id == 300]
    model = fitted(store)

    assert lone.agreed_by == 1 and not lone.citable()
    assert "wonderful and brilliant" not in predict(model, 9300, "a wonderful and brilliant film")[2]


# -- labelers are trusted by their gold accuracy ----------------------------------------------------------


def gold_answers(labeler, right, wrong, label="Positive"):
    return [GoldAnswer(labeler, (label,), True)] * right + [GoldAnswer(labeler, (label,), False)] * wrong


def test_a_labeler_without_gold_gets_a_neutral_weight_and_one_with_gold_their_smoothed_accuracy():
    trust = LabelerTrust().fit(gold_answers(1, 9, 1))

    assert trust.weight(2) == NEUTRAL_WEIGHT == 0.5
    assert trust.weight(1) == pytest.approx(10 / 12)


def test_a_labeler_confidently_below_the_bar_counts_for_nothing_until_they_recover():
    early = gold_answers(3, 1, 5)
    trust = LabelerTrust().fit(early)
    assert trust.weight(3) == 0 and trust.below_[3] == "gold accuracy 1 of 6"

    assert LabelerTrust().fit(early + gold_answers(3, 2, 0)).weight(3) == 0  # 3 of 8: at best 67%, still below
    assert LabelerTrust().fit(early + gold_answers(3, 6, 0)).weight(3) == pytest.approx(8 / 14)  # 7 of 12: maybe 81%


def test_a_labeler_who_turns_one_label_into_another_counts_for_nothing():
    confuser = gold_answers(3, 18, 1, "Positive") + gold_answers(3, 17, 1, "Negative") + gold_answers(3, 1, 6, "Neutral")
    trust = LabelerTrust().fit(confuser)  # 36 of 44 overall (82%) passes; 1 of 7 on Neutral does not

    assert trust.weight(3) == 0 and trust.below_[3] == "recall on Neutral 1 of 7"
    assert LabelerTrust(min_gold_per_label=8).fit(confuser).weight(3) > 0  # 7 answers on a label are too few to judge


def test_the_bar_comes_from_the_guidelines_gate():
    careful_enough = gold_answers(1, 80, 20)

    assert LabelerTrust.for_gate(None).fit(careful_enough).weight(1) == pytest.approx(81 / 102)
    assert LabelerTrust.for_gate(GateThresholds(min_accuracy=0.9)).fit(careful_enough).weight(1) == 0
    not_enough_gold_to_judge = GateThresholds(min_accuracy=0.9, min_gold_per_labeler=200, min_gold_per_label=200)
    assert LabelerTrust.for_gate(not_enough_gold_to_judge).fit(careful_enough).weight(1) > 0


def test_the_store_trusts_labelers_by_their_gold_checks(store):
    team = Team(store)
    for number in range(8):
        text = f"{PRAISE[number]} number {number}"
        team.gold(700 + number, text, "Positive")
        team.answer(1, 700 + number, text, "Positive")
        team.answer(3, 700 + number, text, "Negative")  # 0 of 8 right
    team.answer(1, 1, "a wonderful film", "Positive")
    team.answer(3, 2, "a dull mess", "Negative")
    team.answer(4, 3, "awful and tedious", "Negative")  # no gold yet

    weight = {e.task_id: e.weight for e in examples(store) if e.source == "consensus"}

    assert weight == {1: pytest.approx(9 / 10), 3: NEUTRAL_WEIGHT}  # task 2, hers alone, teaches nothing


# -- several annotations of one task are one example: their weighted consensus ----------------------------


def test_consensus_is_one_example_with_the_winners_votes_minus_the_others():
    trust = LabelerTrust().fit(gold_answers(1, 9, 1) + gold_answers(2, 9, 1) + gold_answers(3, 0, 10))
    careful = 10 / 12

    agreed = consensus(1, "t", {1: ("Positive",), 2: ("Positive",)}, trust)
    disputed = consensus(2, "t", {1: ("Positive",), 4: ("Negative",)}, trust)
    tied = consensus(3, "t", {1: ("Positive",), 2: ("Negative",)}, trust)
    outvoted_by_nobody = consensus(4, "t", {1: ("Positive",), 2: ("Positive",), 3: ("Negative",)}, trust)

    assert (agreed.labels, agreed.weight, agreed.agreed_by, agreed.citable()) == (("Positive",), 1.0, 2, True)
    assert (disputed.labels, disputed.weight, disputed.agreed_by) == (("Positive",), pytest.approx(careful - 0.5), 0)
    assert tied is None
    assert outvoted_by_nobody.agreed_by == 2  # a labeler below the bar neither votes nor disputes


def test_a_task_with_several_annotations_is_one_example(store):
    team = Team(store)
    team.agree((1, 2), 1, "a wonderful film", "Positive")
    team.answer(3, 1, "a wonderful film", "Negative")
    team.answer(1, 2, "a dull mess", "Negative")
    team.answer(2, 2, "a dull mess", "Negative", flag="Unsure")  # flagged: never training truth
    team.answer(3, 2, "a dull mess", "Positive", cancelled=True)

    found = {e.task_id: e for e in examples(store)}

    assert set(found) == {1, 2}
    assert (found[1].labels, found[1].weight, found[1].agreed_by) == (("Positive",), 0.5, 0)
    assert (found[2].labels, found[2].weight, found[2].agreed_by) == (("Negative",), 0.5, 1)


class Unweighted:
    """A classifier brought by a user, whose fit takes no sample weights."""

    fitted_on: list = []

    def fit(self, texts, labels):
        Unweighted.fitted_on = list(texts)
        self.classes_ = sorted(set(labels))
        return self

    def predict_proba(self, texts):
        import numpy as np

        return np.full((len(texts), len(self.classes_)), 1 / len(self.classes_))


def test_a_classifier_without_sample_weight_learns_the_examples_that_count_at_least_half():
    model = ChoiceModel("sentiment", "text", "text", LABELS, False, None, (), lambda multilabel: Unweighted())
    model.fit([
        Example("sure", ("Positive",), "consensus", weight=0.9), Example("doubtful", ("Negative",), "consensus", weight=0.4),
        Example("neutral", ("Neutral",), "consensus", weight=0.5), Example("gold", ("Negative",), "gold", task_id=1),
    ])

    assert sorted(Unweighted.fitted_on) == ["neutral", "sure"]  # and the model without gold: the last fit
    assert model.gold_tasks_ == {1}


# -- held out: real review snippets nobody in this project wrote -----------------------------------------


def simulated_answer(kind: str, truth: str, rng: random.Random) -> str:
    """Careful labelers are right 90% of the time; the confuser also answers Positive for 85% of Negative snippets."""
    if kind == "confuser" and truth == "Negative" and rng.random() < 0.85:
        return "Positive"
    if rng.random() < 0.1:
        return rng.choice([label for label in LABELS if label != truth])
    return truth


def pilot(store, training, gold, labelers, leave_out=None, seed=5):
    """Every labeler answers every gold task; each training task is answered by one labeler, in turn.

    One answer per task is how most teams label once the pilot is over, and where a confuser's answers
    are not outvoted. `leave_out` drops one labeler's annotations (and so their tasks) but keeps the
    random draws, so that the others answer exactly as with them.
    """
    team, rng = Team(store), random.Random(seed)
    for number, (text, label) in enumerate(gold):
        team.gold(50000 + number, text, label)
    with store.session() as session:
        for number, (text, label) in enumerate(gold):
            for labeler, kind in labelers:
                answer = simulated_answer(kind, label, rng)
                if labeler != leave_out:
                    team.answer(labeler, 50000 + number, text, answer, session)
        for number, (text, label) in enumerate(training):
            labeler, kind = labelers[number % len(labelers)]
            answer = simulated_answer(kind, label, rng)
            if labeler != leave_out:
                team.answer(labeler, number + 1, text, answer, session)


def held_out_accuracy(model, held_out) -> float:
    predictions = model.predict([{"id": 90000 + n, "data": {"text": text}} for n, (text, _) in enumerate(held_out)])
    chosen = [[item["value"]["choices"] for item in (p or {}).get("result", []) if item["from_name"] == "sentiment"] for p in predictions]
    right = sum(choices == [[label]] for choices, (_, label) in zip(chosen, held_out))
    return right / len(held_out)


def learning_from_everyone_equally(store) -> ContextModel:
    """The control: every annotation one example of weight 1, as before labelers were weighted by their gold."""
    from sqlalchemy import select

    from ls_context.store import Annotation, TaskData

    with store.reading() as session:
        texts = dict(session.execute(select(TaskData.task_id, TaskData.data)).all())
        rows = session.execute(select(Annotation.task_id, Annotation.result).where(Annotation.task_id < 50000)).all()
    examples = [Example(texts[task]["text"], tuple(result[0]["value"]["choices"]), "annotation") for task, result in rows]
    return ContextModel(CONFIG, min_precision=0).fit({"sentiment": examples})


def test_on_real_reviews_a_labeler_who_confuses_two_labels_does_not_pull_the_model(tmp_path):
    started = time.perf_counter()
    rows = snippets("movies")  # VADER's human-rated movie-review snippets (a sample): nobody here wrote them
    random.Random(11).shuffle(rows)
    polar = [row for row in rows if row[1] != "Neutral"]
    training, held_out = polar[:600], rows[700:1900]
    gold = [row for row in polar[600:] if row[1] == "Negative"][:20] + [row for row in polar[600:] if row[1] == "Positive"][:20]
    labelers = [(1, "careful"), (2, "careful"), (3, "confuser")]

    accuracy, stores = {}, {}
    for case, leave_out in (("without the confuser", 3), ("with the confuser", None)):
        stores[case] = Store(f"sqlite:///{tmp_path / case.replace(' ', '-')}.sqlite3")
        stores[case].upgrade()
        pilot(stores[case], training, gold, labelers, leave_out)
        accuracy[case] = held_out_accuracy(fitted(stores[case]), held_out)
    accuracy["everyone equally"] = held_out_accuracy(learning_from_everyone_equally(stores["with the confuser"]), held_out)
    print(f"\nheld-out accuracy on {len(held_out)} real review snippets: "
          + ", ".join(f"{case} {value:.1%}" for case, value in accuracy.items()))
    trust = labeler_trust(stores["with the confuser"], PROJECT, "sentiment")

    assert len(held_out) >= 1000
    assert trust.weight(3) == 0  # found out by the 40 gold tasks (20 of them Negative)
    assert trust.weight(1) > 0.75 and trust.weight(2) > 0.75
    assert accuracy["with the confuser"] >= accuracy["without the confuser"] - 0.02
    # The scenario is one where the confuser would hurt: learning from everyone equally costs more than 2 points.
    assert accuracy["everyone equally"] < accuracy["without the confuser"] - 0.02
    assert time.perf_counter() - started < 30
