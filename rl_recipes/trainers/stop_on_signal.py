"""SIGINT and SIGTERM during training: stop at the end of the step, with a checkpoint to resume from.

A cluster's scheduler sends SIGTERM before it takes the machines back; Ctrl-C sends SIGINT. The rules:

- Before training begins (parsing, loading, building the trainer) and after it ends (saving, the
  summary), the process keeps its own handling: a signal ends the run at once. There is nothing to
  save before training, and a process that could not end after it would hold its machines.
- During training, the first signal lets the step in progress finish; the trainer saves a checkpoint
  and stops, and the recipe exits with status 128 + the signal number and a line that says how to
  resume. The processes of a multi-process launch agree on the step to stop at, since a signal may
  reach them at different moments.
- A second signal during training ends the process at once, killed by that signal, without a
  checkpoint. Launchers (torchrun, `accelerate launch` with several processes) pass on to their
  workers the signal that the workers' process group got as well, so a signal within
  `SAME_REQUEST_S` of the first counts as the same request.

The handlers are installed when training begins and the previous ones are back when it ends (the
recipe restores them on its error paths too), so a recipe run inside another program, a test runner
say, leaves that program's handling as it found it.
"""

import os
import signal
import time

import torch
import torch.distributed as dist
from transformers import TrainerCallback

SAME_REQUEST_S = 2.0


class StopOnSignal(TrainerCallback):
    def __init__(self, signals=(signal.SIGINT, signal.SIGTERM)):
        self.signals = tuple(signals)
        self.received: int | None = None
        self.stopped_at_step: int | None = None
        self._received_at = 0.0
        self._previous_handlers: dict = {}
        self._announce = False

    def on_train_begin(self, args, state, control, **kwargs):
        self._announce = state.is_world_process_zero
        self._previous_handlers = {signum: signal.signal(signum, self._receive) for signum in self.signals}

    def on_train_end(self, args, state, control, **kwargs):
        self.restore_handlers()

    def restore_handlers(self) -> None:
        """Give the process its own handling back; safe to call more than once."""
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers = {}

    def _receive(self, signum, frame):
        now = time.monotonic()
        if self.received is None:
            self.received, self._received_at = signum, now
            self._say(
                f"Signal {signum}: stopping at the end of this step with a checkpoint; "
                "send it again to end now without one."
            )
        elif now - self._received_at >= SAME_REQUEST_S:
            self._say(f"Signal {signum} again: ending now, without a checkpoint.")
            self.restore_handlers()
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)

    def _say(self, line: str) -> None:
        if self._announce:
            os.write(2, f"{line}\n".encode())  # a handler may interrupt a print; a raw write cannot clash with it

    def on_step_end(self, args, state, control, **kwargs):
        requested = torch.tensor([self.received or 0], dtype=torch.long)
        if dist.is_available() and dist.is_initialized():
            if dist.get_backend() == "nccl":
                requested = requested.to(args.device)
            dist.all_reduce(requested, op=dist.ReduceOp.MAX)
        if requested.item():
            if self.received is None:
                # Learned from a peer: this process's own copy of the same request may still be on its way, and
                # must count as the same request, not a second one.
                self._received_at = time.monotonic()
            self.received = int(requested.item())
            self.stopped_at_step = state.global_step
            control.should_save = True
            control.should_training_stop = True
        return control
