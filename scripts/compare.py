"""Compare recipes on the a-word task: several seeds each, the same budget of generations, one plot.

    python scripts/compare.py                                   # the default sweep (about 18 minutes on 2 cores)
    python scripts/compare.py --configs recipes/configs/a_words/reinforce.yaml recipes/configs/a_words/rloo.yaml \\
        --seeds 0 1 --generations 300 --output_dir outputs/my_sweep

Each run is an ordinary recipe run (`accelerate launch recipes/<algorithm>.py --config <yaml>`) with
its seed, its output directory under `output_dir`, and as many steps as the budget allows: the
x-axis is the number of generations, as in the background text, so one RLOO step of 10 completions
counts as 10. The recipe script is the one the YAML's file name starts with (`reinforce`, `rloo`,
`grpo`). Written to `output_dir`:

- `reward_vs_generations.png`: the reward (mean over the last `window` generations) against
  generations, one line per run, one colour per recipe, the maximum possible reward as a reference;
- `results.md`: a table with a row per run and a summary row per recipe, the settings, and each
  run's last completion; `results.json`: the same numbers for programs.
"""

import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from transformers import HfArgumentParser

from rl_recipes import REPO_ROOT
from rl_recipes.saving import strict_json
from rl_recipes.embedded import ensure_embedded_model

CONFIG_DIR = REPO_ROOT / "recipes" / "configs" / "a_words"
DEFAULT_CONFIGS = [str(CONFIG_DIR / f"{name}.yaml") for name in ("reinforce", "reinforce_moving_average", "rloo", "grpo")]
SCRIPTS = ("reinforce", "rloo", "grpo")


@dataclass
class CompareArguments:
    configs: list[str] = field(default_factory=lambda: list(DEFAULT_CONFIGS), metadata={"help": "Recipe YAMLs to compare."})
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3], metadata={"help": "Seeds; every recipe runs each."})
    generations: int = field(default=500, metadata={"help": "Budget of generations (completions) per run."})
    window: int = field(default=50, metadata={"help": "Generations averaged for the final reward and the curves."})
    output_dir: str = field(default="outputs/compare", metadata={"help": "Where runs, plot and table go."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Allow an output directory with files in it."})
    model_name_or_path: str | None = field(default=None, metadata={"help": "Override every recipe's model."})
    max_completion_length: int | None = field(default=None, metadata={"help": "Override every recipe's length."})


@dataclass
class Arm:
    """One recipe of the sweep."""

    name: str
    config: Path
    script: Path
    generations_per_step: int
    settings: dict


def load_arm(config: str, overrides: dict) -> Arm:
    path = Path(config).resolve()
    if not path.is_file():
        sys.exit(f"error: recipe {path} does not exist.")
    script = next((s for s in SCRIPTS if path.stem.startswith(s)), None)
    if script is None:
        sys.exit(f"error: cannot tell the algorithm of {path}: its name must start with one of {', '.join(SCRIPTS)}.")
    settings = {**yaml.safe_load(path.read_text()), **overrides}
    # One process: a step generates the whole generation batch.
    per_step = settings.get("per_device_train_batch_size", 8) * settings.get("gradient_accumulation_steps", 1)
    return Arm(path.stem, path, REPO_ROOT / "recipes" / f"{script}.py", per_step, settings)


def rolling_mean(values: list[float], window: int) -> list[float]:
    means, total = [], 0.0
    for i, value in enumerate(values):
        total += value - (values[i - window] if i >= window else 0.0)
        means.append(total / min(i + 1, window))
    return means


def run_once(arm: Arm, seed: int, run_dir: Path, args: CompareArguments, progress) -> None:
    """Train one recipe with one seed; progress advances per generation."""
    steps = args.generations // arm.generations_per_step
    command = [
        sys.executable, "-m", "accelerate.commands.launch", "--config_file", str(REPO_ROOT / "accelerate_configs" / "cpu.yaml"),
        str(arm.script), "--config", str(arm.config), "--seed", str(seed), "--output_dir", str(run_dir),
        "--max_steps", str(steps), "--save_completions", "true", "--overwrite_output_dir", "true",
        "--save_strategy", "no", "--report_to", "none",
    ]
    for key in ("model_name_or_path", "max_completion_length"):
        if getattr(args, key) is not None:
            command += [f"--{key}", str(getattr(args, key))]
    run_dir.mkdir(parents=True, exist_ok=True)
    completions = run_dir / "completions.jsonl"
    done = 0
    with open(run_dir / "train.log", "w") as log:
        process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        while process.poll() is None:
            time.sleep(1)
            if completions.is_file():
                count = sum(1 for _ in open(completions))
                progress.update(count - done)
                done = count
    if process.returncode != 0:
        sys.exit(f"error: {arm.name} seed {seed} failed (exit {process.returncode}); see {run_dir / 'train.log'}")
    progress.update(steps * arm.generations_per_step - done)


def summarise_run(run_dir: Path, max_reward: float, window: int) -> dict:
    """The table's numbers for one run, from the run's own completions log and trainer state."""
    records = [json.loads(line) for line in open(run_dir / "completions.jsonl")]
    rewards = [record["reward"] for record in records]
    history = json.loads((run_dir / "trainer_state.json").read_text())["log_history"]
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
        "train_seconds": next(entry["train_runtime"] for entry in history if "train_runtime" in entry),
        "last_completion": records[-1]["completion"],
        "curve": curve,
    }


def summarise_arm(runs: list[dict]) -> dict:
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


def plot(results: dict, max_reward: float, window: int, path: Path) -> None:
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


def _reached(value) -> str:
    return "never" if value is None else str(value)


def markdown_table(results: dict, max_reward: float, args: CompareArguments) -> str:
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


def write_report(results: dict, arms: list[Arm], max_reward: float, args: CompareArguments, path: Path) -> None:
    settings = []
    for arm in arms:
        keys = ("num_generations", "per_device_train_batch_size", "learning_rate", "optim", "baseline",
                "scale_rewards", "loss_type", "beta", "temperature", "max_completion_length")
        shown = ", ".join(f"{k}={arm.settings[k]}" for k in keys if k in arm.settings)
        where = arm.config.relative_to(REPO_ROOT) if arm.config.is_relative_to(REPO_ROOT) else arm.config
        per_step = f"{arm.generations_per_step} generation{'s' if arm.generations_per_step != 1 else ''} per step"
        settings.append(f"- `{arm.name}` ({where}, {per_step}): {shown}")
    completions = [
        f"- {arm} seed {seed}: `{run['last_completion'].strip()}`"
        for arm, arm_results in results.items()
        for seed, run in zip(args.seeds, arm_results["runs"])
    ]
    text = "\n".join([
        "# REINFORCE vs RLOO on the a-word task",
        "",
        f"Budget: {args.generations} generations per run; seeds {', '.join(map(str, args.seeds))}; "
        f"maximum possible reward {max_reward:g} (computed from the tokenizer and completion length).",
        "Final reward: mean reward of the last "
        f"{args.window} generations. Best reward: the best single completion. Generations to 90%: the first "
        f"generation at which the mean of the last {args.window} reaches 90% of the maximum. Entropy: the mean "
        "token entropy of the last step's completions. Train time: the trainer's own runtime on 2 CPU cores.",
        "",
        markdown_table(results, max_reward, args),
        "",
        "Settings:",
        "",
        *settings,
        "",
        "Last completion of each run:",
        "",
        *completions,
        "",
    ])
    path.write_text(text)


def main() -> None:
    (args,) = HfArgumentParser(CompareArguments).parse_args_into_dataclasses()
    from tqdm.auto import tqdm
    from transformers import AutoTokenizer

    from rewards.a_words import max_a_words

    if args.model_name_or_path and Path(args.model_name_or_path).exists():
        args.model_name_or_path = str(Path(args.model_name_or_path).resolve())
    overrides = {k: getattr(args, k) for k in ("model_name_or_path", "max_completion_length") if getattr(args, k) is not None}
    arms = [load_arm(config, overrides) for config in args.configs]
    output_dir = Path(args.output_dir).resolve()
    if output_dir.is_dir() and any(output_dir.iterdir()) and not args.overwrite_output_dir:
        sys.exit(f"error: {output_dir} already holds files: pass another --output_dir, or --overwrite_output_dir true.")
    models = {arm.settings["model_name_or_path"] for arm in arms}
    lengths = {arm.settings["max_completion_length"] for arm in arms}
    if len(models) != 1 or len(lengths) != 1:
        sys.exit("error: the recipes must share model and completion length to be compared: override them with "
                 "--model_name_or_path and --max_completion_length.")
    model, length = models.pop(), lengths.pop()
    os.chdir(REPO_ROOT)  # recipes name their model and prompts relative to the repository root
    ensure_embedded_model(model)
    max_reward = max_a_words(AutoTokenizer.from_pretrained(model), length)

    total = len(arms) * len(args.seeds) * args.generations
    results = {}
    with tqdm(total=total, unit="gen", desc="sweep") as progress:
        for arm in arms:
            runs = []
            for seed in args.seeds:
                progress.set_postfix_str(f"{arm.name} seed {seed}")
                run_dir = output_dir / arm.name / f"seed-{seed}"
                run_once(arm, seed, run_dir, args, progress)
                runs.append(summarise_run(run_dir, max_reward, args.window))
                progress.write(f"{arm.name} seed {seed}: final reward {runs[-1]['final_reward']:.1f}")
            results[arm.name] = {"runs": runs, "summary": summarise_arm(runs)}

    output_dir.mkdir(parents=True, exist_ok=True)
    plot(results, max_reward, args.window, output_dir / "reward_vs_generations.png")
    write_report(results, arms, max_reward, args, output_dir / "results.md")
    serialisable = {arm: {"summary": r["summary"], "runs": [{k: v for k, v in run.items() if k != "curve"} for run in r["runs"]]}
                    for arm, r in results.items()}
    (output_dir / "results.json").write_text(strict_json({"max_reward": max_reward, "seeds": args.seeds, "results": serialisable}, indent=2))
    print(markdown_table(results, max_reward, args))
    print(f"\nplot, table and runs in {output_dir}")


if __name__ == "__main__":
    main()
