"""Saved models are read without running code: skops files of known types only, never pickle."""

import logging
import pickle

import pytest
import skops.io

from harness.config import config_for
from ml_backend import artifact, create_app
from ml_backend.registry import ModelRegistry
from test_ml_backend import GUIDELINES, annotation_event, predict_body


class Planted:
    """A type from outside ls-context, as someone with write access to the model directory might plant."""

    def __init__(self):
        self.command = "touch /tmp/owned"


class Trap:
    """A pickle payload that would leave a mark if it were ever unpickled."""

    def __init__(self, mark):
        self.mark = mark

    def __reduce__(self):
        return (open, (str(self.mark), "w"))


def trained_server(tmp_path):
    settings = config_for(tmp_path, webhook_secret=None, insecure=True, guidelines=GUIDELINES)
    first = create_app(settings)
    client = first.test_client()
    client.post("/webhook", json=annotation_event(1, "Toner arrived wet", "General feedback"))
    client.post("/webhook", json=annotation_event(2, "Where are invoices?", "Routine question"))
    assert first.extensions["ls_context"].settle()
    first.extensions["ls_context"].close()
    published = sorted((tmp_path / "models" / "project-7").glob("model-*.skops"), key=lambda path: path.stat().st_mtime)
    assert published, "no model was published"
    return settings, published[-1]


def test_a_restarted_server_reads_the_saved_model_instead_of_refitting(tmp_path, monkeypatch):
    settings, path = trained_server(tmp_path)

    monkeypatch.setattr(ModelRegistry, "_fit", lambda *args, **kwargs: pytest.fail("refitted instead of loading the saved model"))
    answer = create_app(settings).test_client().post("/predict", json=predict_body("Toner arrived wet again"))

    assert answer.status_code == 200 and path.name == f"model-{answer.json['model_version']}.skops"
    assert path.read_bytes()[:2] == b"PK"  # a skops file is a zip of JSON and arrays
    assert not list(path.parent.glob("*.pkl"))


def test_a_file_naming_a_foreign_type_is_refused_unread_and_the_server_refits(tmp_path, caplog):
    settings, path = trained_server(tmp_path)
    saved = skops.io.loads(path.read_bytes(), trusted=sorted(artifact.OWN_TYPES))
    saved["planted"] = Planted()
    path.write_bytes(skops.io.dumps(saved))

    with pytest.raises(artifact.Refused, match="test_artifact.Planted"):
        artifact.load(path)
    with caplog.at_level(logging.WARNING):
        answer = create_app(settings).test_client().post("/predict", json=predict_body("Toner arrived wet again"))

    assert answer.status_code == 200 and answer.json["results"][0]["result"]
    assert "saved model refused, refitting instead" in caplog.text and "Planted" in caplog.text


def test_a_pickle_put_in_its_place_never_runs(tmp_path, caplog):
    settings, path = trained_server(tmp_path)
    mark = tmp_path / "pickle-ran"
    path.write_bytes(pickle.dumps(Trap(mark)))

    with caplog.at_level(logging.WARNING):
        answer = create_app(settings).test_client().post("/predict", json=predict_body("Toner arrived wet again"))

    assert answer.status_code == 200
    assert not mark.exists()
    assert "is not a model this version can read" in caplog.text
