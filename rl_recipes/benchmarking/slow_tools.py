"""`--tool_latency SECONDS`: tools that each take SECONDS a call, as a call to an HTTP API waits, and three
contenders on the same model, the same batches of tasks and the same seed, each through its trainer's `_generate`:

1. our agent trainer's rollouts with the tools as they are (the agent mode's rollouts: instant tools),
2. the same trainer with every tool made slow (`SlowTools`: it sleeps, then calls the tool; its name, signature and
   docstring are the tool's, so the model is shown the same tool),
3. TRL's own `GRPOTrainer` loop (`_generate`, which runs `_tool_call_loop`) with the same slow tools, built as
   `recipes/grpo.py` builds it, from the same YAML (the keys GRPOConfig has: the same generations, batch,
   completion length, tool-calling rounds, sampling settings).

For each: seconds a batch, tool calls a rollout (the trainer's `tools/call_frequency`), and, for the slow ones, the
slow calls a batch and the seconds a batch spent with at least one of them in flight (calls run one after another
wait their sum; calls run together wait about their slowest); then our slow / instant ratio and TRL's slow / our slow.
"""

import functools
import math
import tempfile
import threading
import time
from pathlib import Path

from rl_recipes.benchmarking.arguments import BenchmarkArguments, BenchmarkError
from rl_recipes.benchmarking.builders import quiet_recipe_trainer
from rl_recipes.benchmarking.rollouts import (
    AGENT_RECIPE,
    agent_overrides,
    rollout_summary,
    time_rollouts,
    time_training_steps,
)
from rl_recipes.benchmarking.tables import slow_tools_table
from rl_recipes.benchmarking.timing import PhaseTimer

# Settings that decide how a batch of rollouts is generated: the contenders of --tool_latency must agree on them.
AGENT_GENERATION_SETTINGS = (
    "num_generations",
    "per_device_train_batch_size",
    "max_completion_length",
    "max_tool_calling_iterations",
    "temperature",
    "top_p",
    "top_k",
    "min_p",
    "repetition_penalty",
    "generation_kwargs",
    "chat_template_kwargs",
    "seed",
)
# Goals an issue set for slow tools (reported, not asserted): our slow / instant at most, TRL slow / our slow at least.
SLOW_TOOL_GOALS = {"ours_slow_vs_instant_at_most": 1.3, "trl_slow_vs_ours_slow_at_least": 5.0}


class SlowTools:
    """Tools that each take `latency` seconds a call, as an HTTP API does: a sleep, then the tool itself. Each call's
    start and end are noted (from any thread: a trainer may run calls concurrently)."""

    def __init__(self, latency: float):
        self.latency = latency
        self.calls: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def wrap(self, tool):
        @functools.wraps(tool)  # the same name, signature and docstring: the model is shown the same tool
        def slow(*args, **kwargs):
            start = time.perf_counter()  # not the phase timer's clock: a worker thread has no GPU work to wait for
            try:
                time.sleep(self.latency)
                return tool(*args, **kwargs)
            finally:
                with self._lock:
                    self.calls.append((start, time.perf_counter()))

        return slow

    def take(self) -> tuple[int, float]:
        """The calls since the last take, and the seconds during which at least one of them was running."""
        with self._lock:
            calls, self.calls = sorted(self.calls), []
        waited, end = 0.0, -math.inf
        for start, stop in calls:
            waited += max(0.0, stop - max(start, end))
            end = max(end, stop)
        return len(calls), waited


def trl_grpo_trainer(args: BenchmarkArguments, output_dir: str):
    """TRL's GRPOTrainer as `recipes/grpo.py` builds it, from the agent recipe's keys that GRPOConfig has (written
    beside `output_dir`), with the agent mode's overrides; and the keys left out."""
    import yaml
    from trl import ModelConfig

    from rl_recipes.algorithms import ALGORITHMS
    from rl_recipes.checks import setting_names
    from rl_recipes.runner.cli import RecipeArguments

    grpo = ALGORITHMS["grpo"]
    recipe = yaml.safe_load(AGENT_RECIPE.read_text())
    known = setting_names((RecipeArguments, grpo.config_class, ModelConfig)) | {"env"}
    left_out = sorted(set(recipe) - known)
    config = Path(output_dir).with_name(Path(output_dir).name + "-grpo.yaml")
    config.write_text(yaml.safe_dump({key: value for key, value in recipe.items() if key in known}, sort_keys=False))
    try:
        trainer = quiet_recipe_trainer(grpo, config, agent_overrides(args, output_dir))
    finally:
        config.unlink()
    return trainer, left_out


def use_grpo_tools(trainer, tools: list, rollouts: int) -> None:
    """`tools` as a GRPOTrainer's tools, for batches of `rollouts` through `_generate` alone: the per-rollout tool
    dictionaries are what TRL's `_generate_and_score_completions` builds before it (no environments here)."""
    trainer.tools = trainer._standalone_tools = list(tools)
    trainer._sync_tool_dicts = [{tool.__name__: tool for tool in tools} for _ in range(rollouts)]
    trainer._async_tool_dicts = [{} for _ in range(rollouts)]


def time_slow_tools(
    args: BenchmarkArguments, trainer, recipe_tools: list, batches: list[list], timer: PhaseTimer
) -> dict:
    """Our trainer with every tool taking `args.tool_latency` seconds a call, then TRL's GRPOTrainer loop with the
    same slow tools, on the same batches; each summarised, with the settings they share and the keys GRPOConfig
    left out."""
    from rl_recipes.runner.lifecycle import end_together

    slow = SlowTools(args.tool_latency)
    trainer.tools = recipe_tools
    ours_instant_step = time_training_steps(trainer, args)
    trainer.tools = [slow.wrap(tool) for tool in recipe_tools]
    ours = rollout_summary(time_rollouts(trainer, batches, args, timer, slow))
    ours["seconds_per_step"] = time_training_steps(trainer, args)
    with tempfile.TemporaryDirectory() as output_dir:
        grpo, left_out = trl_grpo_trainer(args, output_dir)
        differing = [
            name
            for name in AGENT_GENERATION_SETTINGS
            if getattr(grpo.args, name, None) != getattr(trainer.args, name, None)
        ]
        if differing:
            raise BenchmarkError(
                f"TRL's GRPOTrainer would generate with other settings than ours: {', '.join(differing)}."
            )
        use_grpo_tools(grpo, [slow.wrap(tool) for tool in grpo.tools], len(batches[0]))
        grpo.model.train()
        trl = rollout_summary(time_rollouts(grpo, batches, args, PhaseTimer(args.device), slow))
        trl["seconds_per_step"] = time_training_steps(grpo, args)
        end_together(grpo)
    return {
        "ours_slow": ours,
        "trl_slow": trl,
        "ours_instant_seconds_per_step": ours_instant_step,
        "trl_left_out": left_out,
        "shared_settings": {name: getattr(trainer.args, name, None) for name in AGENT_GENERATION_SETTINGS},
    }


def slow_tool_comparison(args: BenchmarkArguments, agent: dict, slow_tools: dict, parallel: int | None) -> dict:
    """The table of the three contenders and their ratios, printed; the same numbers for the JSON."""
    ours_instant = {key: agent[key] for key in ("seconds_per_batch", "tool_calls_per_rollout")}
    ours_instant["seconds_per_step"] = slow_tools["ours_instant_seconds_per_step"]
    ours_slow, trl_slow = slow_tools["ours_slow"], slow_tools["trl_slow"]
    ours_slow_vs_instant = ours_slow["seconds_per_batch"] / ours_instant["seconds_per_batch"]
    trl_slow_vs_ours_slow = trl_slow["seconds_per_batch"] / ours_slow["seconds_per_batch"]
    step_ratios = {
        "ours_slow_vs_instant": ours_slow["seconds_per_step"] / ours_instant["seconds_per_step"],
        "trl_slow_vs_ours_slow": trl_slow["seconds_per_step"] / ours_slow["seconds_per_step"],
    }
    latency = f"{args.tool_latency:g} s"
    calls = (
        f"max_parallel_tool_calls {parallel}"
        if parallel is not None
        else "no max_parallel_tool_calls: one call after another"
    )
    print(
        f"\nTools that take {latency} a call: our agent trainer ({calls}) against TRL's GRPOTrainer loop, the same "
        f"{args.agent_batch} rollouts a batch and seed, {args.steps} timed batches after {args.warmup_steps} warm-up\n"
    )
    print(
        slow_tools_table(
            [
                ("ours, instant tools", ours_instant),
                (f"ours, tools taking {latency}", ours_slow),
                (f"TRL GRPOTrainer, tools taking {latency}", trl_slow),
            ]
        )
    )
    goals = SLOW_TOOL_GOALS
    print(
        f"\nours slow / ours instant: {step_ratios['ours_slow_vs_instant']:.2f} a training step, "
        f"{ours_slow_vs_instant:.2f} a batch of rollouts (goal: at most {goals['ours_slow_vs_instant_at_most']:g})"
    )
    print(
        f"TRL slow / ours slow: {step_ratios['trl_slow_vs_ours_slow']:.2f} a training step, "
        f"{trl_slow_vs_ours_slow:.2f} a batch of rollouts (goal: at least {goals['trl_slow_vs_ours_slow_at_least']:g})"
    )
    if slow_tools["trl_left_out"]:
        print(
            f"(keys of the recipe TRL's GRPOConfig does not have, left out of its run: "
            f"{', '.join(slow_tools['trl_left_out'])})"
        )
    return {
        "latency_s": args.tool_latency,
        "max_parallel_tool_calls": parallel,
        "ours_instant": ours_instant,
        "ours_slow": ours_slow,
        "trl_slow": trl_slow,
        "ours_slow_vs_instant": ours_slow_vs_instant,
        "trl_slow_vs_ours_slow": trl_slow_vs_ours_slow,
        "per_step": step_ratios,
        "goals": goals,
        "trl_left_out": slow_tools["trl_left_out"],
        "shared_settings": slow_tools["shared_settings"],
    }
