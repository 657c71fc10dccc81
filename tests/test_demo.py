"""The README's first command: `ls-context demo` brings everything up, and Ctrl-C takes it all down."""

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from harness.readme import command
from ls_context.demo.local_studio import free_port

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.labelstudio


@pytest.mark.parametrize("stop, readme_line", [(signal.SIGINT, "make demo"), (signal.SIGTERM, ".venv/bin/ls-context demo --simulate")],
                         ids=["ctrl-c", "simulate-then-terminate"])
def test_the_demo_comes_up_wired_and_a_stop_signal_stops_everything(stop, readme_line, tmp_path):
    port, backend_port = free_port(), free_port()
    arguments = ["demo"] if readme_line == "make demo" else command(readme_line)  # `make demo` runs `ls-context demo`
    process = subprocess.Popen(
        [sys.executable, "-m", "ls_context", *arguments, "--port", str(port), "--backend-port", str(backend_port),
         "--data-dir", str(tmp_path)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        _wait(lambda: any("Ctrl-C stops everything." in line for line in lines), 240, "the demo to be ready", lines)
        output = "".join(lines)
        assert "gold: 30 imported" in output and "model server connected" in output
        assert "Log in as admin@example.com / ls-context-demo" in output
        if "--simulate" in arguments:
            assert "ALERT confuser@example.com" in output and "gate: FAIL" in output and (tmp_path / "report.html").exists()
        assert requests.get(f"http://127.0.0.1:{port}/health", timeout=5).ok
        assert requests.get(f"http://127.0.0.1:{backend_port}/health", timeout=5).json()["status"] == "UP"

        process.send_signal(stop)
        assert process.wait(60) == 0
    finally:
        if process.poll() is None:
            process.kill()
    reader.join(5)
    assert "Stopping..." in "".join(lines)
    for url in (f"http://127.0.0.1:{port}/health", f"http://127.0.0.1:{backend_port}/health"):
        with pytest.raises(requests.ConnectionError):
            requests.get(url, timeout=5)


def _wait(condition, timeout_s, what, lines):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}; output:\n{''.join(lines)[-3000:]}")
