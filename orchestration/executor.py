"""How the steps of a Dagster run execute, chosen in one place by MIRANTE_EXECUTOR.

- `in_process` (default): every step in the run's own process, one code import per run (the
  multiprocess executor re-imports the code for every step: 6-8 s each here). `make run` and
  `mirante run` always execute in process (`execute_in_process` ignores the executor).
- `celery`: dagster-celery. The run's process only orchestrates: each step is a Celery task on the
  queue `dagster` of the broker MIRANTE_REDIS_URL, executed by any `mirante worker` (this module's
  `app`, started by mirante/cli.py) on any machine that reaches the database and Redis. Pools still
  hold: the run claims a step's pool slot (e.g. `dbt`, one slot: one dbt build on one worker at a
  time; `esus`, MIRANTE_ESUS_CONCURRENCY slots) in the Dagster instance before it sends the step.

Outputs passed between steps go through the default IO manager (files under the instance's
storage folder): every step of Mirante's jobs hands data over through PostgreSQL, not outputs, so
workers on other machines need no shared folder for them.
"""

from __future__ import annotations

import functools

from mirante import config

#: the Celery queue every step goes to unless tagged otherwise (dagster-celery's default)
DEFAULT_QUEUE = "dagster"


def celery_settings() -> dict:
    """The broker, backend and Celery settings the run and the workers must share."""
    url = config.redis_url()
    return {
        "broker": url,
        "backend": url,
        "config_source": {
            # one task at a time per worker process: a long step never holds a second one back
            "worker_prefetch_multiplier": 1,
            "task_acks_late": True,
            "broker_connection_retry_on_startup": True,
        },
    }


def job_executor():
    """The executor of every job of the Definitions (orchestration/definitions.py)."""
    from dagster import in_process_executor

    if config.executor() == "in_process":
        return in_process_executor
    from dagster_celery import celery_executor

    return celery_executor.configured(celery_settings(), name="celery")


@functools.cache
def celery_app():
    """The Celery app of `mirante worker`: dagster-celery's step task, bound to our broker."""
    from dagster_celery.executor import CeleryExecutor
    from dagster_celery.make_app import make_app
    from dagster_celery.tasks import create_task

    settings = celery_settings()
    executor = CeleryExecutor.for_cli(
        broker=settings["broker"], backend=settings["backend"], config_source=settings["config_source"]
    )
    made = make_app(executor.app_args())
    create_task(made)
    return made


def __getattr__(name: str):
    # `celery -A mirante.orchestration.executor` looks up `app`: built on first use, never at import
    if name == "app":
        return celery_app()
    raise AttributeError(name)
