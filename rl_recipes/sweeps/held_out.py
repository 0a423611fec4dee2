"""Each agent run's trained model on the held-out tasks, once the run ends: `samples` rollouts of every test task
with `scripts/evaluate.py` (the recipe's tools, environment and rewards, as the trainer rolls out), for pass@1 and
pass@k, and how many different strategies the successful rollouts of one task took.

The trainer's own evaluations (one rollout a task, every `eval_every` rollouts) give the curve; this gives the end
with k rollouts a task, which a single rollout cannot: pass@k (Chen et al., 2021) and strategies per task.
"""

import json
import sys
from collections import defaultdict
from pathlib import Path

from rl_recipes import REPO_ROOT
from rl_recipes.run_directory import read_json_lines

FIGURES_FILE = "held_out_pass_at_k.json"  # evaluate's --output_json
SAMPLES_FILE = "held_out_samples.jsonl"  # evaluate's --output_completions: every rollout with its prompt and reward


def evaluation_command(settings: dict, run_dir: Path, seed: int, samples: int) -> list[str]:
    """`scripts/evaluate.py` on the model `run_dir` holds, with the rollout and reward settings of its recipe."""
    command = [
        sys.executable,
        str(REPO_ROOT / "scripts" / "evaluate.py"),
        "--models",
        str(run_dir),
        "--dataset_name",
        str(settings["dataset_name"]),
        "--dataset_split",
        str(settings["dataset_test_split"]),
        "--num_samples",
        str(samples),
        "--pass_at_k",
        *sorted({"1", str(samples)}, key=int),
        "--max_completion_length",
        str(settings["max_completion_length"]),
        "--temperature",
        str(settings.get("temperature", 1.0)),
        "--seed",
        str(seed),
        "--batch_size",
        "100",
        "--output_json",
        str(run_dir / FIGURES_FILE),
        "--output_completions",
        str(run_dir / SAMPLES_FILE),
        "--overwrite_outputs",
        "true",
    ]
    if settings.get("reward_funcs"):
        command += ["--reward_funcs", *settings["reward_funcs"]]
    if settings.get("tools"):
        command += ["--tools", *settings["tools"]]
    for key in ("environment_factory", "max_tool_calling_iterations", "tool_call_timeout"):
        if settings.get(key) is not None:
            command += [f"--{key}", str(settings[key])]
    return command


def evaluated(run_dir: Path) -> bool:
    return (Path(run_dir) / FIGURES_FILE).is_file() and (Path(run_dir) / SAMPLES_FILE).is_file()


def held_out_figures(run_dir: Path, strategy, success: float) -> dict:
    """{"pass@1", "pass@k" (k the samples a task), "strategies_per_solved_task"}: the mean over the held-out tasks
    with a success of the number of different strategies (`strategy` of a transcript) their successful rollouts
    took."""
    figures = json.loads((Path(run_dir) / FIGURES_FILE).read_text())
    result, samples = figures["results"][0], figures["settings"]["num_samples"]
    by_task = defaultdict(set)
    for record in read_json_lines(Path(run_dir) / SAMPLES_FILE):
        if record["reward"] is not None and record["reward"] >= success:
            by_task[record["task"]].add(strategy(json.dumps(record["completion"])))
    solved = [len(strategies) for strategies in by_task.values()]
    return {
        "pass@1": result["pass@1"],
        "pass@k": result[f"pass@{samples}"],
        "samples_per_task": samples,
        "strategies_per_solved_task": sum(solved) / len(solved) if solved else 0.0,
    }
