"""Gold checks: one comparison per control type, the feedback a labeler reads, gold import, event processing."""
