"""Running one round's tool calls: concurrently across rollouts, in order within one, each under a time limit.

Why concurrently: a tool is often a remote service (an HTTP API, a database, a sandbox) that takes
100 ms or more a call. Run one after another, the 40-odd calls of a 64-rollout batch add seconds to
every step while the model waits; run together, a round costs about its slowest call. The agent
frameworks this follows run rollouts' calls concurrently too (verl's tool agent loop, with its
`max_parallel_calls` bound; SkyRL and rLLM as async tasks); TRL 1.16's GRPOTrainer runs them in series.

The rules:

- Synchronous tools run on daemon threads, at most `max_parallel_calls` calls at once; async tools
  run on the given event loop (the trainer's), where they overlap while they await.
- The calls of one rollout run one after another, in the order the model wrote them: they share the
  rollout's environment instance, which holds state. Calls of different rollouts run concurrently.
- Each outcome is returned in its rollout's call order, whatever order the calls finish in, so the
  transcripts of a seeded run do not depend on the concurrency (a tool that draws from a random
  generator shared across rollouts, such as the module `random`, is the exception: the order of its
  draws does).
- A call that has not returned after `timeout` seconds (0: no limit) ends in a `TimeoutError`. An
  async call is cancelled. Python cannot stop a thread, so a synchronous call keeps running on its
  daemon thread and its result is dropped; being a daemon, it cannot keep the process from exiting.
  An async tool that blocks (a `time.sleep`, a synchronous client inside `async def`) holds the event
  loop until it returns: its caller is still cut at the limit, but the loop's other calls wait.
- With `max_parallel_calls` 1 and no time limit, synchronous calls run in the calling thread, one
  after another, as in TRL's loop: what a tool that installs signal handlers (`signal.alarm`) needs,
  since Python delivers signals to the main thread only.
"""

import asyncio
import concurrent.futures
import inspect
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

# CPython's text when a thread other than the main one calls signal.signal or signal.alarm's set-up.
SIGNAL_OUTSIDE_MAIN_THREAD = "signal only works in main thread"


@dataclass
class ToolCall:
    """A call ready to run: `function(**arguments)`, named as the model named it."""

    name: str
    function: Callable
    arguments: dict


@dataclass
class Outcome:
    """What a call gave: its value, or the exception it raised (a `TimeoutError` past the limit)."""

    value: object = None
    error: BaseException | None = None


def needs_main_thread(error: BaseException | None) -> bool:
    """Whether a call failed only because it ran outside the main thread (a tool that uses signals)."""
    return isinstance(error, ValueError) and SIGNAL_OUTSIDE_MAIN_THREAD in str(error)


class ToolExecutor:
    """Runs a round of tool calls by the rules in the module docstring.

    `event_loop`: the loop async tools run on (a trainer's daemon loop); None starts a private one in a daemon
    thread the first time an async tool is called.
    """

    def __init__(self, max_parallel_calls: int = 64, timeout: float = 0.0, event_loop=None):
        if max_parallel_calls < 1:
            raise ValueError(f"max_parallel_calls is {max_parallel_calls}: at least 1 call must be able to run")
        self.max_parallel_calls = max_parallel_calls
        self.timeout = timeout
        self._event_loop = event_loop

    @property
    def in_calling_thread(self) -> bool:
        return self.max_parallel_calls == 1 and not self.timeout

    def run(self, calls: list[list[ToolCall]]) -> list[list[Outcome]]:
        """`calls[r]` are rollout r's calls in order; returns their outcomes in the same shape and order."""
        if self.in_calling_thread:
            return [[self._run_here(call) for call in rollout] for rollout in calls]
        outcomes = [[None] * len(rollout) for rollout in calls]
        position = [0] * len(calls)  # each rollout's next call
        waiting = deque(r for r, rollout in enumerate(calls) if rollout)  # rollouts with a call to start, none running
        running = {}  # future -> (rollout, deadline)
        while waiting or running:
            while waiting and len(running) < self.max_parallel_calls:
                r = waiting.popleft()
                deadline = time.monotonic() + self.timeout if self.timeout else None
                running[self._start(calls[r][position[r]])] = (r, deadline)
            deadlines = [deadline for _, deadline in running.values() if deadline is not None]
            wait = max(0.0, min(deadlines) - time.monotonic()) if deadlines else None
            done, _ = concurrent.futures.wait(running, timeout=wait, return_when=concurrent.futures.FIRST_COMPLETED)
            now = time.monotonic()
            for future, (r, deadline) in list(running.items()):
                if future in done:
                    outcome = _outcome_of(future)
                elif deadline is not None and now >= deadline:
                    future.cancel()  # cancels an async call; a thread runs on, its result dropped
                    call = calls[r][position[r]]
                    outcome = Outcome(error=TimeoutError(f"{call.name} did not return within {self.timeout:g} s"))
                else:
                    continue
                del running[future]
                outcomes[r][position[r]] = outcome
                position[r] += 1
                if position[r] < len(calls[r]):
                    waiting.append(r)
        return outcomes

    def _run_here(self, call: ToolCall) -> Outcome:
        try:
            if inspect.iscoroutinefunction(call.function):
                return Outcome(asyncio.run_coroutine_threadsafe(call.function(**call.arguments), self._loop()).result())
            return Outcome(call.function(**call.arguments))
        except Exception as error:  # a tool may fail in any way; the model sees the error and goes on
            return Outcome(error=error)

    def _start(self, call: ToolCall) -> concurrent.futures.Future:
        if inspect.iscoroutinefunction(call.function):
            return asyncio.run_coroutine_threadsafe(call.function(**call.arguments), self._loop())
        future = concurrent.futures.Future()

        def work():
            try:
                value, error = call.function(**call.arguments), None
            except BaseException as raised:  # handed to the caller, who decides
                value, error = None, raised
            try:
                future.set_exception(error) if error is not None else future.set_result(value)
            except concurrent.futures.InvalidStateError:
                pass  # the caller stopped waiting (the time limit): the result is dropped

        # A daemon thread: a call that never returns must not keep the process from ending.
        threading.Thread(target=work, name=f"tool-{call.name}", daemon=True).start()
        return future

    def _loop(self):
        if self._event_loop is None:
            from trl.trainer.utils import start_event_loop_in_daemon

            _, self._event_loop, ready = start_event_loop_in_daemon(name="ToolExecutor-AsyncLoop")
            ready.wait()
        return self._event_loop


def _outcome_of(future: concurrent.futures.Future) -> Outcome:
    try:
        return Outcome(future.result())
    except Exception as error:
        return Outcome(error=error)
