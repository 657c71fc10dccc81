"""Every command the README shows is run by a test (or is `make demo` / `make test` themselves).

The tests named here read their command lines out of README.md (`harness.readme`, or the production
section as a whole), so a README edit that changes a command changes what they run; a new command
fails this test until a test runs it too.
"""

from harness.readme import bash_lines

RUN_BY = {
    "make demo": "tests/test_demo.py (the demo `make demo` starts) and CI's bootstrap",
    "make test": "CI (.ci/run)",
    ".venv/bin/ls-context demo --simulate": "tests/test_demo.py",
    "ls-context pilot  --project 12 --size 10 --gold-ratio 0.2 --name pilot-A": "tests/test_pilot.py",
    "ls-context report --export export.json --gold gold.json --out r.html --json m.json": "tests/test_quality_label_studio.py",
    "ls-context gate   --project 12 --gold gold.json --min-accuracy 0.95 --min-gold-per-labeler 6": "tests/test_quality_label_studio.py",
    "export LS_CONTEXT_CONFIG=/etc/ls-context/ls-context.toml": "tests/test_production.py",
    "export LABEL_STUDIO_API_KEY=... BASIC_AUTH_PASS=... LS_CONTEXT_WEBHOOK_SECRET=$(openssl rand -hex 16)": "tests/test_production.py",
    "pip install 'ls-context[production,postgres]'": "tests/test_wheel.py (the wheel, installed into a fresh venv)",
    "ls-context db upgrade": "tests/test_production.py",
    "gunicorn --bind 0.0.0.0:9090 --worker-class gthread --workers 4 --threads 8 'ml_backend.wsgi:app'": "tests/test_production.py",
    "ls-context config show": "tests/test_production.py",
    "ls-context setup --project 12 --guidelines sentiment.yaml": "tests/test_production.py",
    "ls-context gold import --project 12 gold.json": "tests/test_production.py",
    "ls-context labelers --project 12": "tests/test_production.py",
    "ls-context flags --project 12": "tests/test_production.py",
    "ls-context report --project 12 --out report.html": "tests/test_production.py",
    "ls-context gate --project 12": "tests/test_production.py",
    "ls-context status": "tests/test_production.py",
    "ls-context worker": "tests/test_queue.py",
    'export LS_CONTEXT_ALERTS="slack+https://hooks.slack.com/services/T000/B000/XXXX smtp://alerts:PASSWORD@mail.example.com:587'
    '?from=ls-context@example.com&to=lead@example.com,qa@example.com"': "tests/test_alerts.py",
    "ls-context config show | grep alerts": "tests/test_alerts.py",
}


def test_every_readme_command_is_run_by_a_test():
    assert bash_lines() == list(RUN_BY)
