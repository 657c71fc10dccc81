"""Webhook intake: check the sender and the shape, record the event once; `sync` recovers lost ones."""
