"""Commands of the lead's proof: the quality report and the pilot gate."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator

import click

from ls_context.errors import LSContextError

from . import main, pass_context, write_text, write_with


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
        self.context, self.project, self.export_file, self.gold_file_path = context, project, export_file, gold_file
        self._services = None

    def services(self):
        if self._services is None:
            from ls_context.services import build

            self._services = build(self.context.config(), existing=True)
        return self._services

    def stream(self, bar) -> Iterator[dict]:
        """The tasks one at a time (the export file read as it goes, a project page by page), moving `bar`."""
        from ls_context.labelstudio import Gateway
        from ls_context.quality.export import iter_export, open_export

        if self.export_file:
            bar.length = max(1, os.path.getsize(self.export_file))
            with open_export(self.export_file) as handle:
                for task in iter_export(handle, self.export_file):
                    yield task
                    bar.update(handle.tell() - bar.pos)  # bytes read so far
        else:
            total, tasks = Gateway.from_config(self.context.config()).iter_export(self.project)
            bar.length = max(1, total)
            for task in tasks:
                yield task
                bar.update(1)

    def gold_file(self) -> list[dict]:
        from ls_context.quality.export import read_json

        return read_json(self.gold_file_path, "gold file") if self.gold_file_path else []

    def stored_gold(self, projects: set[int]) -> list[dict]:
        """The gold stored for the project(s), when no gold file is given (the store must exist for --project)."""
        if self.gold_file_path or not projects or (self.export_file and not self.store_exists()):
            return []
        from ls_context.checks.gold import stored_gold_items

        return stored_gold_items(self.services().store, projects)

    def guidelines(self, projects: set[int]):
        """The newest stored guidelines of the (single) project, for its gate thresholds; None without a store."""
        projects = {self.project} if self.project is not None else projects
        if len(projects) != 1 or not self.store_exists():
            return None
        return self.services().guidelines.latest(next(iter(projects)))

    def course(self, projects: set[int], guidelines):
        """The labelers' standing in the (single) project's onboarding course, by name; None without one."""
        from ls_context.onboarding.standing import standings_by_name

        projects = {self.project} if self.project is not None else projects
        if len(projects) != 1 or guidelines is None or not self.store_exists():
            return None
        return standings_by_name(self.services().store, next(iter(projects)), guidelines)

    def store_exists(self) -> bool:
        """Whether a store is configured; an export, or a gate with its own gold and thresholds, can do without."""
        from ls_context.store import Store

        return not Store(self.context.config().store_url()).file_missing()


def measure(source: Source, guidelines_file: str | None = None):
    """The metrics of the source's annotations against its gold, with a progress bar; the dataset read; the guidelines.

    The guidelines are the given file, else the project's stored ones (None when there are none);
    their `gate.match` sets where the gold comparison passes an answer.
    """
    from ls_context.guidelines import load
    from ls_context.quality.export import build
    from ls_context.quality.metrics import compute

    gold = source.gold_file()
    guidelines = load(guidelines_file) if guidelines_file else None  # a mistake in the file shows before a long read
    with click.progressbar(length=1, label="reading annotations", file=sys.stderr) as bar:
        dataset = build(source.stream(bar), gold, source.stored_gold)
    if not dataset.task_ids:
        click.echo("warning: the export holds no tasks: nothing below is measured", err=True)
    guidelines = guidelines or source.guidelines(dataset.projects)
    gold_tasks = max((len(control.gold) for control in dataset.controls.values()), default=0)
    gold_tasks = max(gold_tasks, len(dataset.compared_gold))
    click.echo(f"computing agreement, consensus and accuracy ({gold_tasks} gold task(s))...", err=True)
    return compute(dataset, guidelines.gate.match if guidelines else None, source.course(dataset.projects, guidelines)), dataset, guidelines


@main.command()
@export_options
@click.option("--out", default="report.html", show_default=True, type=click.Path(dir_okay=False), help="The HTML report.")
@click.option("--json", "json_file", type=click.Path(dir_okay=False), help="Also write the metrics as JSON.")
@pass_context
def report(context, project, export_file, gold_file, out, json_file) -> None:
    """Quality report: accuracy per labeler, agreement, confusions and who makes them, guideline gaps."""
    from ls_context.quality.metrics import dump
    from ls_context.quality.report import render

    from ls_context.quality.gate import evaluate

    metrics, _, guidelines = measure(Source(context, project, export_file, gold_file))
    criteria, alerts = evaluate(metrics, guidelines.gate) if guidelines else ([], [])
    write_text(out, render(metrics, gate=(criteria, alerts) if criteria else None))  # the gate, where the guidelines set bars
    if json_file:
        write_with(json_file, lambda handle: dump(metrics, handle))
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
@click.option("--min-region-iou", type=click.FloatRange(0, 1),
              help="Mean IoU with gold each labeler's matched regions (boxes, polygons, spans) must reach (judged by the 95% interval).")
@pass_context
def gate(context, project, export_file, gold_file, guidelines_file, min_accuracy, min_alpha, max_flag_rate,
         min_gold_per_labeler, min_gold_per_label, min_region_iou) -> None:
    """Pass (exit 0) or fail (exit 1) a pilot batch, printing each criterion with its measured value.

    Where the project has an onboarding course (`ls-context onboard`), a criterion of its own fails
    on every labeler of the batch the course has not certified.
    """
    from dataclasses import replace

    from ls_context.guidelines import GateThresholds
    from ls_context.quality.gate import evaluate

    source = Source(context, project, export_file, gold_file)
    metrics, dataset, guidelines = measure(source, guidelines_file)
    projects = {project} if project is not None else dataset.projects
    thresholds = guidelines.gate if guidelines else GateThresholds()
    given = dict(min_accuracy=min_accuracy, min_alpha=min_alpha, max_flag_rate=max_flag_rate,
                 min_gold_per_labeler=min_gold_per_labeler, min_gold_per_label=min_gold_per_label,
                 min_region_iou=min_region_iou)
    thresholds = replace(thresholds, **{key: value for key, value in given.items() if value is not None})
    if all(getattr(thresholds, name) is None for name in ("min_accuracy", "min_alpha", "max_flag_rate", "min_gold_per_labeler", "min_region_iou")):
        raise LSContextError("no thresholds: give --min-accuracy, --min-alpha, --max-flag-rate, --min-region-iou, "
                             "or guidelines with a gate section")
    criteria, alerts = evaluate(metrics, thresholds)
    for criterion in criteria:
        click.echo(criterion.line())
    for alert in alerts:
        click.echo(f"ALERT {alert}")
    passed = all(criterion.passed for criterion in criteria)
    click.echo("gate: PASS" if passed else "gate: FAIL")
    tell_channels(source, criteria, alerts, passed, projects)
    raise SystemExit(0 if passed else 1)


def tell_channels(source: Source, criteria, alerts: list[str], passed: bool, projects: set[int]) -> None:
    """The verdict, queued for the team's alert channels when a store is configured (the server's courier sends it)."""
    if not source.store_exists():
        return
    try:
        services = source.services()
    except LSContextError as error:  # the verdict stands; only its alert is missing
        click.echo(f"warning: the gate's alert was not queued: {error}", err=True)
        return
    if not services.alerts.targets:
        return
    project = next(iter(projects)) if len(projects) == 1 else None
    failed = [criterion for criterion in criteria if not criterion.passed]
    where = f" for project {project}" if project is not None else ""
    lines = [f"Pilot gate {'PASSED' if passed else 'FAILED'}{where}: "
             + ("every criterion holds" if passed else "; ".join(criterion.line()[6:] for criterion in failed))]
    lines += alerts[:5] + ([f"... and {len(alerts) - 5} more alert lines"] if len(alerts) > 5 else [])
    with services.store.session() as session:
        services.alerts.queue(session, "gate", "\n".join(lines), project)


@main.command()
@export_options
@click.option("--since", default="7d", show_default=True, help="The period: days (7d), hours (36h) or a date (2026-11-23).")
@click.option("--out", default="review.html", show_default=True, type=click.Path(dir_okay=False), help="The review as HTML.")
@click.option("--markdown", "markdown_file", default="review.md", show_default=True, type=click.Path(dir_okay=False),
              help="The review as Markdown, to paste into the team's channel.")
@pass_context
def review(context, project, export_file, gold_file, since, out, markdown_file) -> None:
    """The week's review: what improved, who needs help on which label, the flags to answer, guideline edits to consider."""
    from ls_context.quality.review import DEFAULT_BAR, html, markdown, period, weekly

    start, end = period(since)
    source = Source(context, project, export_file, gold_file)
    gold = source.gold_file()
    with click.progressbar(length=1, label="reading annotations", file=sys.stderr) as bar:
        found = weekly(source.stream(bar), gold, start, end, source.stored_gold)
    projects = {project} if project is not None else set()
    guidelines = source.guidelines(projects) if projects else None
    threshold = guidelines.gate.min_accuracy if guidelines and guidelines.gate.min_accuracy is not None else DEFAULT_BAR
    title = f"Weekly review{f' of project {project}' if project is not None else ''}"
    write_text(out, html(found, title, threshold))
    write_text(markdown_file, markdown(found, title, threshold))
    click.echo(f"review of {start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC: {out}, {markdown_file}")
