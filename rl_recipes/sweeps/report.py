"""A sweep's outputs, from its figures (`analysis`): the plot, `results.md` (a row per run, a row per arm over its
seeds, the settings) and `results.json` (the same numbers for programs).

Single-turn sweeps plot one line per run (`reward_vs_generations.png`); agent sweeps one panel per task, one line
per arm, the median over seeds with the range as a band (`success_vs_rollouts.png`).
"""

import statistics
from pathlib import Path

from rl_recipes import REPO_ROOT
from rl_recipes.curves import draw_maximum, pyplot, save_figure
from rl_recipes.saving import strict_json
from rl_recipes.sweeps.analysis import FIXATION_SHARE, SUCCESS, budgets_of
from rl_recipes.sweeps.plan import Arm, CompareArguments


def plot_single_turn(results: dict, max_reward: float, window: int, path: Path) -> None:
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
    plt = pyplot()
    fig, axes = plt.subplots(1, len(tasks), figsize=(6.5 * len(tasks), 5), squeeze=False)
    colours = plt.get_cmap("tab10").colors
    for ax, (task, results) in zip(axes[0], tasks.items()):
        for colour, (arm, arm_results) in zip(colours, results.items()):
            curves = [run["curve"] for run in arm_results["runs"]]
            rollouts = [x for x, _ in curves[0]]
            by_point = [[curve[i][1] for curve in curves] for i in range(len(rollouts))]
            ax.plot(
                rollouts,
                [statistics.median(v) for v in by_point],
                color=colour,
                linewidth=1.8,
                marker="o",
                markersize=3,
                label=arm,
            )
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
    ("held_out_early", "held-out at {early}", "{:.2f}"),
    ("held_out_mid", "held-out at {mid}", "{:.2f}"),
    ("held_out_after", "held-out at {end}", "{:.2f}"),
    ("pass@1", "held-out pass@1", "{:.2f}"),
    ("pass@k", "held-out pass@{k}", "{:.2f}"),
    ("strategies_per_solved_task", "strategies per solved held-out task", "{:.2f}"),
    ("rollouts_to_90pct", "rollouts to 90% held-out", None),
    ("training_success", "training success (last {window})", "{:.2f}"),
    ("tool_calls_per_rollout", "tool calls per rollout", "{:.2f}"),
    ("failed_calls_per_call", "failed calls per call", "{:.3f}"),
    ("distinct_successful_transcripts", "distinct successful transcripts", "{:.0f}"),
    ("successful_strategies", "successful strategies", "{:.0f}"),
    ("top_strategy_share", "top strategy share", "{:.2f}"),
    ("train_seconds", "train time (s)", "{:.0f}"),
]


def agent_columns(results: dict) -> list[tuple]:
    """The agent table's columns, less those no run has (pass@k and strategies when the sweep evaluated none)."""
    runs = [run for arm_results in results.values() for run in arm_results["runs"]]
    return [column for column in AGENT_COLUMNS if all(column[0] in run for run in runs)]


def agent_table(results: dict, args: CompareArguments) -> str:
    early, mid = budgets_of(args.generations, args.eval_every)
    columns = agent_columns(results)
    headings = [
        heading.format(window=args.window, early=early, mid=mid, end=args.generations, k=args.held_out_samples)
        for _, heading, _ in columns
    ]
    lines = ["| recipe | seed | " + " | ".join(headings) + " |", "|" + " --- |" * (len(headings) + 2)]
    for arm, arm_results in results.items():
        for seed, run in zip(args.seeds, arm_results["runs"]):
            cells = [_reached(run[name]) if form is None else form.format(run[name]) for name, _, form in columns]
            lines.append(f"| {arm} | {seed} | " + " | ".join(cells) + " |")
        s = arm_results["summary"]
        cells = []
        for name, _, form in columns:
            if form is None:
                cells.append(
                    f"{s['runs_reaching_90pct']}/{len(arm_results['runs'])} runs, "
                    f"median {_reached(s['median_rollouts_to_90pct'])}"
                )
            else:
                figure = s[name]
                cells.append(
                    f"**{form.format(figure['median'])}** ({form.format(figure['min'])}-{form.format(figure['max'])})"
                )
                if name == "top_strategy_share":
                    cells[-1] += f", {s['runs_fixated']}/{len(arm_results['runs'])} runs fixated"
        lines.append(f"| **{arm}** | median (range) | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def settings_lines(arms: list[Arm]) -> list[str]:
    keys = (
        "num_generations",
        "per_device_train_batch_size",
        "num_iterations",
        "epsilon",
        "learning_rate",
        "optim",
        "baseline",
        "baseline_decay",
        "scale_rewards",
        "loss_type",
        "beta",
        "temperature",
        "max_completion_length",
    )
    lines = []
    for arm in arms:
        shown = ", ".join(f"{k}={arm.settings[k]}" for k in keys if k in arm.settings)
        where = arm.config.relative_to(REPO_ROOT) if arm.config.is_relative_to(REPO_ROOT) else arm.config
        count = arm.generations_per_batch
        per_batch = f"{count} generation{'s' if count != 1 else ''} per batch"
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
    return "\n".join(
        [
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
        ]
    )


def agent_report(tasks: dict, arms: list[Arm], args: CompareArguments, threads: int) -> str:
    sections = []
    for task, results in tasks.items():
        fixations = [
            f"- {arm} seed {seed}: `{run['top_strategy']}` ({run['top_strategy_share']:.0%} of the last {args.window})"
            for arm, arm_results in results.items()
            for seed, run in zip(args.seeds, arm_results["runs"])
        ]
        sections += [
            f"## {task}",
            "",
            agent_table(results, args),
            "",
            "Most frequent strategy of each run:",
            "",
            *fixations,
            "",
        ]
    return "\n".join(
        [
            "# Agent recipes on the tool tasks",
            "",
            f"Budget: {args.generations} rollouts per run; seeds {', '.join(map(str, args.seeds))}; the held-out split "
            f"scored every {args.eval_every} rollouts; {args.jobs} run(s) at a time, {threads} CPU thread(s) each.",
            f"Success: a rollout earns the full reward of {SUCCESS:g}. Held-out success: the trainer's `eval_reward`, one "
            "rollout of every test task. Rollouts to 90%: the first evaluation at 90% held-out success. Training success, "
            f"tool use and transcripts: the last {args.window} training rollouts (tool use as the trainer logs it). A "
            "strategy is the tools a rollout called, in order, with their argument names, and `answer` where it wrote text; "
            f"a run fixated when one strategy is at least {FIXATION_SHARE:.0%} of its last rollouts. Train time: the "
            "trainer's own runtime, evaluations included."
            + (
                f" Pass@1, pass@{args.held_out_samples} and strategies per solved task: the trained model's "
                f"{args.held_out_samples} rollouts of every held-out task once the run ended (pass@k unbiased, Chen et "
                "al., 2021); strategies per solved task: the mean over tasks with a success of how many different "
                "strategies their successful rollouts took."
                if args.held_out_samples
                else ""
            ),
            "",
            *sections,
            "Settings:",
            "",
            *settings_lines(arms),
            "",
        ]
    )


def write_outputs(
    results: dict, arms: list[Arm], args: CompareArguments, max_reward: float | None, threads: int, output_dir: Path
) -> str:
    """Write the plot, `results.md` and `results.json` to `output_dir`; return the table(s) to print."""
    output_dir.mkdir(parents=True, exist_ok=True)
    single_turn = not arms[0].agent  # a sweep is all single-turn or all agent recipes (`plan.check_arms`)
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

    serialisable = {
        task: {
            arm: {"summary": r["summary"], "runs": [for_json(run) for run in r["runs"]]}
            for arm, r in task_results.items()
        }
        for task, task_results in results.items()
    }
    if single_turn:
        serialisable = serialisable[arms[0].task]
    report = {
        "max_reward": max_reward,
        "seeds": args.seeds,
        "generations": args.generations,
        "jobs": args.jobs,
        "threads_per_run": threads,
        "results": serialisable,
    }
    (output_dir / "results.json").write_text(strict_json(report, indent=2))
    return table
