"""`ls-context setup` stops before changing anything when the model server refuses its credentials."""

from pathlib import Path

import pytest
import responses

from ls_context.errors import LSContextError
from ls_context.guidelines.book import GuidelinesBook
from ls_context.labelstudio import Gateway
from ls_context.labelstudio.setup import Backend, setup_project

ROOT = Path(__file__).resolve().parent.parent


@responses.activate
def test_credentials_the_server_refuses_stop_setup_before_anything_changes(store):
    responses.get("http://ls-context.test:9090/health", status=401)
    studio = Gateway("http://label-studio.test:8080", "key")  # any call to it would fail: none may happen

    with pytest.raises(LSContextError, match="refuses these basic-auth credentials.*nothing was changed"):
        setup_project(studio, GuidelinesBook(store), 3, str(ROOT / "label_configs" / "text-classification.yaml"),
                      Backend("http://ls-context.test:9090", "secret", ("labelstudio", "wrong")))

    assert [call.request.url for call in responses.calls] == ["http://ls-context.test:9090/health"]
    assert GuidelinesBook(store).versions(3) == []
