# The two commands of the README, and the setup both of them start with.
# In this checkout Label Studio lives in .ls-venv and its migrated template in .cache (bootstrap makes both).
.PHONY: setup demo test

export LS_CONTEXT_LS_VENV := $(CURDIR)/.ls-venv
export LS_CONTEXT_CACHE := $(CURDIR)/.cache

setup:
	@scripts/bootstrap

demo: setup
	.venv/bin/ls-context demo

test: setup
	.venv/bin/pytest
