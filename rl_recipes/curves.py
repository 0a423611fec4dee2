"""A picture of every run: did it learn, and did it collapse?

`draw_curves` turns a trainer's `log_history` into `curves.png`, one panel per question, each against
the step: the mean reward with a band of one standard deviation (and the maximum possible reward
where it is known), the completions' token entropy, how many of the latest completions differ, and
the evaluation reward when the run evaluates, and for an agent run its tool use (calls and turns per
rollout, failed calls per call). `CurvesCallback` redraws it in the output directory at
every checkpoint and at the end of training, from the main process only. The plotting helpers here
are shared with the sweeps' report (`rl_recipes.sweeps.report`).
"""

from pathlib import Path

from transformers.trainer_callback import TrainerCallback

CURVES_FILE = "curves.png"
# An agent run's tool metrics (rl_recipes.trainers.agent_rloo), drawn in one panel.
TOOL_USE = [
    ("tools/call_frequency", "calls per rollout"),
    ("tools/turns", "turns per rollout"),
    ("tools/failure_frequency", "failed calls per call"),
]


def pyplot():
    """matplotlib's pyplot on the Agg backend: files only, no display needed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def draw_maximum(ax, max_reward: float) -> None:
    ax.axhline(max_reward, color="black", linestyle="--", linewidth=1, label=f"maximum possible ({max_reward:g})")


def save_figure(fig, path: Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    pyplot().close(fig)


def series(log_history: list[dict], key: str) -> tuple[list[int], list[float]]:
    """(steps, values) of `key` in the entries that logged it (a None, TRL's "no valid value", is left out)."""
    entries = [entry for entry in log_history if entry.get(key) is not None]
    return [entry["step"] for entry in entries], [entry[key] for entry in entries]


def _draw_mean_and_band(ax, log_history: list[dict], key: str, colour: str, label: str) -> None:
    steps, means = series(log_history, key)
    ax.plot(steps, means, color=colour, linewidth=1.5, label=label)
    band = {entry["step"]: entry[f"{key}_std"] for entry in log_history if entry.get(f"{key}_std") is not None}
    if band and all(step in band for step in steps):
        low = [mean - band[step] for step, mean in zip(steps, means)]
        high = [mean + band[step] for step, mean in zip(steps, means)]
        ax.fill_between(steps, low, high, color=colour, alpha=0.2, linewidth=0, label="± one standard deviation")


def draw_curves(log_history: list[dict], path: Path, max_reward: float | None = None, title: str | None = None) -> Path:
    """Draw reward, entropy, distinct completions (and evaluation reward and tool use, when logged) against the
    step."""
    plt = pyplot()
    panels = ["reward", "entropy", "distinct_completions"]
    if series(log_history, "eval_reward")[0]:
        panels.append("eval_reward")
    if series(log_history, TOOL_USE[0][0])[0]:
        panels.append("tools")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False)
    for ax, panel in zip(axes[0], panels):
        if panel in ("reward", "eval_reward"):
            name = "reward" if panel == "reward" else "evaluation reward"
            _draw_mean_and_band(
                ax, log_history, panel, "tab:blue" if panel == "reward" else "tab:green", f"mean {name}"
            )
            if max_reward is not None:
                draw_maximum(ax, max_reward)
            ax.set_title(f"{name} (mean over completions)")
            ax.legend(loc="lower right", fontsize="small")
        elif panel == "tools":
            for key, label in TOOL_USE:
                ax.plot(*series(log_history, key), linewidth=1.5, label=label)
            ax.set_title("tool use per rollout")
            ax.set_ylim(bottom=0)
            ax.legend(loc="upper right", fontsize="small")
        elif panel == "entropy":
            ax.plot(*series(log_history, "entropy"), color="tab:orange", linewidth=1.5)
            ax.set_title("token entropy of the completions")
            ax.set_ylim(bottom=0)
        else:
            ax.plot(*series(log_history, "distinct_completions"), color="tab:red", linewidth=1.5)
            ax.set_title("distinct among the latest completions")
            ax.set_ylim(bottom=0)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    save_figure(fig, path)
    return path


class CurvesCallback(TrainerCallback):
    """Redraw `<output_dir>/curves.png` at every checkpoint and at the end of training (main process only)."""

    def __init__(self, max_reward: float | None = None, title: str | None = None):
        self.max_reward = max_reward
        self.title = title

    def draw(self, args, state) -> None:
        if state.is_world_process_zero and any("reward" in entry for entry in state.log_history):
            output_dir = Path(args.output_dir)
            output_dir.mkdir(parents=True, exist_ok=True)
            draw_curves(state.log_history, output_dir / CURVES_FILE, self.max_reward, self.title)

    def on_save(self, args, state, control, **kwargs):
        self.draw(args, state)

    def on_train_end(self, args, state, control, **kwargs):
        self.draw(args, state)
