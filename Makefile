# The two commands of the README, and the setup both of them start with.
.PHONY: setup demo test

setup:
	@scripts/bootstrap

demo: setup
	.venv/bin/ls-context demo

test: setup
	.venv/bin/pytest
