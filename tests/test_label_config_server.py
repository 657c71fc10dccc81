"""The real Label Studio accepts every extended config and sees the injected hints and flag."""

import os
from pathlib import Path

import pytest
import yaml

from ls_context.guidelines import load
from ls_context.labelstudio.label_config import FLAG, FLAG_NOTE, inject

ROOT = Path(__file__).resolve().parent.parent
LABEL_CONFIGS = sorted((ROOT / "label_configs").glob("*.xml"))
LS_VENV = Path(os.environ.get("LS_CONTEXT_LS_VENV", ROOT / ".ls-venv"))
TEMPLATES = sorted(LS_VENV.glob("lib/python3*/site-packages/label_studio/annotation_templates/*/*/config.yml"))

pytestmark = pytest.mark.labelstudio


@pytest.mark.parametrize("path", LABEL_CONFIGS, ids=lambda path: path.stem)
def test_shipped_configs_are_accepted_with_hints_and_flag(ls, make_project, path):
    guidelines = load(path.with_suffix(".yaml"))

    project = make_project(path.read_text())

    parsed = ls.projects.get(id=project.id).parsed_label_config
    assert parsed[FLAG]["labels"] == [reason.value for reason in guidelines.flag_reasons]
    assert parsed[FLAG]["to_name"] == parsed[FLAG_NOTE]["to_name"]
    for name, control in guidelines.controls.items():
        hints = {value: attrs.get("hint") for value, attrs in parsed[name]["labels_attrs"].items()}
        assert hints == {label.value: label.hint for label in control.labels}


def test_label_studio_templates_are_found():
    # Guards the next test against silently running on nothing.
    assert len(TEMPLATES) >= 50, f"Label Studio's templates not found under {LS_VENV}"


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda path: f"{path.parent.parent.name}/{path.parent.name}")
def test_label_studio_templates_extended_are_accepted(ls, make_project, path):
    config = yaml.safe_load(path.read_text())["config"]

    project = make_project(inject(config))

    parsed = ls.projects.get(id=project.id).parsed_label_config
    assert parsed[FLAG]["type"] == "Choices"
    assert parsed[FLAG_NOTE]["type"] == "TextArea"
