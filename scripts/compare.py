"""Compare recipes on one task or several: several seeds each, the same budget of generations, one plot.

    python scripts/compare.py                                   # REINFORCE vs RLOO on the a-word task (about 18 minutes on 2 cores)
    python scripts/compare.py --study agents --jobs 2           # five algorithms on the two tool tasks (about 65 minutes)
    python scripts/compare.py --configs recipes/configs/a_words/reinforce.yaml recipes/configs/a_words/rloo.yaml \\
        --seeds 0 1 --generations 300 --output_dir outputs/my_sweep

Each run is an ordinary recipe run (`accelerate launch recipes/<algorithm>.py --config <yaml>`) with
its seed, its output directory under `output_dir`, and as many steps as the budget allows. The x-axis
is the number of generations, as in the background text: one RLOO step of 10 completions counts as
10, and for an agent task one generation is one rollout, the whole multi-turn trajectory. A recipe
that reuses each batch of rollouts for several optimisation epochs (`num_iterations`) takes that many
steps per batch, so every arm samples the same number of rollouts. The recipe script follows from
the YAML's file name (`recipe_script`). Recipes are grouped into tasks by their directory; within a
task they must share model and completion length.

Single-turn tasks (the a-word task) are read from the completions: the mean reward of the last
`window` generations against generations. Agent tasks (recipes with `tools` or an
`environment_factory`) are read from the held-out evaluation: the success rate on the test split
against rollouts, plus tool use and how many distinct successful transcripts the last `window`
rollouts hold (`agent_run_summary`). Written to `output_dir`:

- `reward_vs_generations.png` (single-turn: one line per run) or `success_vs_rollouts.png` (agents:
  one panel per task, one line per recipe, the median over seeds with the range as a band);
- `results.md`: a table with a row per run and a summary row per recipe, the settings, and (single
  turn) each run's last completion; `results.json`: the same numbers for programs.
"""

import json
import math
import os
import statistics
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from transformers import HfArgumentParser

from rl_recipes import REPO_ROOT, recipe_script
from rl_recipes.embedded import ensure_embedded_model
from rl_recipes.saving import strict_json

CONFIG_DIR = REPO_ROOT / "recipes" / "configs"
AGENT_ARMS = ("reinforce", "reinforce_moving_average", "rloo", "grpo", "loo_ppo")


@dataclass(frozen=True)
class Study:
    """A named sweep: its recipes and the budget, window and evaluation interval it is read with."""

    configs: tuple[str, ...]
    generations: int
    window: int
    eval_every: int | None = None


STUDIES = {
    "a_words": Study(
        tuple(str(CONFIG_DIR / "a_words" / f"{name}.yaml") for name in ("reinforce", "reinforce_moving_average", "rloo", "grpo")),
        generations=500, window=50,
    ),
    # 100 steps of 64 rollouts; the held-out split is scored every 20 such steps; the window is the last 8 steps.
    "agents": Study(
        tuple(str(CONFIG_DIR / task / f"{arm}.yaml") for task in ("calculator", "vault") for arm in AGENT_ARMS),
        generations=6400, window=512, eval_every=1280,
    ),
}
# A rollout succeeded when it earned the tool tasks' full reward of 1.
SUCCESS = 1.0
# A run fixated when one strategy (`strategy`) is at least this share of its last rollouts.
FIXATION_SHARE = 0.9


@dataclass
class CompareArguments:
    study: str = field(default="a_words", metadata={"help": "Named sweep whose recipes and budget are the defaults.",
                                                    "choices": list(STUDIES)})
    configs: list[str] | None = field(default=None, metadata={"help": "Recipe YAMLs to compare; none given: the study's."})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3], metadata={"help": "Seeds; every recipe runs each."})
    generations: int | None = field(
        default=None, metadata={"help": "Budget of generations (completions, or rollouts for an agent task) per run; "
                                        "none given: the study's."})
    window: int | None = field(
        default=None, metadata={"help": "Last generations the final figures are read from; none given: the study's, at most the budget."})
    eval_every: int | None = field(
        default=None, metadata={"help": "Agent tasks: generations between held-out evaluations; none given: the study's."})
    jobs: int = field(default=1, metadata={"help": "Runs at a time; each gets an equal share of the CPU cores."})
    output_dir: str = field(default="outputs/compare", metadata={"help": "Where runs, plot and table go."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Allow an output directory with files in it."})
    resume: bool = field(
        default=False, metadata={"help": "Keep the runs the output directory already holds finished with this budget, "
                                         "run only the others, and make the tables anew from all of them."})
    model_name_or_path: str | None = field(default=None, metadata={"help": "Override every recipe's model."})
    max_completion_length: int | None = field(default=None, metadata={"help": "Override every recipe's length."})


@dataclass
class Arm:
    """One recipe of the sweep, on one task."""

    name: str
    task: str
    config: Path
    script: Path
    settings: dict
    label: str = ""  # the arm's name in the output directory and the JSON: `name`, or `task/name` when tasks are mixed

    @property
    def agent(self) -> bool:
        return bool(self.settings.get("tools") or self.settings.get("environment_factory"))

    @property
    def batch(self) -> int:
        """Generations sampled per batch of rollouts (one process: a step's whole generation batch)."""
        return self.settings.get("per_device_train_batch_size", 8) * self.settings.get("gradient_accumulation_steps", 1)

    @property
    def steps_per_batch(self) -> int:
        """Optimisation steps each batch is used for (TRL's num_iterations)."""
        return self.settings.get("num_iterations", 1)

    def steps_for(self, generations: int) -> int:
        return generations // self.batch * self.steps_per_batch

    def generations_at(self, step: int) -> int:
        """Generations sampled by the end of optimisation step `step`."""
        return math.ceil(step / self.steps_per_batch) * self.batch


def load_arm(config: str, overrides: dict) -> Arm:
    path = Path(config).resolve()
    if not path.is_file():
        sys.exit(f"error: recipe {path} does not exist.")
    settings = {**yaml.safe_load(path.read_text()), **overrides}
    return Arm(path.stem, path.parent.name, path, REPO_ROOT / "recipes" / recipe_script(path), settings)


def rolling_mean(values: list[float], window: int) -> list[float]:
    means, total = [], 0.0
    for i, value in enumerate(values):
        total += value - (values[i - window] if i >= window else 0.0)
        means.append(total / min(i + 1, window))
    return means


class Run:
    """One recipe with one seed, as a child process; `generated` counts its logged generations."""

    def __init__(self, arm: Arm, seed: int, run_dir: Path, args: CompareArguments, threads: int):
        self.arm, self.seed, self.run_dir, self.generated = arm, seed, run_dir, 0
        command = [
            sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(REPO_ROOT / "accelerate_configs" / "cpu.yaml"),
            str(arm.script), "--config", str(arm.config), "--seed", str(seed), "--output_dir", str(run_dir),
            "--max_steps", str(arm.steps_for(args.generations)), "--save_completions", "true", "--overwrite_output_dir", "true",
            "--save_strategy", "no", "--report_to", "none",
        ]
        for key in ("model_name_or_path", "max_completion_length"):
            if getattr(args, key) is not None:
                command += [f"--{key}", str(getattr(args, key))]
        if arm.agent and args.eval_every:
            command += ["--eval_steps", str(args.eval_every // arm.batch * arm.steps_per_batch)]
        run_dir.mkdir(parents=True, exist_ok=True)
        # Runs side by side share the cores instead of each starting a thread per core.
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
        self.log = open(run_dir / "train.log", "w")
        self.process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=self.log, stderr=subprocess.STDOUT, env=env)

    def poll(self) -> int | None:
        """The exit status once the run ended, else None; updates `generated`."""
        completions = self.run_dir / "completions.jsonl"
        if completions.is_file():
            with open(completions) as f:
                self.generated = sum(1 for _ in f)
        status = self.process.poll()
        if status is not None:
            self.log.close()
        return status

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait()
        self.log.close()


def threads_per_run(jobs: int) -> int:
    return max(1, (os.cpu_count() or 1) // jobs)


def run_all(planned: list[tuple[Arm, int, Path]], args: CompareArguments, progress) -> None:
    """Run every (arm, seed, run directory), `args.jobs` at a time; the first failure stops the others and the sweep."""
    threads = threads_per_run(args.jobs)
    waiting, running = list(planned), []
    try:
        while waiting or running:
            while waiting and len(running) < args.jobs:
                running.append(Run(*waiting.pop(0), args, threads))
            time.sleep(1)
            for run in list(running):
                before = run.generated
                status = run.poll()
                progress.update(run.generated - before)
                if status is None:
                    continue
                running.remove(run)
                if status != 0:
                    sys.exit(f"error: {run.arm.label} seed {run.seed} failed (exit {status}); see {run.run_dir / 'train.log'}")
                progress.update(args.generations - run.generated)
                progress.write(f"{run.arm.label} seed {run.seed}: done")
    finally:
        for run in running:
            run.stop()


def finished(run_dir: Path, generations: int) -> bool:
    """Whether `run_dir` holds a run that ended and logged `generations` generations."""
    try:
        records, history = read_run(run_dir)
    except (OSError, ValueError):
        return False
    return len(records) == generations and any("train_runtime" in entry for entry in history)


def train_seconds(history: list[dict]) -> float:
    return next(entry["train_runtime"] for entry in history if "train_runtime" in entry)


def read_run(run_dir: Path) -> tuple[list[dict], list[dict]]:
    """A run's logged completions (one record per generation) and its trainer's log history."""
    records = [json.loads(line) for line in open(run_dir / "completions.jsonl")]
    history = json.loads((run_dir / "trainer_state.json").read_text())["log_history"]
    return records, history


def single_turn_run_summary(run_dir: Path, max_reward: float, window: int) -> dict:
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


def agent_run_summary(run_dir: Path, arm: Arm, window: int) -> dict:
    """The table's numbers for one agent run: held-out success from the trainer's evaluations (`eval_reward`),
    training success, tool use and diversity from the last `window` rollouts of the completions log."""
    records, history = read_run(run_dir)
    curve = [(arm.generations_at(entry["step"]), entry["eval_reward"]) for entry in history if "eval_reward" in entry]
    last = records[-window:]
    successful = [record["completion"] for record in last if record["reward"] >= SUCCESS]
    # The most frequent strategy; of equally frequent ones, the first seen.
    top, top_count = Counter(strategy(record["completion"]) for record in last).most_common(1)[0]
    # The step logs of the batches the window's rollouts came from (a reused batch logs no reward of its own).
    last_batches = [entry for entry in history if "reward" in entry and "eval_reward" not in entry][-(window // arm.batch):]
    return {
        "generations": len(records),
        "held_out_before": curve[0][1],
        "held_out_after": curve[-1][1],
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


def single_turn_arm_summary(runs: list[dict]) -> dict:
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


AGENT_FIGURES = ("held_out_before", "held_out_after", "training_success", "tool_calls_per_rollout", "failed_calls_per_call",
                 "distinct_successful_transcripts", "successful_strategies", "top_strategy_share", "train_seconds")


def agent_arm_summary(runs: list[dict]) -> dict:
    """Median, minimum and maximum over seeds of each figure; runs reaching 90% and their median rollouts."""
    summary = {name: {"median": statistics.median(values), "min": min(values), "max": max(values)}
               for name in AGENT_FIGURES for values in [[run[name] for run in runs]]}
    reached = [run["rollouts_to_90pct"] for run in runs if run["rollouts_to_90pct"] is not None]
    summary["runs_reaching_90pct"] = len(reached)
    summary["median_rollouts_to_90pct"] = statistics.median(reached) if reached else None
    summary["runs_fixated"] = sum(run["fixated"] for run in runs)
    return summary


def plot_single_turn(results: dict, max_reward: float, window: int, path: Path) -> None:
    from rl_recipes.curves import draw_maximum, pyplot, save_figure

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(9, 5.5))
    colours = plt.get_cmap("tab10").colors
    for colour, (arm, arm_results) in zip(colours, results.items()):
        for i, run in enumerate(arm_results["runs"]):
            generations = range(1, len(run["curve"]) + 1)
            ax.plot(generations, run["curve"], color=colour, alpha=0.8, linewidth=1.2, label=arm if i == 0 else None)
    draw_maximum(ax, max_reward)
    ax.set_xlabel("generations (completions sampled)")
    ax.set_ylabel(f"a-word reward (mean of the last {window} generations)")
    ax.set_title("REINFORCE vs RLOO on the tiny story model: one line per seed")
    ax.set_ylim(bottom=0)
    ax.legend(loc="center right")
    ax.grid(alpha=0.3)
    save_figure(fig, path)


def plot_agents(tasks: dict, seeds: list[int], path: Path) -> None:
    """One panel per task: held-out success against rollouts, per recipe the median over seeds and the range as a band."""
    from rl_recipes.curves import pyplot, save_figure

    plt = pyplot()
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.5 * len(tasks), 5), squeeze=False)
    colours = plt.get_cmap("tab10").colors
    for ax, (task, results) in zip(axes[0], tasks.items()):
        for colour, (arm, arm_results) in zip(colours, results.items()):
            curves = [run["curve"] for run in arm_results["runs"]]
            rollouts = [x for x, _ in curves[0]]
            by_point = [[curve[i][1] for curve in curves] for i in range(len(rollouts))]
            ax.plot(rollouts, [statistics.median(v) for v in by_point], color=colour, linewidth=1.8, marker="o",
                    markersize=3, label=arm)
            ax.fill_between(rollouts, [min(v) for v in by_point], [max(v) for v in by_point], color=colour, alpha=0.15)
        ax.axhline(0.9, color="black", linestyle="--", linewidth=1, label="90% success")
        over = f"median and range over {len(seeds)} seeds" if len(seeds) > 1 else f"seed {seeds[0]}"
        ax.set_title(f"{task}: held-out success, {over}")
        ax.set_xlabel("rollouts sampled")
        ax.set_ylabel("held-out success rate")
        ax.set_ylim(0, 1)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    save_figure(fig, path)


def _reached(value) -> str:
    return "never" if value is None else str(value)


def single_turn_table(results: dict, args: CompareArguments) -> str:
    lines = [
        f"| recipe | seed | final reward (last {args.window}) | best reward | generations to 90% | "
        "entropy at end | distinct of last 50 | train time (s) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for arm, arm_results in results.items():
        for seed, run in zip(args.seeds, arm_results["runs"]):
            lines.append(
                f"| {arm} | {seed} | {run['final_reward']:.1f} | {run['best_reward']:.0f} | "
                f"{_reached(run['generations_to_90pct'])} | {run['entropy_at_end']:.3f} | "
                f"{run['distinct_last_50']} | {run['train_seconds']:.0f} |"
            )
        s = arm_results["summary"]
        median = s["median_generations_to_90pct"]
        lines.append(
            f"| **{arm}** | all | **{s['final_reward']:.1f} ± {s['final_reward_std']:.1f}** | {s['best_reward']:.0f} | "
            f"{s['runs_reaching_90pct']}/{len(arm_results['runs'])} runs, median {_reached(median)} | "
            f"{s['entropy_at_end']:.3f} | {s['distinct_last_50']:.1f} | {s['train_seconds']:.0f} |"
        )
    return "\n".join(lines)


# (figure, column heading, format) in the agent table's column order, after recipe, seed.
AGENT_COLUMNS = [
    ("held_out_before", "held-out success before", "{:.2f}"),
    ("held_out_after", "held-out success after", "{:.2f}"),
    ("rollouts_to_90pct", "rollouts to 90% held-out", None),
    ("training_success", "training success (last {window})", "{:.2f}"),
    ("tool_calls_per_rollout", "tool calls per rollout", "{:.2f}"),
    ("failed_calls_per_call", "failed calls per call", "{:.3f}"),
    ("distinct_successful_transcripts", "distinct successful transcripts", "{:.0f}"),
    ("successful_strategies", "successful strategies", "{:.0f}"),
    ("top_strategy_share", "top strategy share", "{:.2f}"),
    ("train_seconds", "train time (s)", "{:.0f}"),
]


def agent_table(results: dict, args: CompareArguments) -> str:
    headings = [heading.format(window=args.window) for _, heading, _ in AGENT_COLUMNS]
    lines = ["| recipe | seed | " + " | ".join(headings) + " |", "|" + " --- |" * (len(headings) + 2)]
    for arm, arm_results in results.items():
        for seed, run in zip(args.seeds, arm_results["runs"]):
            cells = [_reached(run[name]) if form is None else form.format(run[name]) for name, _, form in AGENT_COLUMNS]
            lines.append(f"| {arm} | {seed} | " + " | ".join(cells) + " |")
        s = arm_results["summary"]
        cells = []
        for name, _, form in AGENT_COLUMNS:
            if form is None:
                cells.append(f"{s['runs_reaching_90pct']}/{len(arm_results['runs'])} runs, "
                             f"median {_reached(s['median_rollouts_to_90pct'])}")
            else:
                figure = s[name]
                cells.append(f"**{form.format(figure['median'])}** ({form.format(figure['min'])}-{form.format(figure['max'])})")
                if name == "top_strategy_share":
                    cells[-1] += f", {s['runs_fixated']}/{len(arm_results['runs'])} runs fixated"
        lines.append(f"| **{arm}** | median (range) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def settings_lines(arms: list[Arm]) -> list[str]:
    keys = ("num_generations", "per_device_train_batch_size", "num_iterations", "epsilon", "learning_rate", "optim",
            "baseline", "baseline_decay", "scale_rewards", "loss_type", "beta", "temperature", "max_completion_length")
    lines = []
    for arm in arms:
        shown = ", ".join(f"{k}={arm.settings[k]}" for k in keys if k in arm.settings)
        where = arm.config.relative_to(REPO_ROOT) if arm.config.is_relative_to(REPO_ROOT) else arm.config
        per_batch = f"{arm.batch} generation{'s' if arm.batch != 1 else ''} per batch"
        if arm.steps_per_batch > 1:
            per_batch += f", each batch used for {arm.steps_per_batch} steps"
        lines.append(f"- `{arm.label}` ({where}, {per_batch}): {shown}")
    return lines


def single_turn_report(results: dict, arms: list[Arm], max_reward: float, args: CompareArguments) -> str:
    completions = [
        f"- {arm} seed {seed}: `{run['last_completion'].strip()}`"
        for arm, arm_results in results.items()
        for seed, run in zip(args.seeds, arm_results["runs"])
    ]
    return "\n".join([
        "# REINFORCE vs RLOO on the a-word task",
        "",
        f"Budget: {args.generations} generations per run; seeds {', '.join(map(str, args.seeds))}; "
        f"maximum possible reward {max_reward:g} (computed from the tokenizer and completion length).",
        "Final reward: mean reward of the last "
        f"{args.window} generations. Best reward: the best single completion. Generations to 90%: the first "
        f"generation at which the mean of the last {args.window} reaches 90% of the maximum. Entropy: the mean "
        "token entropy of the last step's completions. Train time: the trainer's own runtime on 2 CPU cores.",
        "",
        single_turn_table(results, args),
        "",
        "Settings:",
        "",
        *settings_lines(arms),
        "",
        "Last completion of each run:",
        "",
        *completions,
        "",
    ])


def agent_report(tasks: dict, arms: list[Arm], args: CompareArguments, threads: int) -> str:
    sections = []
    for task, results in tasks.items():
        fixations = [f"- {arm} seed {seed}: `{run['top_strategy']}` ({run['top_strategy_share']:.0%} of the last {args.window})"
                     for arm, arm_results in results.items() for seed, run in zip(args.seeds, arm_results["runs"])]
        sections += [f"## {task}", "", agent_table(results, args), "", "Most frequent strategy of each run:", "", *fixations, ""]
    return "\n".join([
        "# Agent recipes on the tool tasks",
        "",
        f"Budget: {args.generations} rollouts per run; seeds {', '.join(map(str, args.seeds))}; the held-out split "
        f"scored every {args.eval_every} rollouts; {args.jobs} run(s) at a time, {threads} CPU thread(s) each.",
        f"Success: a rollout earns the full reward of {SUCCESS:g}. Held-out success: the trainer's `eval_reward`, one "
        "rollout of every test task. Rollouts to 90%: the first evaluation at 90% held-out success. Training success, "
        f"tool use and transcripts: the last {args.window} training rollouts (tool use as the trainer logs it). A "
        "strategy is the tools a rollout called, in order, with their argument names, and `answer` where it wrote text; "
        f"a run fixated when one strategy is at least {FIXATION_SHARE:.0%} of its last rollouts. Train time: the "
        "trainer's own runtime, evaluations included.",
        "",
        *sections,
        "Settings:",
        "",
        *settings_lines(arms),
        "",
    ])


def summarise(arm: Arm, run_dir: Path, args: CompareArguments, max_reward: float | None) -> dict:
    if arm.agent:
        return agent_run_summary(run_dir, arm, args.window)
    return single_turn_run_summary(run_dir, max_reward, args.window)


def check_arms(arms: list[Arm], args: CompareArguments, eval_every_given: bool) -> dict[str, list[Arm]]:
    """The arms grouped by task, each group comparable; a one-line error otherwise."""
    tasks: dict[str, list[Arm]] = {}
    for arm in arms:
        tasks.setdefault(arm.task, []).append(arm)
    for task, group in tasks.items():
        if len({arm.settings["model_name_or_path"] for arm in group}) != 1 or \
                len({arm.settings["max_completion_length"] for arm in group}) != 1:
            sys.exit("error: the recipes must share model and completion length to be compared: override them with "
                     "--model_name_or_path and --max_completion_length.")
        if len({arm.agent for arm in group}) != 1:
            sys.exit(f"error: the recipes of {task} mix agent and single-turn recipes: compare them in separate sweeps.")
        if len({arm.name for arm in group}) != len(group):
            sys.exit(f"error: two recipes of {task} have the same file name: rename one.")
    if len(tasks) > 1 and not all(arm.agent for arm in arms):
        sys.exit("error: a single-turn sweep compares recipes of one task: give the YAMLs of one directory.")
    for arm in arms:
        arm.label = f"{arm.task}/{arm.name}" if len(tasks) > 1 else arm.name
        if args.generations % arm.batch:
            sys.exit(f"error: --generations {args.generations} is not a whole number of {arm.label}'s batches of "
                     f"{arm.batch}: give a multiple of {arm.batch}.")
        if not arm.agent and eval_every_given:
            sys.exit(f"error: --eval_every sets when agent recipes are scored on held-out tasks, and {arm.label} is "
                     "single-turn (read from its rewards): leave --eval_every out.")
        if arm.agent and not (arm.settings.get("dataset_test_split") and arm.settings.get("eval_strategy") == "steps"
                              and arm.settings.get("eval_on_start")):
            sys.exit(f"error: {arm.label} is read from its held-out success, so its YAML needs dataset_test_split, "
                     "eval_strategy: steps and eval_on_start: true, as the shipped agent recipes have.")
        if arm.agent and (args.window % arm.batch or not arm.batch <= args.window <= args.generations):
            sys.exit(f"error: --window {args.window} must be whole batches of {arm.label}'s {arm.batch} rollouts, "
                     f"at most --generations {args.generations}: the end figures are read from whole batches.")
        if arm.agent and (not args.eval_every or args.eval_every % arm.batch or args.generations % args.eval_every):
            sys.exit(f"error: --eval_every must be a multiple of {arm.label}'s batch of {arm.batch} that divides "
                     f"--generations {args.generations}, so every run is scored at the same rollouts and at its end (--eval_every {arm.batch} always is).")
    return tasks


def main() -> None:
    (args,) = HfArgumentParser(CompareArguments).parse_args_into_dataclasses()
    study = STUDIES[args.study]
    eval_every_given = args.eval_every is not None
    args.configs = args.configs or list(study.configs)
    for key in ("generations", "eval_every"):
        if getattr(args, key) is None:
            setattr(args, key, getattr(study, key))
    if args.window is None:  # the study's, or the whole budget when a smaller one is given
        args.window = min(study.window, args.generations)
    if args.jobs < 1:
        sys.exit(f"error: --jobs is {args.jobs}: give 1 or more runs at a time.")
    if args.model_name_or_path and Path(args.model_name_or_path).exists():
        args.model_name_or_path = str(Path(args.model_name_or_path).resolve())
    overrides = {k: getattr(args, k) for k in ("model_name_or_path", "max_completion_length") if getattr(args, k) is not None}
    arms = [load_arm(config, overrides) for config in args.configs]
    tasks = check_arms(arms, args, eval_every_given)
    output_dir = Path(args.output_dir).resolve()
    if output_dir.is_dir() and any(output_dir.iterdir()) and not (args.overwrite_output_dir or args.resume):
        sys.exit(f"error: {output_dir} already holds files: pass another --output_dir, --resume true to keep its "
                 "finished runs, or --overwrite_output_dir true.")
    from tqdm.auto import tqdm
    from transformers import AutoTokenizer

    from rewards.a_words import max_a_words

    os.chdir(REPO_ROOT)  # recipes name their model and prompts relative to the repository root
    for model in {arm.settings["model_name_or_path"] for arm in arms}:
        ensure_embedded_model(model)
    single_turn = [arm for arm in arms if not arm.agent]
    max_reward = None
    if single_turn:
        arm = single_turn[0]
        max_reward = max_a_words(AutoTokenizer.from_pretrained(arm.settings["model_name_or_path"]),
                                 arm.settings["max_completion_length"])

    planned = [(arm, seed, output_dir / arm.label / f"seed-{seed}") for arm in arms for seed in args.seeds]
    to_run = [run for run in planned if not (args.resume and finished(run[2], args.generations))]
    if len(to_run) < len(planned):
        print(f"resuming: {len(planned) - len(to_run)} of {len(planned)} runs already finished in {output_dir}")
    with tqdm(total=len(to_run) * args.generations, unit="gen", desc="sweep") as progress:
        run_all(to_run, args, progress)

    results = {task: {arm.name: {"runs": [summarise(arm, run_dir, args, max_reward) for a, _, run_dir in planned if a is arm]}
                      for arm in group} for task, group in tasks.items()}
    for task, group in tasks.items():
        for arm in group:
            runs = results[task][arm.name]["runs"]
            results[task][arm.name]["summary"] = agent_arm_summary(runs) if arm.agent else single_turn_arm_summary(runs)

    output_dir.mkdir(parents=True, exist_ok=True)
    threads = threads_per_run(args.jobs)
    if single_turn:
        # A single-turn sweep is one task: its table, plot and JSON keep the a-word experiment's form.
        (task_results,) = results.values()
        plot_single_turn(task_results, max_reward, args.window, output_dir / "reward_vs_generations.png")
        (output_dir / "results.md").write_text(single_turn_report(task_results, arms, max_reward, args))
        table = single_turn_table(task_results, args)
    else:
        plot_agents(results, args.seeds, output_dir / "success_vs_rollouts.png")
        (output_dir / "results.md").write_text(agent_report(results, arms, args, threads))
        table = "\n\n".join(agent_table(task_results, args) for task_results in results.values())
    def for_json(run: dict) -> dict:
        # A single-turn curve has a point per generation and stays out; an agent curve, a point per evaluation, stays in.
        return {k: v for k, v in run.items() if k != "curve"} if single_turn else run

    serialisable = {task: {arm: {"summary": r["summary"], "runs": [for_json(run) for run in r["runs"]]}
                           for arm, r in task_results.items()} for task, task_results in results.items()}
    if single_turn:
        serialisable = serialisable[arms[0].task]
    report = {"max_reward": max_reward, "seeds": args.seeds, "generations": args.generations, "jobs": args.jobs,
              "threads_per_run": threads, "results": serialisable}
    (output_dir / "results.json").write_text(strict_json(report, indent=2))
    print(table)
    print(f"\nplot, table and runs in {output_dir}")


if __name__ == "__main__":
    main()
