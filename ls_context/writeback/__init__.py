"""Changes for Label Studio: the outbox delivery, the in-process worker loop and the RQ jobs."""
