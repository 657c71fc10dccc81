"""The `ls-context` command line: one thin command per task a labeling lead has."""

from __future__ import annotations

import sys

import click

from . import __version__
from .errors import LSContextError


class Commands(click.Group):
    """A click group that turns the project's errors into one clear line and exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LSContextError as error:
            raise click.ClickException(str(error)) from None


def read_text(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except (OSError, UnicodeDecodeError) as error:
        raise LSContextError(f"{path}: cannot read: {error}") from None


def write_text(path: str | None, text: str) -> None:
    """Write to `path`, or to stdout when no path is given."""
    if not path:
        click.echo(text, nl=False)
        return
    try:
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as error:
        raise LSContextError(f"{path}: cannot write: {error}") from None


def not_implemented_yet(name: str) -> None:
    click.echo(f"ls-context {name}: not implemented yet", err=True)
    raise SystemExit(2)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ls-context")
def main() -> None:
    """Context for labelers and proof of quality for leads, inside Label Studio.

    Label Studio's URL and API key come from LABEL_STUDIO_URL and LABEL_STUDIO_API_KEY.
    """


@main.group(cls=Commands)
def config() -> None:
    """Extend Label Studio label configs."""


@config.command("inject")
@click.argument("config_file", type=click.Path(exists=True, dir_okay=False))
@click.option("--guidelines", type=click.Path(exists=True, dir_okay=False), help="Guidelines YAML file.")
@click.option("--overwrite-hints", is_flag=True, help="Replace hints the config already has.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def config_inject(config_file, guidelines, overwrite_hints, output) -> None:
    """Add the flag control, hints, rationale and feedback display to CONFIG_FILE.

    Injecting into an already extended config gives the same config again.
    """
    from .guidelines import load
    from .label_config import Injection, inject

    rules = load(guidelines) if guidelines else None
    extended = inject(read_text(config_file), Injection.from_guidelines(rules, overwrite_hints))
    write_text(output, extended)


@main.group(cls=Commands)
def guidelines() -> None:
    """Guidelines as code: one versioned YAML file per project."""


@guidelines.command("check")
@click.argument("guidelines_file", type=click.Path(exists=True, dir_okay=False))
def guidelines_check(guidelines_file) -> None:
    """Validate GUIDELINES_FILE; errors name the file, the line and the field."""
    from .guidelines import load

    loaded = load(guidelines_file)
    labels = sum(len(control.labels) for control in loaded.controls.values())
    click.echo(
        f"{guidelines_file}: ok ({loaded.project}, version {loaded.version}: {len(loaded.controls)} control(s), "
        f"{labels} label(s), {len(loaded.rules)} rule(s), {len(loaded.flag_reasons)} flag reason(s))"
    )


@guidelines.command("instructions")
@click.argument("guidelines_file", type=click.Path(exists=True, dir_okay=False))
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def guidelines_instructions(guidelines_file, output) -> None:
    """Render GUIDELINES_FILE as HTML for the project's labeling instructions."""
    from .guidelines import load
    from .instructions import render

    write_text(output, render(load(guidelines_file)) + "\n")


@main.command()
@click.option("--redis-url", envvar="LS_CONTEXT_REDIS_URL", required=True,
              help="The Redis the web processes enqueue on [env LS_CONTEXT_REDIS_URL].")
@click.option("--db", help="SQLAlchemy URL of the store; the same as the server's [env LS_CONTEXT_DB].")
@click.option("--model-dir", type=click.Path(file_okay=False), help="The server's model dir, for each project's guidelines [env MODEL_DIR].")
@click.option("--guidelines", "guidelines_file", type=click.Path(exists=True, dir_okay=False),
              help="Guidelines for projects without their own [env LS_CONTEXT_GUIDELINES].")
@click.option("--sync-every", type=click.FloatRange(0), default=0, help="Recover lost webhooks every N seconds.")
@click.option("--burst", is_flag=True, help="Process what is queued, then exit.")
def worker(redis_url, db, model_dir, guidelines_file, sync_every, burst) -> None:
    """Process recorded events and deliver write-backs: an RQ worker, for servers started with LS_CONTEXT_REDIS_URL."""
    import logging
    import os

    from ml_backend.settings import Settings

    from .jobs import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Jobs read their configuration from the environment (as gunicorn's server does): options go there.
    given = {"LS_CONTEXT_REDIS_URL": redis_url, "LS_CONTEXT_DB": db, "MODEL_DIR": model_dir, "LS_CONTEXT_GUIDELINES": guidelines_file}
    os.environ.update({name: str(value) for name, value in given.items() if value})
    settings = Settings.from_env()
    try:
        run_worker(settings, burst=burst, sync_every=sync_every)
    except Exception as error:
        if type(error).__module__.startswith("redis"):
            raise LSContextError(f"cannot reach Redis: {type(error).__name__}") from None
        raise


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=9090, show_default=True, type=int)
@click.option("--db", help="SQLAlchemy URL of the store (default: a SQLite file).")
@click.option("--model-dir", type=click.Path(file_okay=False), help="Where models are kept [env MODEL_DIR, default ./models].")
@click.option("--guidelines", "guidelines_file", type=click.Path(exists=True, dir_okay=False),
              help="Guidelines for projects without their own [env LS_CONTEXT_GUIDELINES].")
@click.option("--sync-every", type=click.FloatRange(0), help="Recover lost webhooks every N seconds [env LS_CONTEXT_SYNC_EVERY].")
@click.option("--redis-url", help="Leave processing to `ls-context worker` on this Redis [env LS_CONTEXT_REDIS_URL].")
def serve(host, port, db, model_dir, guidelines_file, sync_every, redis_url) -> None:
    """Run the ML backend, the webhook intake and the pages (embedded server; use gunicorn in production)."""
    from .server import serve_forever

    serve_forever(host, port, model_dir=model_dir, guidelines=guidelines_file, db_url=db, sync_every=sync_every,
                  redis_url=redis_url)


@main.command()
@click.option("--project", required=True, type=int, help="Label Studio project id.")
@click.option("--guidelines", "guidelines_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--backend-url", required=True, help="Where Label Studio reaches `ls-context serve`.")
@click.option("--model-dir", type=click.Path(file_okay=False),
              help="Also copy the guidelines where a server on this machine reads them [MODEL_DIR].")
def setup(project, guidelines_file, backend_url, model_dir) -> None:
    """Wire a project: config, instructions, model server, webhook with the secret. Safe to run twice.

    The webhook secret comes from LS_CONTEXT_WEBHOOK_SECRET, the same variable the server reads.
    """
    import os

    from . import labelstudio
    from .setup import setup_project

    report = setup_project(labelstudio.connect(), project, guidelines_file, backend_url,
                           os.environ.get("LS_CONTEXT_WEBHOOK_SECRET"), model_dir)
    for step in report.steps:
        click.echo(step)


@main.group(cls=Commands)
def gold() -> None:
    """Gold (honeypot) tasks."""


def db_option(command):
    return click.option("--db", help="SQLAlchemy URL of the store [env LS_CONTEXT_DB; default models/ls-context.sqlite3].")(
        click.option("--model-dir", type=click.Path(file_okay=False), help="[env MODEL_DIR; default ./models]")(command))


def open_store(db, model_dir):
    from pathlib import Path

    from ml_backend.settings import Settings

    from .store import Store

    settings = Settings.from_env(db_url=db, model_dir=Path(model_dir) if model_dir else None)
    Path(settings.model_dir).mkdir(parents=True, exist_ok=True)
    return Store(settings.store_url())


@gold.command("import")
@click.option("--project", required=True, type=int, help="Label Studio project id.")
@click.argument("gold_file", type=click.Path(exists=True, dir_okay=False))
@db_option
def gold_import(project, gold_file, db, model_dir) -> None:
    """Import GOLD_FILE (tasks with their expected annotations) as gold tasks.

    The tasks go to Label Studio without their answers; the answers stay in the store, where the
    checks find them. Tasks imported before are recognised by their data and not imported again.
    """
    from . import labelstudio
    from .gold import import_gold
    from .quality.export import read_json

    imported, known = import_gold(labelstudio.connect(), open_store(db, model_dir), project, read_json(gold_file, "gold file"))
    click.echo(f"{imported} gold task(s) imported into project {project}; {known} already there")


@main.command()
@click.option("--project", required=True, type=int, help="Label Studio project id.")
@db_option
def sync(project, db, model_dir) -> None:
    """Recover annotations whose webhooks were lost, and process them (checks, feedback, flags)."""
    import os
    from pathlib import Path

    from . import labelstudio
    from .delivery import deliver_due
    from .guidelines import load
    from .processing import Processor
    from .sync import sync_project

    client, store = labelstudio.connect(), open_store(db, model_dir)
    report = sync_project(client, store, project)
    own = Path(model_dir or os.environ.get("MODEL_DIR", "models")) / f"project-{project}" / "guidelines.yaml"
    fallback = os.environ.get("LS_CONTEXT_GUIDELINES")
    guidelines = load(own) if own.exists() else (load(fallback) if fallback else None)
    processed = Processor(store, lambda _: guidelines).run_pending(limit=100_000)
    delivered, failed = deliver_due(store, client, limit=100_000)
    click.echo(f"{report.annotations} annotations read, {report.recovered} never seen before; "
               f"{processed} processed; {delivered} write-backs delivered" + (f", {failed} to retry" if failed else ""))


@main.command()
@click.option("--project", required=True, type=int, help="Label Studio project id.")
@db_option
def flags(project, db, model_dir) -> None:
    """List flagged tasks grouped by reason and label: the raw material of the guideline-gap list."""
    from .gold import flags_by_reason

    groups = flags_by_reason(open_store(db, model_dir), project)
    if not groups:
        click.echo(f"no flagged tasks in project {project}")
        return
    for (reason, label), rows in groups:
        click.echo(f"{len(rows):>4}  {reason}  [{label or 'no label'}]  tasks: {', '.join(str(r.task_id) for r in rows[:10])}")
        for row in rows[:3]:
            if row.note:
                click.echo(f"        \u201c{row.note}\u201d (task {row.task_id})")


@main.command()
@click.option("--project", required=True, type=int, help="Label Studio project id.")
@click.option("--size", required=True, type=click.IntRange(1), help="Number of tasks in the pilot batch.")
@click.option("--gold-ratio", default=0.2, show_default=True, type=click.FloatRange(0, 1), help="Share of gold tasks mixed in.")
@click.option("--gold", "gold_file", type=click.Path(exists=True, dir_okay=False),
              help="Gold tasks (matched by data); tasks whose meta has ls_gold count too.")
@click.option("--guidelines", "guidelines_file", type=click.Path(exists=True, dir_okay=False),
              help="Stratify by the rule or label the model suggests; without it the pick is random.")
@click.option("--name", default="pilot-1", show_default=True, help="Written to each task's meta as ls_pilot.")
@click.option("--seed", default=0, show_default=True, type=int, help="The same seed picks the same batch.")
def pilot(project, size, gold_ratio, gold_file, guidelines_file, name, seed) -> None:
    """Pick a stratified pilot batch with gold mixed in and mark it (task meta ls_pilot)."""
    from collections import Counter

    from . import labelstudio
    from .guidelines import load
    from .pilot import PILOT_KEY, choose, gold_task_ids, strata_from_model
    from .quality.export import read_json

    client = labelstudio.connect()
    tasks = labelstudio.project_tasks(client, project)
    gold_ids = gold_task_ids(tasks, read_json(gold_file, "gold file") if gold_file else [])
    strata = {}
    if guidelines_file:
        strata = strata_from_model(tasks, labelstudio.label_config(client, project), load(guidelines_file))
    chosen = choose(tasks, size, gold_ids, gold_ratio, strata, seed)
    labelstudio.mark_tasks(client, chosen, **{PILOT_KEY: name})
    n_gold = sum(task["id"] in gold_ids for task in chosen)
    click.echo(f"{name}: {len(chosen)} tasks marked in project {project} ({n_gold} gold)")
    for stratum, count in sorted(Counter(strata.get(t["id"], "all") for t in chosen if t["id"] not in gold_ids).items()):
        click.echo(f"  {count:>4}  {stratum}")
    if len(chosen) < size:
        click.echo(f"only {len(chosen)} unlabeled tasks were available for a batch of {size}", err=True)
    click.echo(f'Filter the Data Manager on meta "{PILOT_KEY}" = "{name}" to label the batch.')


def export_options(command):
    """--project or --export, and --gold: where the annotations and the gold answers come from."""
    command = click.option("--gold", "gold_file", type=click.Path(exists=True, dir_okay=False),
                           help="Gold tasks with their expected annotations (Label Studio's task format).")(command)
    command = click.option("--export", "export_file", type=click.Path(exists=True, dir_okay=False),
                           help="A Label Studio JSON export.")(command)
    return click.option("--project", type=int, help="Read the annotations from this Label Studio project.")(command)


def quality_metrics(project, export_file, gold_file) -> dict:
    from .quality.export import build, load_export
    from .quality.metrics import compute

    if (project is None) == (export_file is None):
        raise LSContextError("give exactly one of --project ID or --export EXPORT.json")
    with click.progressbar(length=0, label="reading annotations", file=sys.stderr) as bar:
        def progress(tasks):
            bar.length = len(tasks)
            for task in tasks:
                bar.update(1)
                yield task

        if export_file:
            dataset = load_export(export_file, gold_file, progress)
        else:
            from . import labelstudio
            from .quality.export import read_json

            gold = read_json(gold_file, "gold file") if gold_file else []
            dataset = build(labelstudio.export_tasks(labelstudio.connect(), project), gold, progress)
    click.echo("computing agreement, consensus and accuracy...", err=True)
    return compute(dataset)


@main.command()
@export_options
@click.option("--out", default="report.html", show_default=True, type=click.Path(dir_okay=False), help="The HTML report.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), help="Also write the metrics as JSON.")
def report(project, export_file, gold_file, out, json_file) -> None:
    """Quality report: accuracy per labeler, agreement, confusions, guideline gaps."""
    import json

    from .report import render

    metrics = quality_metrics(project, export_file, gold_file)
    write_text(out, render(metrics))
    if json_file:
        write_text(json_file, json.dumps(metrics, indent=1) + "\n")
    click.echo(f"report: {out}" + (f", metrics: {json_file}" if json_file else ""))


@main.command()
@export_options
@click.option("--guidelines", "guidelines_file", type=click.Path(exists=True, dir_okay=False),
              help="Take the thresholds from this file's `gate:` section; options override them.")
@click.option("--min-accuracy", type=click.FloatRange(0, 1), help="Gold accuracy each labeler must reach (judged by the 95% interval).")
@click.option("--min-alpha", type=float, help="Krippendorff's alpha each control must reach.")
@click.option("--max-flag-rate", type=click.FloatRange(0, 1), help="Largest share of flagged annotations.")
@click.option("--min-gold-per-labeler", type=click.IntRange(0), help="Gold answers each labeler needs before being judged.")
def gate(project, export_file, gold_file, guidelines_file, min_accuracy, min_alpha, max_flag_rate, min_gold_per_labeler) -> None:
    """Pass (exit 0) or fail (exit 1) a pilot batch, printing each criterion with its measured value."""
    from dataclasses import replace

    from .guidelines import GateThresholds, load
    from .quality.gate import evaluate

    thresholds = load(guidelines_file).gate if guidelines_file else GateThresholds()
    given = dict(min_accuracy=min_accuracy, min_alpha=min_alpha, max_flag_rate=max_flag_rate, min_gold_per_labeler=min_gold_per_labeler)
    thresholds = replace(thresholds, **{key: value for key, value in given.items() if value is not None})
    if all(value is None for value in vars(thresholds).values()):
        raise LSContextError("no thresholds: give --min-accuracy, --min-alpha, --max-flag-rate or --guidelines with a gate section")
    criteria, alerts = evaluate(quality_metrics(project, export_file, gold_file), thresholds)
    for criterion in criteria:
        click.echo(criterion.line())
    for alert in alerts:
        click.echo(f"ALERT {alert}")
    passed = all(criterion.passed for criterion in criteria)
    click.echo("gate: PASS" if passed else "gate: FAIL")
    raise SystemExit(0 if passed else 1)


@main.command()
@click.option("--scenario", default="support-triage", show_default=True,
              type=click.Choice(["support-triage", "lead-qualification", "claim-triage"]), help="Which example project.")
@click.option("--simulate", is_flag=True, help="Three simulated labelers annotate a pilot batch; prints the gate and the report.")
@click.option("--exit", "exit_after", is_flag=True, help="Stop once set up (and simulated) instead of waiting for Ctrl-C.")
@click.option("--port", default=8080, show_default=True, type=int, help="Label Studio's port.")
@click.option("--backend-port", default=9090, show_default=True, type=int, help="The model server's port.")
@click.option("--data-dir", default="demo-data", show_default=True, type=click.Path(file_okay=False))
def demo(scenario, simulate, exit_after, port, backend_port, data_dir) -> None:
    """Bring up Label Studio and ls-context with an example project; Ctrl-C stops both."""
    from .demo import run_demo

    run_demo(port=port, data_dir=data_dir, backend_port=backend_port, scenario_name=scenario,
             simulate=simulate, stay=not exit_after)
