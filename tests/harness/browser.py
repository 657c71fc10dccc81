"""Drive Debian's Chromium with Playwright, as a labeler would see Label Studio."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from ls_context.errors import NotReady

CHROMIUM_ENV_VAR = "LS_CONTEXT_CHROMIUM"
# Playwright cannot download its own browser here; these flags keep Chromium off the network.
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def find_chromium() -> str:
    path = os.environ.get(CHROMIUM_ENV_VAR, "/usr/bin/chromium")
    if not Path(path).exists():
        raise NotReady(
            f"Chromium not found at {path}: run `make setup` (it installs the Debian packages "
            f"chromium and chromium-driver), or point {CHROMIUM_ENV_VAR} at a Chromium binary"
        )
    return path


def launch(playwright):
    return playwright.chromium.launch(executable_path=find_chromium(), args=CHROMIUM_ARGS, headless=True)


def log_in(page, base_url: str, email: str, password: str) -> None:
    """Log in through Label Studio's own login form."""
    page.goto(f"{base_url}/user/login/")
    page.fill("input#email", email)
    page.fill("input#password", password)
    page.click("button.login-button")
    page.wait_for_url(lambda url: "/user/login" not in url, timeout=30_000)


@contextmanager
def logged_in(browser, base_url: str, email: str, password: str):
    """A page of its own browser context, logged into Label Studio as this user."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        page = context.new_page()
        log_in(page, base_url, email, password)
        yield page
    finally:
        context.close()


def open_task(page, base_url: str, project_id: int, task_id: int) -> None:
    """Open one task in the labeling view and wait until the editor has drawn it."""
    page.goto(f"{base_url}/projects/{project_id}/data?task={task_id}")
    page.wait_for_selector(".lsf-main-view", timeout=60_000)


def side_by_side(browser, left: Path, right: Path, out: Path, captions: tuple[str, str]) -> Path:
    """One picture of two screenshots next to each other, with a caption over each (for the README)."""
    html = out.with_suffix(".html")
    cells = "".join(
        f"<figure><figcaption>{caption}</figcaption><img src='{image.name}'></figure>" for image, caption in zip((left, right), captions)
    )
    html.write_text(
        "<!doctype html><meta charset='utf-8'><style>body{margin:0;display:flex;gap:12px;background:#eee;"
        "font-family:system-ui,sans-serif}figure{margin:8px}figcaption{font-weight:600;margin:4px 0}"
        "img{border:1px solid #bbb;display:block}</style>" + cells
    )
    page = browser.new_page(viewport={"width": 800, "height": 600})
    page.goto(html.as_uri())
    page.wait_for_load_state("load")
    page.screenshot(path=str(out), full_page=True)
    page.close()
    html.unlink()
    return out
