"""Reward functions that fail in a defined way.

A user's reward can raise, return the wrong number of values, a non-number, NaN or infinity. Each
reward is wrapped in a `GuardedReward` (an `AsyncGuardedReward` for an `async` one, which TRL then
awaits as it would the reward itself), which turns every such fault into `None` for the samples
concerned (TRL leaves `None` out of the advantage) and keeps a note of it. `RewardGuardMixin` then
decides, the same way on every process:

- `reward_faults: stop` (the default): all processes raise `RewardFault`, naming the reward, the fault
  and one offending completion; the recipe saves a checkpoint of the last completed step and exits;
- `reward_faults: skip`: training goes on without those samples; their number in each generation
  batch, summed over all processes, is logged per reward as `reward_faults/<name>`, and the first
  fault of each reward is named in one warning line.

Either way a fault reads as one true line: TRL's own warning that "all reward functions returned
None" for a sample, which the guard's None values would set off, is left out while a fault explains them.
"""

import asyncio
import inspect
import logging
import math
import numbers
import sys
from contextlib import contextmanager

import numpy as np
import torch
from accelerate.utils import gather
from tqdm.auto import tqdm

from rl_recipes.imports import split_dotted

FAULT_POLICIES = ("stop", "skip")
# TRL's warning for a sample that no reward scored, and the modules that log it.
TRL_NO_REWARD_WARNING = "All reward functions returned None"
TRL_TRAINER_LOGGERS = ("trl.trainer.rloo_trainer", "trl.trainer.grpo_trainer")


class RewardFault(RuntimeError):
    pass


class GuardedReward:
    """A synchronous reward function with TRL's signature whose faults become `None` values and notes.

    Every keyword argument TRL passes (the data set's columns, `completion_ids`, `trainer_state`,
    `log_extra`, `log_metric`, ...) reaches the function unchanged. It may return a list or tuple, a
    1-D numpy array or a 1-D torch tensor, of numbers, booleans (1.0 and 0.0, as TRL reads them) or
    `None`, as TRL accepts.
    """

    def __init__(self, func, spec: str):
        self.func = func
        self.spec = spec  # as the user named it, for messages
        # TRL names the reward's metrics after this: the registry name, or the function's name in a dotted path.
        self.__name__ = split_dotted(spec)[1]
        self.faults: list[str] = []

    def __call__(self, prompts, completions, **kwargs):
        self.faults = []
        try:
            values = self.func(prompts=prompts, completions=completions, **kwargs)
        except Exception as error:  # a user's reward may fail in any way; the policy decides what follows
            return self._fault_all(completions, f"raised {type(error).__name__}: {error}", kwargs)
        if inspect.iscoroutine(values):
            values.close()  # never awaited; closing it spares a warning at exit
            return self._fault_all(
                completions,
                "returned a coroutine, which TRL awaits only from a reward it can tell is async: define the function "
                "with `async def` (or its class's `__call__`), not a synchronous wrapper around one",
                kwargs,
            )
        return self._checked(values, completions, kwargs)

    def _checked(self, values, completions, kwargs):
        values, fault = self._as_list(values, len(completions))
        if fault:
            return self._fault_all(completions, fault, kwargs)
        return [self._check(value, completion) for value, completion in zip(values, completions)]

    @staticmethod
    def _as_list(values, expected: int) -> tuple[list | None, str | None]:
        """(`values` as a list of `expected` items, None), or (None, the fault)."""
        if isinstance(values, (np.ndarray, torch.Tensor)):
            if values.ndim != 1:
                return None, f"returned an array of shape {tuple(values.shape)} for {expected} completions"
            values = values.tolist()  # Python numbers (None from an object array); NaN stays NaN for _check
        if not isinstance(values, (list, tuple)):
            return None, f"returned {type(values).__name__} values for {expected} completions"
        if len(values) != expected:
            return None, f"returned {len(values)} values for {expected} completions"
        return list(values), None

    def _check(self, value, completion):
        if value is None:
            return None  # TRL's own way for a reward to skip a sample
        if isinstance(value, torch.Tensor) and value.numel() == 1:
            value = value.item()
        if isinstance(value, (bool, np.bool_)):
            return float(value)  # TRL makes a float tensor of the values: True is 1.0
        if not isinstance(value, numbers.Real):
            self.faults.append(
                f"returned a non-number ({type(value).__name__} {value!r}) for completion {completion!r}"
            )
            return None
        if not math.isfinite(value):
            self.faults.append(f"returned {value} for completion {completion!r}")
            return None
        return float(value)

    def _fault_all(self, completions, fault: str, kwargs):
        self.faults = [f"{fault} (first completion: {completions[0]!r})" for _ in completions]
        return [None] * len(completions)


class AsyncGuardedReward(GuardedReward):
    """The guard around an `async` reward. It stays a coroutine function, so that TRL awaits it on its
    event loop, concurrently with the other async rewards, and its faults are caught the same way."""

    async def __call__(self, prompts, completions, **kwargs):
        self.faults = []
        try:
            values = await self.func(prompts=prompts, completions=completions, **kwargs)
        except Exception as error:  # a user's reward may fail in any way; the policy decides what follows
            return self._fault_all(completions, f"raised {type(error).__name__}: {error}", kwargs)
        return self._checked(values, completions, kwargs)


def score_outside_trl(reward: GuardedReward, **kwargs) -> list:
    """A guarded reward's values for one batch, where no TRL trainer calls it (evaluation): an async reward is
    awaited here, as TRL would await it. Its faults are in `reward.faults` afterwards."""
    values = reward(**kwargs)
    return asyncio.run(values) if inspect.iscoroutine(values) else values


def guard_rewards(funcs: list, specs: list[str]) -> list[GuardedReward]:
    from trl.trainer.utils import is_async_callable  # TRL's own test: functions, partials and callable objects

    return [
        (AsyncGuardedReward if is_async_callable(func) else GuardedReward)(func, spec)
        for func, spec in zip(funcs, specs)
    ]


class RewardGuardMixin:
    """Put before a TRL trainer class in the bases; `reward_fault_policy` is one of FAULT_POLICIES.

    Rewards a trainer adds itself (an environment's `get_reward`) are guarded too. A trainer may also
    note faults of its own for a batch in `environment_faults` (one entry per local sample, None where
    fine; `AgentRLOOTrainer`'s environments that failed to reset): the policy treats them as a reward's.
    """

    reward_fault_policy = "stop"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for i, func in enumerate(self.reward_funcs):
            if not isinstance(func, (GuardedReward, torch.nn.Module)):
                self.reward_funcs[i] = guard_rewards([func], [self.reward_func_names[i]])[0]

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        guarded = [g for g in self.reward_funcs if isinstance(g, GuardedReward)]
        with trl_no_reward_warning_left_out_while(lambda: any(g.faults for g in guarded) or self._environment_faults()):
            rewards = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        self._log_fault_counts(guarded)
        first = next((f"Reward '{g.spec}' {g.faults[0]}" for g in guarded if g.faults), None)
        first = first or next(iter(self._environment_faults()), None)
        if self.reward_fault_policy == "stop":
            # Every process must stop together, also those whose own samples were fine.
            faulty = gather(torch.tensor([first is not None], device=self.accelerator.device)).any().item()
            if faulty:
                raise RewardFault(first or "A reward failed on another process (see its log).")
        else:
            self._warn_first_faults(guarded)
        return rewards

    def _environment_faults(self) -> list[str]:
        return [fault for fault in getattr(self, "environment_faults", []) if fault is not None]

    def _warn_first_faults(self, guarded: list[GuardedReward]) -> None:
        """Under `skip`, one line for each reward's first fault, and for the environment's (on the process that saw
        it)."""
        warned = self.__dict__.setdefault("_rewards_warned", set())
        firsts = [(g.spec, f"Reward '{g.spec}' {g.faults[0]}", g.__name__) for g in guarded if g.faults]
        if self._environment_faults():
            firsts.append(("environment", self._environment_faults()[0], "environment"))
        for key, fault, metric in firsts:
            if key not in warned:
                warned.add(key)
                # tqdm's write: a line of its own above the progress bar, not appended to it.
                tqdm.write(
                    f"warning: {fault}; such samples are skipped (--reward_faults skip) and counted each step "
                    f"in reward_faults/{metric}.",
                    file=sys.stderr,
                )

    def _log_fault_counts(self, guarded: list[GuardedReward]) -> None:
        """`reward_faults/<name>`: the faulty samples of this generation batch, summed over all processes (TRL's
        `log_metric` would average them)."""
        names = [g.__name__ for g in guarded] + (["environment"] if hasattr(self, "environment_faults") else [])
        if not names:
            return
        local = [len(g.faults) for g in guarded] + (
            [len(self._environment_faults())] if len(names) > len(guarded) else []
        )
        counts = gather(torch.tensor(local, dtype=torch.float32, device=self.accelerator.device)).view(-1, len(names))
        mode = "train" if self.model.training else "eval"
        for name, count in zip(names, counts.sum(dim=0).tolist()):
            self._metrics[mode][f"reward_faults/{name}"].append(count)


class _LeaveOut(logging.Filter):
    def __init__(self, text: str, when):
        super().__init__()
        self.text, self.when = text, when

    def filter(self, record: logging.LogRecord) -> bool:
        # accelerate's logger puts "[RANK n] " before TRL's message.
        return not (self.text in record.getMessage() and self.when())


@contextmanager
def trl_no_reward_warning_left_out_while(condition):
    """Within the block, TRL's "All reward functions returned None" warning is left out while `condition()` holds."""
    leave_out = _LeaveOut(TRL_NO_REWARD_WARNING, condition)
    loggers = [logging.getLogger(name) for name in TRL_TRAINER_LOGGERS]
    for logger in loggers:
        logger.addFilter(leave_out)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(leave_out)
