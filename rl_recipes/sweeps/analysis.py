"""The figures of a sweep, read from its runs' own logs: per run (reward, or held-out success, tool use, the
strategies of the last rollouts and whether the run fixated on one), and per arm over its seeds.

Single-turn runs are read from their completions: the mean reward of the last `window` generations against
generations. Agent runs (recipes with `tools` or an `environment_factory`) are read from their held-out
evaluations: the success rate on the test split against rollouts, plus tool use and how many distinct successful
transcripts the last `window` rollouts hold.
"""

from __future__ import annotations

import json
import statistics
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from rl_recipes.run_directory import read_completions, read_log_history

if TYPE_CHECKING:  # the plan imports the algorithm registry, and with it the trainers: not needed to read runs
    from rl_recipes.sweeps.plan import Arm, PlannedRun

# Every completion with its step and reward, one JSON object a line, written with `--save_completions true`.
# A rollout succeeded when it earned the tool tasks' full reward of 1.
SUCCESS = 1.0
# A run fixated when one strategy (`strategy`) is at least this share of its last rollouts.
FIXATION_SHARE = 0.9
# An agent run's figures that its arm gives as median, minimum and maximum over seeds.
AGENT_FIGURES = (
    "held_out_before",
    "held_out_early",
    "held_out_mid",
    "held_out_after",
    "pass@1",
    "pass@k",
    "strategies_per_solved_task",
    "training_success",
    "tool_calls_per_rollout",
    "failed_calls_per_call",
    "distinct_successful_transcripts",
    "successful_strategies",
    "top_strategy_share",
    "train_seconds",
)


def read_run(run_dir: Path) -> tuple[list[dict], list[dict]]:
    """A run's logged completions (one record per generation) and its trainer's log history."""
    return read_completions(run_dir), read_log_history(run_dir)


def train_seconds(history: list[dict]) -> float:
    return next(entry["train_runtime"] for entry in history if "train_runtime" in entry)


def rolling_mean(values: list[float], window: int) -> list[float]:
    means, total = [], 0.0
    for i, value in enumerate(values):
        total += value - (values[i - window] if i >= window else 0.0)
        means.append(total / min(i + 1, window))
    return means


def single_turn_run_figures(run_dir: Path, max_reward: float, window: int) -> dict:
    """The table's numbers for one single-turn run, from the run's own completions log and trainer state."""
    records, history = read_run(run_dir)
    rewards = [record["reward"] for record in records]
    step_logs = [entry for entry in history if "reward" in entry]
    curve = rolling_mean(rewards, window)
    reached = next((i + 1 for i, mean in enumerate(curve) if i + 1 >= window and mean >= 0.9 * max_reward), None)
    return {
        "generations": len(rewards),
        "final_reward": statistics.fmean(rewards[-window:]),
        "best_reward": max(rewards),
        "generations_to_90pct": reached,
        "entropy_at_end": step_logs[-1]["entropy"],
        "distinct_last_50": len({record["completion"] for record in records[-50:]}),
        "train_seconds": train_seconds(history),
        "last_completion": records[-1]["completion"],
        "curve": curve,
    }


def strategy(transcript: str) -> str:
    """A rollout's strategy: the tools it called, in order, with their argument names, and `answer` where it
    wrote text. Values, tool results and the wording of the text are left out, so two rollouts on different
    tasks that took the same steps have the same strategy: `multiply(a, b) > add(a, b) > answer`."""
    steps = []
    for message in json.loads(transcript):
        if message["role"] != "assistant":
            continue
        for call in message.get("tool_calls") or []:
            function = call["function"]
            arguments = function["arguments"]
            names = ", ".join(sorted(arguments)) if isinstance(arguments, dict) else "?"
            steps.append(f"{function['name']}({names})")
        if (message.get("content") or "").strip():
            steps.append("answer")
    return " > ".join(steps) or "(nothing)"


def success_at(curve: list[tuple[int, float]], rollouts: int) -> float:
    """Held-out success at the last evaluation made by `rollouts` rollouts."""
    return [success for at, success in curve if at <= rollouts][-1]


def agent_run_figures(run_dir: Path, arm: Arm, window: int, budgets: tuple[int, int]) -> dict:
    """The table's numbers for one agent run: held-out success from the trainer's evaluations (`eval_reward`) before
    training, at the two `budgets` (rollouts) and at the end; training success, tool use and diversity from the last
    `window` rollouts of the completions log; pass@1, pass@k and strategies per task from the trained model's
    evaluation (`rl_recipes.sweeps.held_out`), where the sweep made one."""
    from rl_recipes.sweeps.held_out import evaluated, held_out_figures

    records, history = read_run(run_dir)
    curve = [(arm.generations_at(entry["step"]), entry["eval_reward"]) for entry in history if "eval_reward" in entry]
    last = records[-window:]
    successful = [record["completion"] for record in last if record["reward"] >= SUCCESS]
    # The most frequent strategy; of equally frequent ones, the first seen.
    top, top_count = Counter(strategy(record["completion"]) for record in last).most_common(1)[0]
    # The step logs of the batches the window's rollouts came from (a reused batch logs no reward of its own).
    last_batches = [entry for entry in history if "reward" in entry and "eval_reward" not in entry][
        -(window // arm.generations_per_batch) :
    ]
    return {
        "generations": len(records),
        "held_out_before": curve[0][1],
        "held_out_early": success_at(curve, budgets[0]),
        "held_out_mid": success_at(curve, budgets[1]),
        "held_out_after": curve[-1][1],
        **(held_out_figures(run_dir, strategy, SUCCESS) if evaluated(run_dir) else {}),
        "rollouts_to_90pct": next((rollouts for rollouts, success in curve if success >= 0.9), None),
        "training_success": len(successful) / len(last),
        "tool_calls_per_rollout": statistics.fmean(entry["tools/call_frequency"] for entry in last_batches),
        "failed_calls_per_call": statistics.fmean(entry["tools/failure_frequency"] for entry in last_batches),
        "distinct_successful_transcripts": len(set(successful)),
        "successful_strategies": len({strategy(transcript) for transcript in successful}),
        "top_strategy": top,
        "top_strategy_share": top_count / len(last),
        "fixated": top_count / len(last) >= FIXATION_SHARE,
        "train_seconds": train_seconds(history),
        "curve": curve,
    }


def run_figures(arm: Arm, run_dir: Path, window: int, max_reward: float | None, budgets=(0, 0)) -> dict:
    """One run's figures, read as its arm is: an agent run from its held-out evaluations, else from its rewards."""
    if arm.agent:
        return agent_run_figures(run_dir, arm, window, budgets)
    return single_turn_run_figures(run_dir, max_reward, window)


def aggregate_single_turn_seeds(runs: list[dict]) -> dict:
    """Mean over seeds of each figure (and the spread of the final reward); runs reaching 90% and their median."""
    reached = [run["generations_to_90pct"] for run in runs if run["generations_to_90pct"] is not None]
    return {
        "final_reward": statistics.fmean(run["final_reward"] for run in runs),
        "final_reward_std": statistics.pstdev(run["final_reward"] for run in runs),
        "best_reward": max(run["best_reward"] for run in runs),
        "runs_reaching_90pct": len(reached),
        "median_generations_to_90pct": statistics.median(reached) if reached else None,
        "entropy_at_end": statistics.fmean(run["entropy_at_end"] for run in runs),
        "distinct_last_50": statistics.fmean(run["distinct_last_50"] for run in runs),
        "train_seconds": statistics.fmean(run["train_seconds"] for run in runs),
    }


def aggregate_agent_seeds(runs: list[dict]) -> dict:
    """Median, minimum and maximum over seeds of each figure; runs reaching 90% and their median rollouts."""
    aggregate = {
        name: {"median": statistics.median(values), "min": min(values), "max": max(values)}
        for name in AGENT_FIGURES
        if all(name in run for run in runs)
        for values in [[run[name] for run in runs]]
    }
    reached = [run["rollouts_to_90pct"] for run in runs if run["rollouts_to_90pct"] is not None]
    aggregate["runs_reaching_90pct"] = len(reached)
    aggregate["median_rollouts_to_90pct"] = statistics.median(reached) if reached else None
    aggregate["runs_fixated"] = sum(run["fixated"] for run in runs)
    return aggregate


def budgets_of(generations: int, eval_every: int | None) -> tuple[int, int]:
    """The two budgets (rollouts) before the end at which agent runs are compared: the second and the fourth
    evaluation after the start (at most the whole budget), where runs that all end near their ceiling still differ."""
    every = eval_every or generations
    return (min(2 * every, generations), min(4 * every, generations))


def sweep_figures(
    tasks: dict[str, list[Arm]],
    planned: list[PlannedRun],
    window: int,
    max_reward: float | None,
    budgets: tuple[int, int] = (0, 0),
) -> dict:
    """{task: {arm name: {"runs": each seed's figures, "summary": the arm's over its seeds}}}; agent runs are read
    at `budgets` (`budgets_of`) too."""
    results = {}
    for task, group in tasks.items():
        results[task] = {}
        for arm in group:
            runs = [run_figures(arm, run.run_dir, window, max_reward, budgets) for run in planned if run.arm is arm]
            aggregate = aggregate_agent_seeds(runs) if arm.agent else aggregate_single_turn_seeds(runs)
            results[task][arm.name] = {"runs": runs, "summary": aggregate}
    return results
