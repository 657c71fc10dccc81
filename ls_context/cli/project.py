"""Commands of the lead's day: gold in, lost webhooks back, flags out, a pilot batch, the labelers' links."""

from __future__ import annotations

import click

from ls_context.errors import LSContextError

from . import Commands, main, pass_context, project_option


@main.group(cls=Commands)
def gold() -> None:
    """Gold (honeypot) tasks."""


@gold.command("import")
@project_option
@click.argument("gold_file", type=click.Path(exists=True, dir_okay=False))
@pass_context
def gold_import(context, project, gold_file) -> None:
    """Import GOLD_FILE (tasks with their expected annotations) as gold tasks.

    The tasks go to Label Studio without their answers; the answers stay in the store, where the
    checks, the report and the gate find them. Tasks imported before are recognised by their data.
    """
    from ls_context.checks.gold import import_gold
    from ls_context.quality.export import read_json
    from ls_context.services import build

    services = build(context.config())
    imported, known = import_gold(services.studio(), services.store, project, read_json(gold_file, "gold file"))
    click.echo(f"{imported} gold task(s) imported into project {project}; {known} already there "
               f"(answers in the store {services.store.where()})")


@main.command()
@project_option
@pass_context
def sync(context, project) -> None:
    """Recover annotations whose webhooks were lost, and process them (checks, feedback, flags)."""
    from ls_context.intake.sync import sync_project
    from ls_context.services import build
    from ls_context.writeback.delivery import deliver_due

    services = build(context.config())
    studio = services.studio()
    report = sync_project(studio, services.store, project)
    processed = services.processor.run_pending(limit=100_000)
    delivered, failed = deliver_due(services.store, studio, limit=100_000)
    click.echo(f"{report.annotations} annotations read, {report.recovered} never seen before; "
               f"{processed} processed; {delivered} write-backs delivered" + (f", {failed} to retry" if failed else ""))


@main.command()
@project_option
@click.option("--mark", is_flag=True, help="Write `ls_recheck` into each listed task's meta, to filter the Data Manager on.")
@pass_context
def recheck(context, project, mark) -> None:
    """Finished annotations that the newest guidelines' decision rules contradict: what to send back for review."""
    from label_studio_sdk.label_interface import LabelInterface

    from ls_context.checks.recheck import RECHECK_KEY, contradictions
    from ls_context.services import build
    from ls_context.store import Writeback
    from ls_context.writeback.delivery import deliver_due

    services = build(context.config(), existing=True)
    guidelines = services.guidelines.latest(project)
    if guidelines is None:
        raise LSContextError(f"no guidelines stored for project {project} (`ls-context guidelines push` or `setup` stores them)")
    studio = services.studio()
    interface = LabelInterface(studio.project(project).label_config)
    objects = {obj.name: obj.value.lstrip("$") for obj in interface.objects if obj.value}
    fields = {control.name: objects[control.to_name[0]] for control in interface.controls
              if control.to_name and control.to_name[0] in objects}
    found = contradictions(services.store, project, guidelines, fields)
    tasks = sorted({row.task_id for row in found})
    click.echo(f"{len(found)} answer(s) on {len(tasks)} task(s) contradict the rules of guidelines {guidelines.version}")
    for row in found:
        evidence = f" ({', '.join(row.evidence)})" if row.evidence else ""
        click.echo(f"  task {row.task_id}: {row.labeler} answered {row.given}; rule '{row.rule}' now says {row.expected}{evidence}")
    if mark and found:
        first = {}
        for row in found:
            first.setdefault(row.task_id, row)
        with services.store.session() as session:
            for task_id, row in first.items():
                session.add(Writeback(project_id=project, task_id=task_id, kind="meta", payload={RECHECK_KEY: row.meta(guidelines.version)}))
        delivered, failed = deliver_due(services.store, studio, limit=100_000)
        click.echo(f"marked {delivered} task(s) with `{RECHECK_KEY}` in their meta: filter the Data Manager on it"
                   + (f" ({failed} to retry: the server's courier delivers them)" if failed else ""))


@main.command()
@project_option
@pass_context
def flags(context, project) -> None:
    """List flagged tasks grouped by reason and label: the raw material of the guideline-gap list."""
    from ls_context.checks.gold import flags_by_reason
    from ls_context.services import build

    services = build(context.config(), existing=True)
    groups = flags_by_reason(services.store, project)
    if not groups:
        click.echo(f"no flagged tasks in project {project} (store: {services.store.where()})")
        return
    for (reason, label), rows in groups:
        click.echo(f"{len(rows):>4}  {reason}  [{label or 'no label'}]  tasks: {', '.join(str(r.task_id) for r in rows[:10])}")
        for row in rows[:3]:
            if row.note:
                click.echo(f"        \u201c{row.note}\u201d (task {row.task_id})")


@main.command()
@project_option
@click.option("--size", required=True, type=click.IntRange(1), help="Number of tasks in the pilot batch.")
@click.option("--gold-ratio", default=0.2, show_default=True, type=click.FloatRange(0, 1), help="Share of gold tasks mixed in.")
@click.option("--gold", "gold_file", type=click.Path(exists=True, dir_okay=False),
              help="Gold tasks matched by data, besides the project's gold in the store.")
@click.option("--name", default="pilot-1", show_default=True, help="Written to each task's meta as ls_pilot.")
@click.option("--seed", default=0, show_default=True, type=int, help="The same seed picks the same batch.")
@pass_context
def pilot(context, project, size, gold_ratio, gold_file, name, seed) -> None:
    """Pick a pilot batch with gold mixed in, spread over the rule or label the model suggests; mark it (task meta ls_pilot).

    Tasks without a prediction get one first, from the model server connected to the project.
    """
    from collections import Counter

    from ls_context.checks.gold import stored_gold
    from ls_context.quality.export import read_json
    from ls_context.quality.pilot import PILOT_KEY, choose, gold_task_ids, strata_from_predictions
    from ls_context.services import build

    services = build(context.config(), existing=not gold_file)
    studio = services.studio()
    tasks = studio.tasks(project, predictions=True)
    unpredicted = [task["id"] for task in tasks if not task["predictions"] and not task["is_labeled"]]
    if unpredicted:
        click.echo(f"asking the model server for predictions on {len(unpredicted)} task(s)...", err=True)
        studio.retrieve_predictions(project, unpredicted)
        tasks = studio.tasks(project, predictions=True)
    gold_ids = gold_task_ids(tasks, read_json(gold_file, "gold file") if gold_file else []) | set(stored_gold(services.store, {project}))
    strata = strata_from_predictions(tasks)
    chosen = choose(tasks, size, gold_ids, gold_ratio, strata, seed)
    studio.mark_tasks(chosen, **{PILOT_KEY: name})
    n_gold = sum(task["id"] in gold_ids for task in chosen)
    click.echo(f"{name}: {len(chosen)} tasks marked in project {project} ({n_gold} gold)")
    for stratum, count in sorted(Counter(strata.get(t["id"], "no suggestion") for t in chosen if t["id"] not in gold_ids).items()):
        click.echo(f"  {count:>4}  {stratum}")
    if not strata:
        click.echo("no task has a prediction: the pick is random (connect the model server: `ls-context setup`)", err=True)
    if len(chosen) < size:
        click.echo(f"only {len(chosen)} unlabeled tasks were available for a batch of {size}", err=True)
    click.echo(f'Filter the Data Manager on meta "{PILOT_KEY}" = "{name}" to label the batch.')


@main.command()
@project_option
@pass_context
def onboard(context, project) -> None:
    """Build the project's onboarding course: a companion project "<name>: onboarding" labelers take before real data.

    Its tasks come from the stored guidelines (do and don't examples, edge cases) and a share of the
    project's gold (`onboarding.gold_share`); each answer is checked and explained on the labeler's
    own page within seconds. `ls-context labelers` shows who is certified. Once a project has a course,
    only certified labelers' answers teach the model and count in the consensus. Safe to run again:
    it adds what is new in the guidelines.
    """
    from ls_context.labelstudio.setup import Backend
    from ls_context.onboarding import build_course
    from ls_context.services import build

    resolved = context.config()
    if not resolved.backend_url:
        raise LSContextError("set backend_url (LS_CONTEXT_BACKEND_URL): the course's webhook goes to the server")
    services = build(resolved, existing=True)
    backend = Backend(resolved.backend_url, resolved.webhook_secret, resolved.basic_auth)
    course = build_course(services.studio(), services.store, services.guidelines, project, backend)
    bar = course.bar
    click.echo(f"{'created' if course.created else 'updated'} the course \"{course.title}\" (project {course.project_id}): "
               f"{course.imported} task(s) added, {course.already} already there")
    click.echo("  " + ", ".join(f"{count} {source}(s)" for source, count in sorted(course.by_source.items())))
    if course.taught:
        click.echo(f"  {len(course.taught)} gold task(s) of project {project} are in the course with their answers: "
                   "they no longer count as gold in the project")
    needed = min(bar.min_tasks, course.size)
    click.echo(f"certified at {bar.min_accuracy:.0%} right on at least {needed} course task(s), every label of the course "
               "answered once (guidelines `onboarding:`" + (f"; min_tasks {bar.min_tasks} is more than the course has)"
                                                          if needed < bar.min_tasks else ")"))
    for warning in course.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(f"Give the labelers access to the course project; `ls-context labelers --project {project}` shows where each stands.")


@main.command()
@project_option
@pass_context
def labelers(context, project) -> None:
    """The project's labelers: gold results so far, their onboarding course standing, and each one's feedback page.

    A labeler reads their own verdicts on gold and course tasks there, within seconds of answering;
    nobody else's, and never an expected answer before they gave theirs. Where the project has a
    course (`ls-context onboard`), each labeler is certified, in progress, failed or not started,
    with the label they miss most.
    """
    from ls_context.checks.personal import Links, gold_summary, remember_emails
    from ls_context.services import build

    resolved = context.config()
    if not resolved.backend_url:
        raise LSContextError("set backend_url (LS_CONTEXT_BACKEND_URL): the links point to the server labelers open")
    services = build(resolved, existing=True)
    links = Links.of(services.store)
    try:
        studio = services.studio()
    except LSContextError as error:  # the lead's links need only the store: say why the list is missing, give them
        click.echo(f"warning: the labelers are not listed: {error}", err=True)
        users = []
    else:
        studio.project(project)  # a project that does not exist is an error, not an empty list
        users = studio.users()
        remember_emails(services.store, users)
    summary = gold_summary(services.store, project)
    course = course_standings(services, project, [user.id for user in users])
    for user in users:
        right, total = summary.get(user.id, (0, 0))
        gold = f"{right}/{total} gold passed" if total else "no gold answers yet"
        click.echo(f"{user.email:<32} {gold:<22} {links.feedback_url(resolved.backend_url, user.id)}")
        if course is not None:
            click.echo(f"{'':<32} course: {course[user.id].describe()}")
    click.echo(f"\nHand each labeler their own link. Yours, to see any labeler (keep it to yourself):\n  {links.lead_url(resolved.backend_url)}"
               f"\nThe project's dashboard (the gate, flags, labelers, agreement, gaps), also yours alone:\n"
               f"  {links.dashboard_url(resolved.backend_url, project)}")


def course_standings(services, project: int, labeler_ids: list[int]):
    """Each labeler's standing in the project's onboarding course, or None when it has none."""
    from ls_context.onboarding import standings

    guidelines = services.guidelines.latest(project)
    bar = guidelines.onboarding if guidelines else None
    with services.store.reading() as session:
        return standings(session, project, bar, labeler_ids) if bar else None
