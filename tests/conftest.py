"""Fixtures: a real Label Studio server and a real browser, each started once per test session.

The tests never read or write the configuration, data or cache of whoever runs them: settings from
the shell are dropped, and the per-user folders point into a temporary directory. Label Studio comes
from this checkout's `.ls-venv` and its migrated template from `.cache` (scripts/bootstrap makes both).
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = Path(os.environ.get("LS_CONTEXT_ARTIFACTS", ROOT / "test-artifacts"))
SETTINGS_FROM_THE_SHELL = ("LS_CONTEXT_", "LABEL_STUDIO_", "MODEL_DIR", "BASIC_AUTH_", "LOG_LEVEL")
KEPT = {"LS_CONTEXT_LS_VENV", "LS_CONTEXT_CACHE", "LS_CONTEXT_CHROMIUM", "LS_CONTEXT_ARTIFACTS"}

for _name in [n for n in os.environ if n.startswith(SETTINGS_FROM_THE_SHELL) and n not in KEPT]:
    del os.environ[_name]
_HOME = Path(tempfile.mkdtemp(prefix="ls-context-tests-"))
os.environ.update(XDG_CONFIG_HOME=str(_HOME / "config"), XDG_DATA_HOME=str(_HOME / "data"))
os.environ.setdefault("LS_CONTEXT_LS_VENV", str(ROOT / ".ls-venv"))
os.environ.setdefault("LS_CONTEXT_CACHE", str(ROOT / ".cache"))

from harness import browser as chromium  # noqa: E402
from harness.config import TEXT_GUIDELINES, WEBHOOK_SECRET, config_for  # noqa: E402
from ls_context.demo.local_studio import LocalLabelStudio, from_template, template_cache  # noqa: E402
from ls_context.errors import NotReady  # noqa: E402


def _not_ready(error: NotReady):
    pytest.fail(str(error), pytrace=False)


@pytest.fixture(scope="session")
def label_studio(tmp_path_factory) -> LocalLabelStudio:
    """A running Label Studio on loopback, from a migrated template data dir."""
    venv = Path(os.environ.get("LS_CONTEXT_LS_VENV", ROOT / ".ls-venv"))
    try:
        server = from_template(template_cache(), tmp_path_factory.mktemp("label-studio"), venv=venv)
        server.start()
    except NotReady as error:
        _not_ready(error)
    yield server
    server.stop()


@pytest.fixture(scope="session")
def ls(label_studio):
    """The SDK's client, logged in as the server's admin."""
    from label_studio_sdk import LabelStudio

    return LabelStudio(base_url=label_studio.url, api_key=label_studio.account.token)


@pytest.fixture
def make_project(ls):
    """Create projects for one test and delete them afterwards."""
    created = []

    def make(label_config: str, title: str = "ls-context test", **fields):
        project = ls.projects.create(title=title, label_config=label_config, **fields)
        created.append(project.id)
        return project

    yield make
    for project_id in created:
        ls.projects.delete(id=project_id)


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        chrome = chromium.launch(playwright)
    except NotReady as error:
        playwright.stop()
        _not_ready(error)
    yield chrome
    chrome.close()
    playwright.stop()


@pytest.fixture(scope="session")
def labeler_state(browser, label_studio, tmp_path_factory) -> str:
    """Cookies of a logged-in session, so each test's page starts logged in."""
    context = browser.new_context()
    page = context.new_page()
    chromium.log_in(page, label_studio.url, label_studio.account.email, label_studio.account.password)
    state = str(tmp_path_factory.mktemp("browser") / "state.json")
    context.storage_state(path=state)
    context.close()
    return state


@pytest.fixture
def page(browser, labeler_state):
    context = browser.new_context(storage_state=labeler_state, viewport={"width": 1400, "height": 900})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def screenshot(request):
    """Save a page's screenshot under test-artifacts/, named after the test."""

    def take(page, name: str = "", full_page: bool | None = True) -> Path:
        """`page` may also be a locator (one element): give full_page=None then."""
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", request.node.name + (f"-{name}" if name else ""))
        path = ARTIFACTS / f"{stem}.png"
        page.screenshot(path=str(path), **({} if full_page is None else {"full_page": full_page}))
        return path

    return take


@pytest.fixture
def store(tmp_path):
    """A SQLite store of the test's own, its schema upgraded."""
    from ls_context.store import Store

    store = Store(f"sqlite:///{tmp_path / 's.sqlite3'}")
    store.upgrade()
    return store


@pytest.fixture
def context_backend(tmp_path):
    """`ls-context serve` in a thread on a free loopback port, with the text-classification guidelines."""
    from ls_context.demo.local_studio import free_port
    from ml_backend.serve import start_in_thread

    server = start_in_thread("127.0.0.1", free_port(), config_for(tmp_path, guidelines=TEXT_GUIDELINES))
    yield server
    server.backend.close()
    server.shutdown()


@pytest.fixture
def feedback_backend(tmp_path, label_studio):
    """`ls-context serve` that writes flags back into the test's Label Studio."""
    from ls_context.demo.local_studio import free_port
    from ml_backend.serve import start_in_thread

    config = config_for(tmp_path, guidelines=TEXT_GUIDELINES, label_studio_url=label_studio.url,
                        label_studio_api_key=label_studio.account.token)
    server = start_in_thread("127.0.0.1", free_port(), config)
    server.secret = WEBHOOK_SECRET
    yield server
    server.backend.close()
    server.shutdown()
