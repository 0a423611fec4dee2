"""Stop on SIGINT or SIGTERM at the end of the current step, with a checkpoint to resume from.

A cluster's scheduler sends SIGTERM before it takes the machines back; Ctrl-C sends SIGINT. Either
way the step in progress finishes, the trainer saves a checkpoint and stops, and the recipe exits
with a line that says how to resume. The processes of a multi-process launch agree on the step to
stop at, since a signal may reach them at different moments.
"""

import signal

import torch
import torch.distributed as dist
from transformers import TrainerCallback


class StopOnSignal(TrainerCallback):
    def __init__(self, signals=(signal.SIGINT, signal.SIGTERM)):
        self.received: int | None = None
        self.stopped_at_step: int | None = None
        for signum in signals:
            signal.signal(signum, self._receive)

    def _receive(self, signum, frame):
        self.received = signum

    def on_step_end(self, args, state, control, **kwargs):
        requested = torch.tensor([self.received or 0], dtype=torch.long)
        if dist.is_available() and dist.is_initialized():
            if dist.get_backend() == "nccl":
                requested = requested.to(args.device)
            dist.all_reduce(requested, op=dist.ReduceOp.MAX)
        if requested.item():
            self.received = int(requested.item())
            self.stopped_at_step = state.global_step
            control.should_save = True
            control.should_training_stop = True
        return control
