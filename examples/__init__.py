"""Runnable example scenarios: guidelines, label config, tasks, gold and reference answers (package data)."""
