"""What a run prints while it trains: one progress bar carrying the few numbers that matter.

transformers' progress callback writes every log, a dictionary of some 25 metrics per step, into the
terminal, where the reward the user came for is lost among them. Here the bar's postfix carries the
chosen metrics of the latest logs instead (`console_metrics`: by default the reward, its standard
deviation, the completions' entropy and how many of the latest completions differ), and the full
logs go only where logs belong: `trainer_state.json`, TensorBoard and the other `report_to`
integrations. `console_metrics: [all]` keeps transformers' own callback, dictionaries included.
With `disable_tqdm` there is no bar: each log becomes one short line with the same metrics.
Only the main process prints, as with transformers' callbacks.
"""

import logging
import sys
import warnings

from transformers.trainer_callback import PrinterCallback, ProgressCallback, TrainerCallback

from rl_recipes.checks import RecipeError

CONSOLE_ALL = "all"


def check_console_metrics(names: list[str]) -> None:
    if CONSOLE_ALL in names and names != [CONSOLE_ALL]:
        raise RecipeError(
            f"console_metrics {' '.join(names)} mixes '{CONSOLE_ALL}' with metric names: pass either "
            f"--console_metrics {CONSOLE_ALL} or the names alone."
        )


def format_metric(value) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class ConsoleMetrics:
    """The chosen metrics' latest values, kept across logs so that an evaluation's stay beside training's."""

    def __init__(self, names: list[str]):
        self.names = list(names)
        self.latest: dict[str, str] = {}
        self.checked = False

    def update(self, logs: dict) -> bool:
        """Take the chosen metrics from one log; True when any of them was in it."""
        if not self.checked and "loss" in logs:  # the first training log shows which names exist
            self.checked = True
            self._report_unknown(logs)
        found = {name: format_metric(logs[name]) for name in self.names if logs.get(name) is not None}
        self.latest.update(found)
        return bool(found)

    def _report_unknown(self, logs: dict) -> None:
        # Names are only known once the trainer logs them (rewards/<name>/mean, ...), so an unknown one
        # cannot be refused at start-up; it is named once instead of being left out in silence.
        unknown = [name for name in self.names if name not in logs and not name.startswith("eval_")]
        if unknown:
            known = ", ".join(sorted(key for key in logs if key != "total_flos"))
            print(
                f"warning: console_metrics {', '.join(unknown)} not logged by this trainer; it logs: {known}",
                file=sys.stderr,
            )

    def items(self) -> list[tuple[str, str]]:
        return [(name, self.latest[name]) for name in self.names if name in self.latest]


class MetricsProgressBar(ProgressCallback):
    """transformers' progress bar, with the chosen metrics in its postfix instead of the logs printed under it."""

    def __init__(self, metrics: list[str]):
        super().__init__()
        self.metrics = ConsoleMetrics(metrics)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and self.training_bar is not None and self.metrics.update(logs or {}):
            self.training_bar.set_postfix(dict(self.metrics.items()), refresh=True)


class MetricsPrinter(TrainerCallback):
    """With `disable_tqdm`: one line per log, `step N: reward=... entropy=...`, from the main process."""

    def __init__(self, metrics: list[str]):
        self.metrics = ConsoleMetrics(metrics)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if state.is_world_process_zero and self.metrics.update(logs or {}):
            values = " ".join(f"{name}={value}" for name, value in self.metrics.items())
            print(f"step {state.global_step}/{state.max_steps}: {values}", flush=True)


def use_console(trainer, metrics: list[str]) -> None:
    """Replace the trainer's printing callback by one showing `metrics`; `[all]` keeps transformers' own."""
    if metrics == [CONSOLE_ALL]:
        return
    if trainer.args.disable_tqdm:
        trainer.remove_callback(PrinterCallback)
        trainer.add_callback(MetricsPrinter(metrics))
    else:
        trainer.remove_callback(ProgressCallback)
        trainer.add_callback(MetricsProgressBar(metrics))


def close_progress_bar(trainer) -> None:
    """End the training bar where training ended without closing it (a fault, a signal), so what follows is a line
    of its own."""
    for callback in trainer.callback_handler.callbacks:
        if isinstance(callback, ProgressCallback) and callback.training_bar is not None:
            callback.training_bar.close()
            callback.training_bar = None


class MessageFilter(logging.Filter):
    """Drop the log records whose message starts with one text."""

    def __init__(self, prefix: str):
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith(self.prefix)


DEEPSPEED_CPU_NOTICE = MessageFilter("Setting accelerator to CPU.")


def quiet_library_warnings() -> None:
    """Silence, one by one, the deprecation warnings that the libraries' own calls raise under our settings.

    Each filter matches one message from one module, so a warning about a user's real problem, or a
    new one, still shows.
    """
    # TRL 1.16 reads `model.is_gradient_checkpointing` each time it unwraps the model for generation
    # (trl/models/utils.py); transformers 5 deprecated that property for `is_activation_checkpointing`.
    warnings.filterwarnings(
        "ignore",
        message=r"`is_gradient_checkpointing` is deprecated",
        category=FutureWarning,
        module=r"transformers\.modeling_utils",
    )
    # With activation checkpointing on, TRL turns it off around each no-grad pass and back on after
    # (`disable_gradient_checkpointing` in trl/models/utils.py), through the older names.
    warnings.filterwarnings(
        "ignore",
        message=r"`gradient_checkpointing_(enable|disable)` is deprecated",
        category=FutureWarning,
        module=r"transformers\.modeling_utils",
    )
    # TRL's configs default the deprecated `gradient_checkpointing` to True, and transformers 5 warns whenever that
    # name is set while `activation_checkpointing` is not (transformers/training_args.py). A recipe that leaves both
    # unset gets the warning for a name it never wrote; one that writes the old name has it renamed by
    # rl_recipes.arguments before transformers sees it.
    warnings.filterwarnings(
        "ignore",
        message=r"`gradient_checkpointing` is deprecated",
        category=FutureWarning,
        module=r"transformers\.training_args",
    )
    # DeepSpeed, pinned for the ZeRO launch paths, is imported by the libraries whenever it is installed,
    # and on a machine without a GPU it logs that it falls back to its CPU accelerator
    # (deepspeed/accelerator/real_accelerator.py): true, and nothing to act on for a CPU recipe.
    logging.getLogger("DeepSpeed").addFilter(DEEPSPEED_CPU_NOTICE)  # once: the same filter is not added twice
