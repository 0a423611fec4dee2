"""The benchmark's contenders that run in processes of their own, and how they are started.

    python -m rl_recipes.benchmarking.workers --worker rloo --json_path result.json [benchmark flags]
    accelerate launch ... -m rl_recipes.benchmarking.workers --worker launch_memory --json_path result.json ...

- `launch_memory`: one launched process of a `--launch_memory` contender: the RLOO recipe's trainer with its share of
  `--generations_per_step` (the launch's processes split each step's generations), timed, with the bytes it holds;
  it writes `JSON_PATH.rank<rank>`.
- `rloo` and `floor`: one `--cost_growth` contender in a fresh process (a process's resident-set peak cannot be reset
  below what it already holds, and the allocator keeps what a larger model before it freed); it writes `JSON_PATH`.

The other flags are the benchmark's own (`BenchmarkArguments`).
"""

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path

from transformers import HfArgumentParser

from rl_recipes import REPO_ROOT
from rl_recipes.benchmarking.arguments import BenchmarkArguments, BenchmarkError
from rl_recipes.saving import strict_json

MODULE = "rl_recipes.benchmarking.workers"
WORKERS = ("launch_memory", "rloo", "floor")
# The settings a worker is started with: the rest are the parent's business (modes, time to reward, ...).
WORKER_SETTINGS = (
    "model_name_or_path",
    "generations_per_step",
    "completion_length",
    "dtype",
    "device",
    "steps",
    "warmup_steps",
    "use_peft",
    "gradient_checkpointing",
)


@dataclass
class WorkerArguments:
    worker: str = field(
        metadata={"help": f"Which contender this process runs: {', '.join(WORKERS)}.", "choices": WORKERS}
    )


def worker_command(worker: str, args: BenchmarkArguments, json_path: Path) -> list[str]:
    """The arguments after `python` (or `accelerate launch ...`) that start `worker` with `args`' settings."""
    command = ["-m", MODULE, "--worker", worker, "--json_path", str(json_path)]
    for key in WORKER_SETTINGS:
        value = getattr(args, key)
        command += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    return command


def run_worker(command: list[str], name: str) -> None:
    """Run a worker's command from the repository root; a failure stops the benchmark with its error output's end."""
    import subprocess

    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        raise BenchmarkError(f"the {name} contender failed (exit {result.returncode}):\n{result.stderr[-3000:]}")


def launch_memory_worker(args: BenchmarkArguments) -> None:
    """One process of a launch setup: the RLOO recipe's trainer, timed, with its memory; a JSON file per rank."""
    from rl_recipes.algorithms import ALGORITHMS
    from rl_recipes.benchmarking.builders import recipe_builder
    from rl_recipes.benchmarking.memory import HeldBytes, PeakMemory
    from rl_recipes.benchmarking.timing import time_recipe

    rank = int(os.environ.get("RANK", "0"))  # set by the launcher; the process group is gone when the file is written
    processes = int(os.environ.get("WORLD_SIZE", "1"))
    held = HeldBytes()
    extra = ["--num_generations", str(args.generations_per_step)]
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true":
        extra += ["--use_cpu", "false"]  # on CPU by DeepSpeed's own choice; use_cpu would bypass DeepSpeed
    share = replace(args, generations_per_step=args.generations_per_step // processes)  # this process's generations
    result = time_recipe(
        "RLOO trainer", recipe_builder(ALGORITHMS["rloo"]), extra, share, PeakMemory(args.device), callbacks=[held]
    )
    result.update(weights_mib=held.weights_mib, optimizer_mib=held.optimizer_mib)
    Path(f"{args.json_path}.rank{rank}").write_text(strict_json(result))


def cost_growth_worker(args: BenchmarkArguments, contender: str) -> None:
    from rl_recipes.benchmarking.floor import time_floor
    from rl_recipes.benchmarking.memory import PeakMemory
    from rl_recipes.benchmarking.timing import time_rloo

    memory = PeakMemory(args.device)
    result = time_rloo("RLOO trainer", args, memory) if contender == "rloo" else time_floor(args, memory)
    Path(args.json_path).write_text(strict_json(result))


def main(argv: list[str] | None = None) -> None:
    worker, args = HfArgumentParser((WorkerArguments, BenchmarkArguments)).parse_args_into_dataclasses(argv)
    os.chdir(REPO_ROOT)  # the recipes name their prompts relative to the repository root
    if worker.worker == "launch_memory":
        launch_memory_worker(args)
    else:
        cost_growth_worker(args, worker.worker)


if __name__ == "__main__":
    main(sys.argv[1:])
