"""Processing by RQ workers on Redis, when a Redis URL is configured (LS_CONTEXT_REDIS_URL).

The web process only records each event and enqueues a wake-up job; `ls-context worker`
processes. The events stay in the store, which remains the truth: a job only says "there is
work", any number of workers may run (each event is claimed by exactly one), and a lost job loses
nothing, since the next one (or a worker's start) drains every pending event. When a worker learns
that a project's annotations changed, it publishes the project id so that every web process
refits its copy of that project's model.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import lru_cache

from ls_context.config import Config

log = logging.getLogger(__name__)
QUEUE = "ls-context"
LEARNED_CHANNEL = "ls-context:learned"
RETRY_AFTER = timedelta(seconds=5)  # a failed write-back's own backoff decides; this only brings a worker back


class EventQueue:
    """The web process's side: wake a worker after an event, hear which projects learned something."""

    def __init__(self, redis_url: str, name: str = QUEUE):
        from redis import Redis
        from rq import Queue

        self.redis = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.queue = Queue(name, connection=self.redis)

    def where(self) -> str:
        """host:port/db of the Redis, without the password a URL may carry."""
        kwargs = self.redis.connection_pool.connection_kwargs
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"

    def wake(self) -> bool:
        """Enqueue a processing job; False (and a warning) when Redis cannot be reached: the event is already safe."""
        try:
            self.queue.enqueue_call("ls_context.writeback.jobs.process_events", result_ttl=0, failure_ttl=86400)
            return True
        except Exception as error:  # redis-py raises ConnectionError, TimeoutError, ...
            log.warning("could not enqueue a processing job (%s); the event waits in the store for the next worker", type(error).__name__)
            return False

    def publish_learned(self, project_id) -> None:
        """Tell every web process that a project's annotations changed (they refit their model)."""
        self.redis.publish(LEARNED_CHANNEL, str(project_id))

    def on_learned(self, callback):
        """Call `callback(project_id)` in a background thread whenever a worker learned from a project."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(**{LEARNED_CHANNEL: lambda message: callback(message["data"].decode())})
        self._listener = pubsub.run_in_thread(sleep_time=1.0, daemon=True)
        return self._listener

    def close(self) -> None:
        listener = getattr(self, "_listener", None)
        if listener is not None:
            listener.stop()
            listener.join(5)
        self.redis.close()


@lru_cache(maxsize=4)
def context(config: Config):
    """The services of this worker process, built once per configuration: RQ calls jobs by name."""
    from ls_context.services import build

    return build(config)


def process_events() -> dict:
    """The job: process every pending event and deliver due write-backs; come back while some wait for a retry."""
    services = context(Config.resolve())
    processed, delivered, failed = services.worker.run_once()
    if failed or _writebacks_waiting(services.store):
        services.queue.queue.enqueue_in(RETRY_AFTER, "ls_context.writeback.jobs.process_events", job_id="ls-context-retry")
    return {"processed": processed, "delivered": delivered, "failed": failed}


def sync_projects(every: float) -> int:
    """The periodic job: recover lost webhooks of every known project, then schedule the next run."""
    services = context(Config.resolve())
    try:
        return services.worker.sync_known_projects()
    finally:
        services.queue.queue.enqueue_in(timedelta(seconds=every), "ls_context.writeback.jobs.sync_projects", every,
                                        job_id="ls-context-sync")


def run_worker(config: Config, burst: bool = False, sync_every: float = 0.0) -> None:
    """`ls-context worker`: an RQ worker (no fork per job, so the services are built once) with its scheduler."""
    from rq import SimpleWorker

    services = context(config)
    queue = services.queue
    queue.wake()  # drain whatever was recorded while no worker ran
    if sync_every:
        queue.queue.enqueue_call("ls_context.writeback.jobs.sync_projects", args=(sync_every,), job_id="ls-context-sync")
    SimpleWorker([queue.queue], connection=queue.redis).work(burst=burst, with_scheduler=not burst, logging_level="WARNING")


def _writebacks_waiting(store) -> bool:
    from sqlalchemy import func, select

    from ls_context.store import Writeback

    with store.reading() as session:
        return bool(session.scalar(select(func.count()).select_from(Writeback).where(Writeback.status == "pending")))
