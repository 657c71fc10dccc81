"""Commands of the lead's proof: the quality report and the pilot gate."""

from __future__ import annotations

import sys

import click

from ls_context.errors import LSContextError

from . import main, pass_context, write_text


def export_options(command):
    """--project or --export, and --gold: where the annotations and the gold answers come from."""
    command = click.option("--gold", "gold_file", type=click.Path(exists=True, dir_okay=False),
                           help="Gold tasks with their expected annotations (default: the gold `ls-context gold import` stored).")(command)
    command = click.option("--export", "export_file", type=click.Path(exists=True, dir_okay=False),
                           help="A Label Studio JSON export.")(command)
    return click.option("--project", type=click.IntRange(1), help="Read the annotations from this Label Studio project.")(command)


class Source:
    """Where a report's annotations, gold answers and thresholds come from, resolved once."""

    def __init__(self, context, project, export_file, gold_file):
        if (project is None) == (export_file is None):
            raise LSContextError("give exactly one of --project ID or --export EXPORT.json")
        self.context, self.project, self.export_file, self.gold_file = context, project, export_file, gold_file
        self._services = None

    def services(self):
        if self._services is None:
            from ls_context.services import build

            self._services = build(self.context.config(), existing=True)
        return self._services

    def tasks(self, progress) -> list[dict]:
        from ls_context.labelstudio import Gateway
        from ls_context.quality.export import read_json

        if self.export_file:
            tasks = read_json(self.export_file, "export")
        else:
            tasks = Gateway.from_config(self.context.config()).export(self.project)
        return list(progress(tasks))

    def projects(self, tasks: list[dict]) -> set[int]:
        if self.project is not None:
            return {self.project}
        return {task["project"] for task in tasks if isinstance(task.get("project"), int)}

    def gold(self, tasks: list[dict]) -> list[dict]:
        """The gold file if given, else the gold stored for the project(s) (the store must exist for --project)."""
        from ls_context.quality.export import read_json

        if self.gold_file:
            return read_json(self.gold_file, "gold file")
        projects = self.projects(tasks)
        if not projects or (self.export_file and not self._store_exists()):
            return []
        return stored_gold_items(self.services().store, projects)

    def guidelines(self, tasks: list[dict]):
        """The newest stored guidelines of the (single) project, for its gate thresholds; None without a store."""
        projects = self.projects(tasks)
        if len(projects) != 1 or not self._store_exists():
            return None
        return self.services().guidelines.latest(next(iter(projects)))

    def _store_exists(self) -> bool:
        """Whether a store is configured; an export, or a gate with its own gold and thresholds, can do without."""
        from ls_context.store import Store

        return not Store(self.context.config().store_url()).file_missing()


def stored_gold_items(store, projects: set[int]) -> list[dict]:
    """The store's gold answers as gold tasks in Label Studio's format, matched to the export by task id."""
    from ls_context.checks.gold import stored_gold

    return [{"id": task_id, "annotations": [{"result": result}]} for task_id, result in stored_gold(store, projects).items()]


def measure(source: Source) -> tuple[dict, list[dict]]:
    """The metrics of the source's annotations against its gold, with a progress bar; and the tasks."""
    from ls_context.quality.export import build
    from ls_context.quality.metrics import compute

    with click.progressbar(length=0, label="reading annotations", file=sys.stderr) as bar:
        def progress(tasks):
            bar.length = len(tasks)
            for task in tasks:
                bar.update(1)
                yield task

        tasks = source.tasks(progress)
    gold = source.gold(tasks)
    click.echo(f"computing agreement, consensus and accuracy ({len(gold)} gold task(s))...", err=True)
    return compute(build(tasks, gold)), tasks


@main.command()
@export_options
@click.option("--out", default="report.html", show_default=True, type=click.Path(dir_okay=False), help="The HTML report.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), help="Also write the metrics as JSON.")
@pass_context
def report(context, project, export_file, gold_file, out, json_file) -> None:
    """Quality report: accuracy per labeler, agreement, confusions and who makes them, guideline gaps."""
    import json

    from ls_context.quality.report import render

    metrics, _ = measure(Source(context, project, export_file, gold_file))
    write_text(out, render(metrics))
    if json_file:
        write_text(json_file, json.dumps(metrics, indent=1) + "\n")
    click.echo(f"report: {out}" + (f", metrics: {json_file}" if json_file else ""))


@main.command()
@export_options
@click.option("--guidelines", "guidelines_file", type=click.Path(exists=True, dir_okay=False),
              help="Take the thresholds from this file's `gate:` section (default: the project's stored guidelines).")
@click.option("--min-accuracy", type=click.FloatRange(0, 1), help="Gold accuracy each labeler must reach (judged by the 95% interval).")
@click.option("--min-alpha", type=float, help="Krippendorff's alpha each control must reach.")
@click.option("--max-flag-rate", type=click.FloatRange(0, 1), help="Largest share of flagged annotations.")
@click.option("--min-gold-per-labeler", type=click.IntRange(0), help="Gold answers each labeler needs before being judged.")
@click.option("--min-gold-per-label", type=click.IntRange(1),
              help="Gold answers on one label a labeler needs before their recall on it is judged (default 5).")
@pass_context
def gate(context, project, export_file, gold_file, guidelines_file, min_accuracy, min_alpha, max_flag_rate,
         min_gold_per_labeler, min_gold_per_label) -> None:
    """Pass (exit 0) or fail (exit 1) a pilot batch, printing each criterion with its measured value."""
    from dataclasses import replace

    from ls_context.guidelines import GateThresholds, load
    from ls_context.quality.gate import evaluate

    source = Source(context, project, export_file, gold_file)
    metrics, tasks = measure(source)
    stored = None if guidelines_file else source.guidelines(tasks)
    thresholds = load(guidelines_file).gate if guidelines_file else (stored.gate if stored else GateThresholds())
    given = dict(min_accuracy=min_accuracy, min_alpha=min_alpha, max_flag_rate=max_flag_rate,
                 min_gold_per_labeler=min_gold_per_labeler, min_gold_per_label=min_gold_per_label)
    thresholds = replace(thresholds, **{key: value for key, value in given.items() if value is not None})
    if all(getattr(thresholds, name) is None for name in ("min_accuracy", "min_alpha", "max_flag_rate", "min_gold_per_labeler")):
        raise LSContextError("no thresholds: give --min-accuracy, --min-alpha, --max-flag-rate, or guidelines with a gate section")
    criteria, alerts = evaluate(metrics, thresholds)
    for criterion in criteria:
        click.echo(criterion.line())
    for alert in alerts:
        click.echo(f"ALERT {alert}")
    passed = all(criterion.passed for criterion in criteria)
    click.echo("gate: PASS" if passed else "gate: FAIL")
    raise SystemExit(0 if passed else 1)
