"""Timing training steps: a recipe's trainer trained for the benchmark's steps, each step timed whole and, within it,
each phase on its own clock: generation (the model's `generate`), scoring (the reward functions) and update (from the
batch being ready to the optimizer step's end: the loss, backward, optimizer). The rest of a step (advantages,
logging) counts in its total only. Warm-up steps are left out of the summary.
"""

import functools
import math
import statistics
import tempfile
import time

import torch
from transformers import TrainerCallback

from rl_recipes.benchmarking.arguments import BenchmarkArguments
from rl_recipes.benchmarking.builders import recipe_builder, recipe_overrides

PHASES = ("generation", "scoring", "update")


class PhaseTimer:
    """Seconds spent in named phases, per training step. On a GPU each reading of the clock waits for the work
    queued so far (`torch.cuda.synchronize`): kernels run asynchronously, and without it a phase's time would be
    the time to queue its work, the rest landing in whichever phase next waits for a result."""

    def __init__(self, device: str = "cpu"):
        self.steps: list[dict[str, float]] = []
        self.current: dict[str, float] = {}
        self.device = device

    def now(self) -> float:
        if self.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    def wrap(self, phase: str, func):
        @functools.wraps(func)  # keeps the name TRL logs a reward under
        def timed(*args, **kwargs):
            start = self.now()
            try:
                return func(*args, **kwargs)
            finally:
                self.current[phase] = self.current.get(phase, 0.0) + self.now() - start

        return timed

    def begin(self):
        self.current = {"start": self.now()}

    def mark_end(self, name: str, func):
        """`func`, noting in the current step when its last call returned."""

        def marked(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            finally:
                self.current[name] = self.now()

        return marked

    def end(self, tokens: int):
        # Each phase is timed on its own; what none of them covers (advantages, logging) is left in the total.
        total = self.now() - self.current.pop("start")
        self.steps.append(
            {"total": total, **{phase: self.current.get(phase, 0.0) for phase in PHASES}, "tokens": tokens}
        )
        self.current = {}


class StepTimes(TrainerCallback):
    """A step lasts from its beginning to the next one's, so the trainer's logging after it counts too."""

    def __init__(self, timer: PhaseTimer, trainer):
        self.timer, self.trainer = timer, trainer
        self.tokens = 0

    def _close_step(self):
        if "start" in self.timer.current:
            self.timer.end(self.tokens)

    def on_step_begin(self, args, state, control, **kwargs):
        self._close_step()
        self.timer.begin()

    def on_step_end(self, args, state, control, **kwargs):
        # The update: from the batch being ready (generated, scored, advantages computed) to the optimizer step's end.
        self.timer.current["update"] = self.timer.now() - self.timer.current["inputs_ready"]
        lengths = self.trainer._metrics["train"].get("completions/mean_length") or [0]
        self.tokens = int(lengths[-1] * self.trainer.args.generation_batch_size)

    def on_train_end(self, args, state, control, **kwargs):
        self._close_step()


def contender_figures(
    name: str, steps: list[dict], generations_per_step: int, peak_mib: float, rewards: list[float]
) -> dict:
    total = sum(step["total"] for step in steps)
    return {
        "name": name,
        "seconds_per_step": total / len(steps),
        "generation_s": statistics.fmean(step["generation"] for step in steps),
        "scoring_s": statistics.fmean(step["scoring"] for step in steps),
        "update_s": statistics.fmean(step["update"] for step in steps),
        "generations_per_s": generations_per_step * len(steps) / total,
        "tokens_per_s": sum(step["tokens"] for step in steps) / total,
        "peak_memory_mib": peak_mib,
        "final_reward": rewards[-1] if rewards else math.nan,
        "step_rewards": rewards,  # every step's mean reward, warm-up included: the same seed samples the same
    }


def device_name(args: BenchmarkArguments) -> str:
    return torch.cuda.get_device_name() if args.device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"


def time_recipe(name: str, build, extra: list[str], args: BenchmarkArguments, memory, callbacks=()) -> dict:
    """Train the trainer `build` makes from the benchmark's overrides and `extra` (see `builders`) for the
    benchmark's steps, and time it."""
    from rl_recipes.runner.lifecycle import end_together

    with tempfile.TemporaryDirectory() as output_dir:
        trainer = build(recipe_overrides(args, output_dir) + extra)
        timer = PhaseTimer(args.device)
        trainer._generate = timer.wrap("generation", trainer._generate)
        trainer._prepare_inputs = timer.mark_end("inputs_ready", trainer._prepare_inputs)
        for index, reward in enumerate(trainer.reward_funcs):
            if hasattr(reward, "func"):  # the recipes' guarded reward: time the user's function inside it
                reward.func = timer.wrap("scoring", reward.func)
            else:
                trainer.reward_funcs[index] = timer.wrap("scoring", reward)
        # First of the callbacks, so the last step closes before the others' end-of-training work (the recipes' curves).
        trainer.callback_handler.callbacks.insert(0, StepTimes(timer, trainer))
        for callback in callbacks:
            callback.trainer = trainer
            trainer.add_callback(callback)
        memory.reset()
        trainer.train()
        peak = memory.read_mib()
        rewards = [entry["reward"] for entry in trainer.state.log_history if "reward" in entry]
        end_together(trainer)  # as the recipes end: left to interpreter exit, a gloo group can hang or abort
    return contender_figures(name, timer.steps[args.warmup_steps :], args.generations_per_step, peak, rewards)


def time_rloo(name: str, args: BenchmarkArguments, memory, flags: list[str] = (), build=None, callbacks=()) -> dict:
    """The RLOO recipe (one prompt, `args.generations_per_step` generations of it a step) with `flags` on top, timed;
    built as `recipes/rloo.py` builds it unless `build` says otherwise."""
    from rl_recipes.algorithms import ALGORITHMS

    return time_recipe(
        name,
        build or recipe_builder(ALGORITHMS["rloo"]),
        ["--num_generations", str(args.generations_per_step), *flags],
        args,
        memory,
        callbacks,
    )
