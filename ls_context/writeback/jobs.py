"""Processing by RQ workers on Redis, when a Redis URL is configured (LS_CONTEXT_REDIS_URL).

The web process only records each event and enqueues a wake-up job; `ls-context worker`
processes. The events stay in the store, which remains the truth: a job only says "there is
work now", any number of workers may run (each event is claimed by exactly one), and a lost job
loses nothing: each worker also looks at the store every second, so it keeps processing while Redis
is away. When a worker learns that a project's annotations changed, it publishes the project id
so that every web process refits its copy of that project's model.

Redis going away stops nothing for good: the worker, the publisher and the web process's listener
reconnect with backoff and jitter, saying so once per outage.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import lru_cache

from ls_context.config import Config

from .outage import Outage, backoff

log = logging.getLogger(__name__)
QUEUE = "ls-context"
LEARNED_CHANNEL = "ls-context:learned"


class EventQueue:
    """The web process's side: wake a worker after an event, hear which projects learned something."""

    def __init__(self, redis_url: str, name: str = QUEUE):
        from redis import Redis
        from rq import Queue

        self.redis = Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)
        self.queue = Queue(name, connection=self.redis)
        self.outage = Outage(f"Redis at {self.where()}")
        self._stop = threading.Event()
        self._listener: threading.Thread | None = None

    def where(self) -> str:
        """host:port/db of the Redis, without the password a URL may carry."""
        kwargs = self.redis.connection_pool.connection_kwargs
        return f"{kwargs.get('host', '?')}:{kwargs.get('port', '?')}/{kwargs.get('db', 0)}"

    def wake(self) -> bool:
        """Enqueue a processing job; False when Redis cannot be reached: the event is already safe in the store."""
        try:
            self.queue.enqueue_call("ls_context.writeback.jobs.process_events", result_ttl=0, failure_ttl=86400)
        except Exception as error:  # redis-py raises ConnectionError, TimeoutError, ...
            self.outage.failed(error)
            return False
        self.outage.ok()
        return True

    def publish_learned(self, project_id) -> None:
        """Tell every web process that a project's annotations changed (they refit their model)."""
        try:
            self.redis.publish(LEARNED_CHANNEL, str(project_id))
        except Exception as error:  # the listeners refit everything when they reconnect
            self.outage.failed(error)
            return
        self.outage.ok()

    def on_learned(self, callback, missed=lambda: None) -> threading.Thread:
        """Call `callback(project_id)` in a background thread whenever a worker learned from a project.

        Keeps listening through outages, a Redis away at start included (the server must take webhooks
        all the same); after one, `missed()` is called, since what was published meanwhile is lost.
        """
        self._listener = threading.Thread(target=self._listen, args=(callback, missed),
                                          name="ls-context-learned", daemon=True)
        self._listener.start()
        return self._listener

    def _subscribe(self):
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(LEARNED_CHANNEL)
        return pubsub

    def _listen(self, callback, missed) -> None:
        outage = Outage(f"Redis at {self.where()} (model updates)")
        pubsub, attempt = None, 0
        while not self._stop.is_set():
            try:
                if pubsub is None:
                    pubsub = self._subscribe()
                message = pubsub.get_message(timeout=1.0)
                attempt = 0
                if outage.ok():
                    missed()
                if message and message.get("type") == "message":
                    callback(message["data"].decode())
            except Exception as error:  # Redis gone: keep trying, never let the thread die
                outage.failed(error)
                _close_quietly(pubsub)
                pubsub = None
                self._stop.wait(backoff(attempt))
                attempt += 1
        _close_quietly(pubsub)

    def close(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.join(5)
        self.redis.close()


def _stoppable_worker_class():
    from rq import SimpleWorker

    class StoppableWorker(SimpleWorker):
        """An RQ worker that remembers being asked to stop (SIGTERM, Ctrl-C): its loop ends the same way on a Redis error."""

        stopping = False

        def request_stop(self, signum, frame):
            self.stopping = True
            super().request_stop(signum, frame)

    return StoppableWorker


class _RedisTrouble(logging.Filter):
    """RQ logs every failed reconnection, with a traceback when Redis goes mid-job: the outage's one line says it."""

    def __init__(self, outage: Outage):
        super().__init__()
        self.outage = outage

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if type(error).__module__.startswith("redis") or "Redis" in record.getMessage():
            from redis.exceptions import ConnectionError

            self.outage.failed(error or ConnectionError(record.getMessage()))
            return False
        return True


def _close_quietly(pubsub) -> None:
    try:
        if pubsub is not None:
            pubsub.close()
    except Exception:  # closing a dead connection
        pass


@lru_cache(maxsize=4)
def context(config: Config):
    """The services of this worker process, built once per configuration: RQ calls jobs by name."""
    from ls_context.services import build

    # A worker pointed at the wrong database must say so, not create an empty store there and wait.
    return build(config, existing=True)


def process_events() -> dict:
    """The job: process every pending event now; the worker's courier delivers the write-backs."""
    services = context(Config.resolve())
    services.queue.outage.ok()  # a job arrived: Redis is back, if it was away
    return {"processed": services.worker.process()}


def run_worker(config: Config, burst: bool = False) -> None:
    """`ls-context worker`: an RQ worker (no fork per job, so the services are built once) beside this
    process's own processing and courier threads, through Redis outages.

    No RQ scheduler: it runs in a forked child, which outlives its parent when that is killed.
    """
    from redis.exceptions import ConnectionError, TimeoutError
    from rq import SimpleWorker

    services = context(config)
    queue = services.queue
    if burst:
        queue.redis.ping()  # a wrong URL is an error, not an empty run
        SimpleWorker([queue.queue], connection=queue.redis).work(burst=True, logging_level="WARNING")
        services.worker.run_once()  # whatever the jobs missed, and the write-backs
        return
    stoppable = _stoppable_worker_class()
    services.worker.start()  # processes from the store, with or without Redis
    outage, attempt = queue.outage, 0
    logging.getLogger("rq.worker").addFilter(_RedisTrouble(outage))
    asked = threading.Event()
    while True:
        _stop_on_signals(asked)  # between RQ runs, whose own handlers need Redis to stop
        rq_worker = None
        try:
            queue.redis.ping()
            outage.ok()
            attempt = 0
            rq_worker = stoppable([queue.queue], connection=queue.redis)
            if asked.is_set():
                return
            rq_worker.work(logging_level="WARNING")
            if rq_worker.stopping:
                return
            raise ConnectionError("the RQ worker stopped")  # it quits on a Redis timeout: start another
        except (ConnectionError, TimeoutError) as error:
            if rq_worker is not None and rq_worker.stopping:
                return  # asked to stop while Redis was going away
            _stop_on_signals(asked)
            outage.failed(error)
            time.sleep(backoff(attempt))
            attempt += 1
            if asked.is_set():
                return


def _stop_on_signals(asked: threading.Event) -> None:
    """SIGTERM and Ctrl-C end the worker at once (nothing is lost: events wait in the store).

    The signal is also remembered: raised inside a weakref callback or a finaliser, SystemExit is
    printed and dropped by Python, and the loop must still end.
    """
    import signal

    def stop(signum, frame):
        asked.set()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
