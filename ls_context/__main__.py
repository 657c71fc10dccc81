"""`python -m ls_context ...` is the same as `ls-context ...`."""

from .cli import main

main(prog_name="ls-context")
