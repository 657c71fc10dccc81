"""Commands of the admin: configuration, guidelines, the store's schema, wiring a project, workers, status."""

from __future__ import annotations

import click

from ls_context.errors import LSContextError, first_line

from . import PROJECT_ID, Commands, main, pass_context, project_option, read_text, write_text


@main.group(cls=Commands)
def config() -> None:
    """Label configs to extend, and the configuration every command reads."""


@config.command("inject")
@click.argument("config_file")
@click.option("--guidelines", type=click.Path(exists=True, dir_okay=False), help="Guidelines YAML file.")
@click.option("--overwrite-hints", is_flag=True, help="Replace hints the config already has.")
@click.option("-o", "--output", type=click.Path(dir_okay=False), help="Write here instead of stdout.")
def config_inject(config_file, guidelines, overwrite_hints, output) -> None:
    """Add the flag control, hints and rationale display to CONFIG_FILE.

    CONFIG_FILE is a path, or the name of a shipped config (`ls-context config templates` lists them).
    Injecting into an already extended config gives the same config again.
    """
    from ls_context.guidelines import load
    from ls_context.labelstudio.label_config import Injection, LabelConfigError, inject
    from ls_context.resources import config_path

    rules = load(guidelines) if guidelines else None
    path = config_path(config_file)
    try:
        extended = inject(read_text(str(path)), Injection.from_guidelines(rules, overwrite_hints))
    except LabelConfigError as error:
        message = str(error)
        raise LabelConfigError(message if message.startswith(str(path)) else f"{path}: {message}") from None
    write_text(output, extended)


@config.command("templates")
def config_templates() -> None:
    """List the ready label configs that ship with ls-context, with their guidelines files."""
    from ls_context.resources import label_configs, shipped_configs

    folder = label_configs()
    for name in shipped_configs():
        guidelines = folder / f"{name}.yaml"
        click.echo(f"{name:<28} {folder / (name + '.xml')}" + (f"  (guidelines: {guidelines})" if guidelines.exists() else ""))


@config.command("show")
@click.option("--no-check", is_flag=True, help="Only print the configuration; do not try the services.")
@pass_context
def config_show(context, no_check) -> None:
    """Print the resolved configuration (secrets masked) and check it: store, Label Studio, secret, server."""
    from ls_context.doctor import checks

    resolved = context.config()
    click.echo(f"configuration file: {resolved.file or 'none found (environment and defaults only)'}")
    for name, value, source in resolved.shown():
        click.echo(f"  {name:<22} {value or '-':<48} [{source}]")
    if no_check:
        return
    failed = 0
    for check in checks(resolved):
        click.echo(check.line())
        failed += check.status == "FAIL"
    if failed:
        raise SystemExit(1)


@main.group(cls=Commands)
def guidelines() -> None:
    """Guidelines as code: one versioned YAML file per project."""


@guidelines.command("check")
@click.argument("guidelines_file", type=click.Path(exists=True, dir_okay=False))
def guidelines_check(guidelines_file) -> None:
    """Validate GUIDELINES_FILE; errors name the file, the line and the field."""
    from ls_context.guidelines import load

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
    from ls_context.guidelines import load
    from ls_context.guidelines.instructions import render

    write_text(output, render(load(guidelines_file)) + "\n")


@guidelines.command("push")
@project_option
@click.argument("guidelines_file", type=click.Path(exists=True, dir_okay=False))
@pass_context
def guidelines_push(context, project, guidelines_file) -> None:
    """Store GUIDELINES_FILE as the project's newest guidelines: the server, workers and commands use them.

    `ls-context setup` does this too, and also re-injects the hints and instructions into Label Studio.
    """
    from ls_context.services import build

    services = build(context.config())
    pushed = services.guidelines.push_file(project, guidelines_file)
    if pushed.new:
        click.echo(f"guidelines {pushed.version} stored as version {pushed.number} of project {project} "
                   f"(store {services.store.where()})")
    else:
        click.echo(f"project {project} already uses these guidelines (version {pushed.number}, {pushed.version})")


@guidelines.command("diff")
@click.argument("old", required=False)
@click.argument("new", required=False)
@click.option("--project", type=click.IntRange(1), help="Compare the project's stored versions: OLD and NEW are version "
              "numbers (`guidelines versions` lists them); default the one before the newest, and the newest.")
@pass_context
def guidelines_diff(context, old, new, project) -> None:
    """What changed between two guidelines versions, in words: labels, definitions, examples, edge cases, rules, gate.

    OLD and NEW are two files, or with --project two stored version numbers.
    """
    from ls_context.guidelines import load, parse
    from ls_context.guidelines.diff import changes

    if project is None:
        if not (old and new):
            raise LSContextError("give two guidelines files (OLD NEW), or --project ID [OLD NEW] for stored versions")
        before, after, names = load(old), load(new), (old, new)
    else:
        from ls_context.services import build

        versions = {row.number: row for row in build(context.config(), existing=True).guidelines.versions(project)}
        if not versions:
            raise LSContextError(f"no guidelines stored for project {project} (`ls-context guidelines push` stores them)")
        newest = max(versions)
        wanted = [_version_number(value, versions) for value in (old, new)] if old and new else [max(newest - 1, 1), newest]
        before, after = (parse(versions[n].text, source=f"project {project} version {n}") for n in wanted)
        names = tuple(f"version {n} ({versions[n].version})" for n in wanted)
    lines = changes(before, after)
    click.echo(f"{names[0]} -> {names[1]}: " + (f"{len(lines)} change(s)" if lines else "no changes"))
    for line in lines:
        click.echo(f"- {line}")


def _version_number(value: str, versions: dict) -> int:
    if not value.isdigit() or int(value) not in versions:
        raise LSContextError(f"'{value}' is not a stored version number (stored: {', '.join(map(str, sorted(versions)))})")
    return int(value)


@guidelines.command("versions")
@project_option
@pass_context
def guidelines_versions(context, project) -> None:
    """List the guidelines versions stored for a project, newest last."""
    from ls_context.services import build

    versions = build(context.config(), existing=True).guidelines.versions(project)
    if not versions:
        click.echo(f"no guidelines stored for project {project} (run `ls-context setup` or `ls-context guidelines push`)")
    for row in versions:
        click.echo(f"{row.number:>4}  {row.version:<12} {row.pushed_at:%Y-%m-%d %H:%M}  {row.source}")


@main.group(cls=Commands)
def db() -> None:
    """The store's schema."""


@db.command("upgrade")
@pass_context
def db_upgrade(context) -> None:
    """Create or upgrade the store's schema (safe to run any number of times, from several machines at once)."""
    from ls_context.store import Store

    store = Store(context.config().store_url())
    applied = store.upgrade()
    current, _ = store.revision()
    click.echo(f"store {store.where()}: " + (f"upgraded to {current} ({'; '.join(applied)})" if applied else f"already at {current}"))


@main.command()
@project_option
@click.option("--guidelines", "guidelines_file", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--backend-url", help="Where Label Studio reaches `ls-context serve` [env LS_CONTEXT_BACKEND_URL].")
@pass_context
def setup(context, project, guidelines_file, backend_url) -> None:
    """Wire a project: config, instructions, guidelines, model server, webhook. Safe to run twice.

    Ends with the prediction a labeler would see on the project's first task. The webhook secret
    and basic auth come from LS_CONTEXT_WEBHOOK_SECRET and BASIC_AUTH_USER / BASIC_AUTH_PASS, the
    same variables the server reads; they are never printed.
    """
    from ls_context.labelstudio.setup import Backend, setup_project
    from ls_context.services import build

    resolved = context.config(backend_url=backend_url)
    if not resolved.backend_url:
        raise LSContextError("give --backend-url, or set backend_url in the config file (LS_CONTEXT_BACKEND_URL)")
    services = build(resolved)
    backend = Backend(resolved.backend_url, resolved.webhook_secret, resolved.basic_auth)
    report = setup_project(services.studio(), services.guidelines, project, guidelines_file, backend)
    for step in report.steps:
        click.echo(step)
    for line in report.preview:
        click.echo(line)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)


@main.command()
@click.option("--project", type=PROJECT_ID, help="Only this project's events and write-backs.")
@click.option("--retry-failed", is_flag=True, help="Put failed events back in line (after fixing their cause).")
@pass_context
def status(context, project, retry_failed) -> None:
    """What waits and what failed: events to process, write-backs to Label Studio (pending, retrying, dead), alerts.

    Exits 1 when a write-back or an alert is dead or an event failed, and 2 when the store cannot be read, so that
    a monitoring check can tell the two apart.
    """
    from sqlalchemy.exc import OperationalError

    from ls_context.services import build
    from ls_context.store import StoreError
    from ls_context.writeback.backlog import backlog, retry_failed_events

    try:
        services = build(context.config(), existing=True)
        if retry_failed:
            click.echo(f"{retry_failed_events(services.store, project)} failed event(s) put back in line for the next worker round")
        found = backlog(services.store, project)
    except (StoreError, OperationalError) as error:
        click.echo(f"Error: cannot read the store: {first_line(error)}", err=True)
        raise SystemExit(2) from None
    events, writebacks = found.events, found.writebacks
    click.echo(f"store {services.store.where()}" + (f", project {project}" if project is not None else ""))
    click.echo(f"events:      {events.get('pending', 0) + events.get('processing', 0)} waiting, {events.get('done', 0)} done, "
               f"{events.get('failed', 0)} failed")
    click.echo(f"write-backs: {writebacks.get('pending', 0)} pending ({writebacks['retrying']} retrying), "
               f"{writebacks.get('delivered', 0)} delivered, {writebacks.get('superseded', 0)} superseded, "
               f"{writebacks.get('dead', 0)} dead")
    for writeback in found.dead:
        click.echo(f"  dead: write-back {writeback.id} to task {writeback.task_id} ({writeback.kind} {sorted(writeback.payload)}), "
                   f"{writeback.attempts} attempt(s): {first_line(writeback.last_error)}")
    for event in found.failed:
        click.echo(f"  failed: event {event.id} ({event.action}, project {event.project_id}): {first_line(event.error)}")
    for channel in sorted({channel for channel, _ in found.alerts}):
        counts = {status: n for (name, status), n in found.alerts.items() if name == channel}
        click.echo(f"alerts {channel}: {counts.get('pending', 0)} waiting, {counts.get('sent', 0)} sent, {counts.get('dead', 0)} dead")
    for alert in found.dead_alerts:
        click.echo(f"  dead: alert {alert.id} on {alert.channel} ({alert.kind}): {first_line(alert.last_error)}")
    if not found.healthy:
        raise SystemExit(1)


@main.command()
@click.option("--sync-every", type=click.FloatRange(0), help="Recover lost webhooks every N seconds [env LS_CONTEXT_SYNC_EVERY].")
@click.option("--burst", is_flag=True, help="Process what is queued, then exit.")
@pass_context
def worker(context, sync_every, burst) -> None:
    """Process recorded events and deliver write-backs: an RQ worker, for servers with LS_CONTEXT_REDIS_URL."""
    import os

    from ls_context import logs
    from ls_context.config import CONFIG_ENV
    from ls_context.writeback.jobs import run_worker

    resolved = context.config(sync_every=sync_every)
    if not resolved.redis_url:
        raise LSContextError("a worker needs Redis: set LS_CONTEXT_REDIS_URL (or redis_url in the config file)")
    # Jobs resolve the configuration again, from the environment: it must give this same one.
    if context.config_file:
        os.environ[CONFIG_ENV] = context.config_file
    if sync_every is not None:
        os.environ["LS_CONTEXT_SYNC_EVERY"] = str(sync_every)
    logs.configure(resolved.log_level)
    try:
        run_worker(resolved, burst=burst)
    except Exception as error:
        if type(error).__module__.startswith("redis"):
            detail = first_line(error, 200)
            raise LSContextError(f"cannot reach Redis: {type(error).__name__}" + (f": {detail}" if detail else "")) from None
        raise
