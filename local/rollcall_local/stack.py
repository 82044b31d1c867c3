"""The running local stack: a :class:`~rollcall_local.session.Session` plus everything that
invokes functions on their triggers (warm workers, HTTP API, SQS pollers, schedules).

    stack = Stack(Session.open(config, must_own=True), Console())
    stack.start()
    ...
    stack.stop()   # pollers and schedules stop, in-flight invocations finish (bounded),
                   # workers end, state is saved, the emulator stops
"""

from __future__ import annotations

from rollcall_local.api import ApiServer
from rollcall_local.apigw import Authorizers, Cors, Router, StageThrottle
from rollcall_local.console import Console
from rollcall_local.invoke import Invoker
from rollcall_local.openapi import OpenApi
from rollcall_local.schedules import Scheduler
from rollcall_local.session import Session
from rollcall_local.sqs import SqsPoller
from rollcall_local.state import Counts

DRAIN_SECONDS = 30
POLL_JOIN_SECONDS = 3


class Stack:
    def __init__(self, session: Session, console: Console) -> None:
        self.session = session
        self.console = console
        config, template, physical, aws = session.config, session.template, session.physical, session.aws
        account_id = template.account_id
        self.invoker = Invoker(session.functions, session.spawn_logged, config.concurrency)
        self.scheduler = Scheduler(
            template.schedules(physical),
            physical,
            self.invoker,
            console,
            account_id=account_id,
            region=aws.region,
        )
        routes = template.routes()
        self.api = ApiServer(
            config.api_port,
            Router(routes),
            self.invoker,
            account_id=account_id,
            openapi=OpenApi(
                routes, self.invoker, title=f"{template.stack_name} (local)", account_id=account_id
            ),
            console=console,
            scheduler=self.scheduler,
            cors=Cors.of(template),
            authorizers=Authorizers.of(template),
            throttle=StageThrottle.of(template),
        )
        self.pollers = [
            SqsPoller(
                source,
                queue_url=physical.refs[source.queue],
                queue_arn=physical.attribute(source.queue, "Arn"),
                aws=aws,
                invoker=self.invoker,
                console=console,
            )
            for source in template.sqs_sources(physical)
            if source.enabled
        ]

    def start(self) -> None:
        self.api.start()
        for poller in self.pollers:
            poller.start()
        self.scheduler.start()

    def stop(self, drain_seconds: float = DRAIN_SECONDS) -> Counts | None:
        """Stop everything in order; the saved state's counts (None when no state is kept)."""
        self.scheduler.stop()
        for poller in self.pollers:
            poller.stop()
        self.api.stop()
        if not self.invoker.drain(drain_seconds):
            self.console.info(f"invocations still running after {drain_seconds:.0f} s are stopped")
        for poller in self.pollers:
            poller.join(timeout=POLL_JOIN_SECONDS)
        self.invoker.close()
        return self.session.close()
