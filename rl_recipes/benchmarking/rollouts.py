"""Agent rollouts and training steps timed on fixed batches of the calculator recipe's tasks: the batches (warm-up
ones first, each task repeated as the trainer's sampler repeats it), the flags every agent contender is built with,
and the per-batch and per-step timings that `agents` and `slow_tools` compare."""

import statistics
import time

import torch

from rl_recipes import REPO_ROOT
from rl_recipes.benchmarking.arguments import BenchmarkArguments
from rl_recipes.benchmarking.builders import precision_overrides

AGENT_RECIPE = REPO_ROOT / "recipes" / "configs" / "calculator" / "rloo.yaml"


def agent_overrides(args: BenchmarkArguments, output_dir: str) -> list[str]:
    """The agent mode's flags on top of the calculator recipe, for every trainer it builds: no evaluation."""
    return [
        "--model_name_or_path",
        args.agent_model,
        "--output_dir",
        output_dir,
        *precision_overrides(args),
        "--per_device_train_batch_size",
        str(args.agent_batch),
        "--eval_strategy",
        "no",
        "--eval_on_start",
        "false",
    ]


def parallel_tool_calls_override(args: BenchmarkArguments) -> list[str]:
    """`--max_parallel_tool_calls` for our agent trainer; none for 0 (the recipe's own)."""
    return ["--max_parallel_tool_calls", str(args.max_parallel_tool_calls)] if args.max_parallel_tool_calls else []


def agent_batches(trainer, args: BenchmarkArguments) -> list[list]:
    """The prompts of each batch (warm-up ones first): `args.agent_batch // k` tasks in the data set's order, each k
    times, as the trainer's sampler repeats them."""
    return [[row["prompt"] for row in rows] for rows in agent_row_batches(trainer, args)]


def agent_row_batches(trainer, args: BenchmarkArguments) -> list[list[dict]]:
    """The rows of each batch, as `agent_batches` orders them: what a training step takes (the rewards read the
    other columns)."""
    rows, k = list(trainer.train_dataset), trainer.num_generations
    tasks = args.agent_batch // k
    return [
        [row for row in rows[step * tasks : (step + 1) * tasks] for _ in range(k)]
        for step in range(args.warmup_steps + args.steps)
    ]


def time_training_steps(trainer, args: BenchmarkArguments) -> float:
    """Seconds a whole training step takes (the trainer's `training_step`: rollouts, rewards, advantages, the loss and
    its backward pass) on the same batches, from the trainer's seed; the mean over the timed steps. The optimiser's
    update is left out, so every step starts from the same weights."""
    from transformers import set_seed

    set_seed(trainer.args.seed)
    trainer.current_gradient_accumulation_steps = trainer.args.gradient_accumulation_steps  # train() sets it, per epoch
    times = []
    for step, rows in enumerate(agent_row_batches(trainer, args)):
        start = time.perf_counter()
        trainer.training_step(trainer.model, rows, None)
        if args.device == "cuda":
            torch.cuda.synchronize()
        if step >= args.warmup_steps:
            times.append(time.perf_counter() - start)
        trainer.model.zero_grad(set_to_none=True)
    return statistics.fmean(times)


def time_rollouts(trainer, batches: list[list], args: BenchmarkArguments, timer, slow=None) -> list[dict]:
    """Each timed batch of rollouts through the trainer's own `_generate`, from the trainer's seed: its seconds, the
    phases `timer` (a `timing.PhaseTimer`) noted, model tokens and tool calls a rollout (the trainer's metrics), and
    the calls `slow` (a `slow_tools.SlowTools`) noted."""
    from transformers import set_seed

    set_seed(trainer.args.seed)  # every contender samples from the same state
    steps = []
    for step, prompts in enumerate(batches):
        if slow:
            slow.take()
        timer.current = {}
        start = timer.now()
        trainer._generate(prompts)
        total = timer.now() - start
        metrics = trainer._metrics["train"]
        # The trainers' own metrics: completion lengths in the model's tokens (tool results left out), calls a rollout.
        record = {
            "total": total,
            "tokens": round(metrics["completions/mean_length"][-1] * len(prompts)),
            "tool_calls_per_rollout": metrics["tools/call_frequency"][-1],
            **timer.current,
        }
        if slow:
            record["slow_calls"], record["tool_wait"] = slow.take()
        if step >= args.warmup_steps:
            steps.append(record)
    return steps


def rollout_summary(steps: list[dict]) -> dict:
    """Means over the timed batches: seconds, tool calls a rollout, and with slow tools their calls and waiting."""
    summary = {
        "seconds_per_batch": statistics.fmean(step["total"] for step in steps),
        "tool_calls_per_rollout": statistics.fmean(step["tool_calls_per_rollout"] for step in steps),
    }
    if "slow_calls" in steps[0]:
        summary["slow_calls_per_batch"] = statistics.fmean(step["slow_calls"] for step in steps)
        summary["tool_wait_s_per_batch"] = statistics.fmean(step["tool_wait"] for step in steps)
    return summary
