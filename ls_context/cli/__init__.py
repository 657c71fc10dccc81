"""The `ls-context` command line: one thin command per task a labeling lead or an admin has.

Every command resolves the same configuration (options, then the environment, then the config
file); errors a user can cause are one line on stderr and exit code 1, never a traceback. Commands
that other packages provide (the model server's `serve`) arrive through the entry-point group
`ls_context.commands`, so this package never imports them.
"""

from __future__ import annotations

import os
from importlib.metadata import entry_points

import click

from ls_context import __version__
from ls_context.config import CONFIG_ENV, Config
from ls_context.errors import LSContextError

COMMAND_GROUP = "ls_context.commands"


class Commands(click.Group):
    """A click group that turns the project's errors into one clear line and exit code 1."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except LSContextError as error:
            raise click.ClickException(str(error)) from None


class Main(Commands):
    """The top-level group: its own commands plus those installed packages register."""

    def _plugins(self) -> dict:
        return {ep.name: ep for ep in entry_points(group=COMMAND_GROUP)}

    def list_commands(self, ctx) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(self._plugins()))

    def get_command(self, ctx, name):
        command = super().get_command(ctx, name)
        if command is None and name in self._plugins():
            command = self._plugins()[name].load()
        return command


class Context:
    """What every command gets: the configuration, resolved once, on first use."""

    def __init__(self, config_file: str | None):
        self.config_file = config_file
        self._config: Config | None = None

    def config(self, **options) -> Config:
        if self._config is None or options:
            environ = dict(os.environ, **({CONFIG_ENV: self.config_file} if self.config_file else {}))
            self._config = Config.resolve(options, environ)
        return self._config


pass_context = click.make_pass_decorator(Context, ensure=True)


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
    write_with(path, lambda handle: handle.write(text))


def write_with(path: str, writer) -> None:
    """Open `path` for text and let `writer(handle)` fill it; a failure is one clear line."""
    try:
        with open(path, "w", encoding="utf-8") as handle:
            writer(handle)
    except OSError as error:
        raise LSContextError(f"{path}: cannot write: {error}") from None


PROJECT_ID = click.IntRange(1, 2**31 - 1)  # the store's id columns are 32-bit on PostgreSQL


def project_option(command):
    return click.option("--project", required=True, type=PROJECT_ID, help="Label Studio project id.")(command)


@click.group(cls=Main, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ls-context")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), envvar=CONFIG_ENV,
              help=f"The configuration file [env {CONFIG_ENV}; else ~/.config/ls-context/ls-context.toml, "
                   "else /etc/ls-context/ls-context.toml].")
@click.pass_context
def main(ctx: click.Context, config_file) -> None:
    """Context for labelers and proof of quality for leads, inside Label Studio.

    Every command reads one configuration: options, then environment variables (LABEL_STUDIO_URL,
    LABEL_STUDIO_API_KEY, LS_CONTEXT_DB, MODEL_DIR, ...), then the config file. `ls-context config
    show` prints it and checks it.
    """
    ctx.obj = Context(config_file)


from . import admin, demo, project, quality  # noqa: E402,F401  (the commands register themselves on `main`)
