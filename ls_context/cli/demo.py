"""`ls-context demo`: everything on this machine, with an example project."""

from __future__ import annotations

import click

from . import main


@main.command()
@click.option("--scenario", default="support-triage", show_default=True,
              type=click.Choice(["support-triage", "lead-qualification", "claim-triage", "street-scenes", "claim-entities"]),
              help="Which example project (street-scenes: boxes on pictures; claim-entities: spans in text).")
@click.option("--simulate", is_flag=True, help="Three simulated labelers annotate a pilot batch; prints the gate and the report.")
@click.option("--exit", "exit_after", is_flag=True, help="Stop once set up (and simulated) instead of waiting for Ctrl-C.")
@click.option("--check", is_flag=True, help="Only say what the demo would use and do (writes nothing).")
@click.option("--no-install", is_flag=True, help="Fail instead of installing Label Studio into the user cache when it is missing.")
@click.option("--port", default=8080, show_default=True, type=int, help="Label Studio's port.")
@click.option("--backend-port", default=9090, show_default=True, type=int, help="The model server's port.")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Where the demo keeps its state [default: ~/.local/share/ls-context/demo].")
def demo(scenario, simulate, exit_after, check, no_install, port, backend_port, data_dir) -> None:
    """Bring up Label Studio and ls-context with an example project; Ctrl-C stops both.

    Label Studio runs from a venv of its own (LS_CONTEXT_LS_VENV, default in ~/.cache/ls-context),
    installed there on first use.
    """
    from pathlib import Path

    from ls_context.demo.run import default_data_dir, preflight, run_demo

    if check:
        data = Path(data_dir).expanduser().resolve() if data_dir else default_data_dir()
        for line in preflight(port, backend_port, data, install=not no_install):
            click.echo(line)
        click.echo("ready to start")
        return
    run_demo(port=port, data_dir=data_dir, backend_port=backend_port, scenario_name=scenario,
             simulate=simulate, stay=not exit_after, install=not no_install)
