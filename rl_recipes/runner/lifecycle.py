"""A run from start to exit: parse, assemble, train, save and summarise, and the ways it ends (normally, by a
signal, by a reward or tool fault, by an error or Ctrl-C), each with its exit status, on every process together.
"""

import signal
import sys
import traceback
from pathlib import Path

from rewards import UnknownRewardError
from rl_recipes.checks import RecipeError
from rl_recipes.runner.assembly import build_trainer
from rl_recipes.runner.cli import RecipeArguments, parse_args


def end_together(trainer) -> None:
    """End on all processes at once, as every path does that the processes agreed on: the normal end,
    a signal stop and a reward-fault stop. A gloo group whose peer has already exited can hang."""
    trainer.accelerator.wait_for_everyone()
    release_processes(trainer)


def release_processes(trainer) -> None:
    """Finish the trackers and free the distributed state in an order that cannot deadlock.

    Left to interpreter exit, the last reference to the gloo process group is DDP's Reducer, which
    frees it holding the GIL; the group's destructor then waits for its mutex, which gloo's worker
    thread may hold while it drops the last collective's work, and dropping that work needs the GIL
    (the work keeps the thread-local state it was started with). So the wrapped model goes first,
    while a Python handle keeps the group alive, and the group goes last with that handle, whose
    destructor releases the GIL. Safe to call again, and on a single process.
    """
    import torch.distributed as dist

    group = dist.group.WORLD if dist.is_available() and dist.is_initialized() else None
    trainer.model_wrapped = trainer.model  # as transformers' Trainer itself unwraps before freeing
    trainer.accelerator.free_memory()  # its prepared models (the DDP wrapper) and optimizers, then a garbage collection
    trainer.end()  # trackers, and destroy_process_group, which unregisters the group
    del group  # the last reference: the group is freed here, outside the GIL


def last_checkpoint(trainer) -> str:
    return str(Path(trainer.args.output_dir) / f"checkpoint-{trainer.state.global_step}")


def train_and_save(trainer, script_args: RecipeArguments, stop) -> tuple[int, str | None]:
    """Train, then save and summarise: the exit status and a line for standard error, the same on every process."""
    from rl_recipes.trainers.agent_rloo import ToolFault
    from rl_recipes.trainers.reward_guard import RewardFault

    try:
        trainer.train(resume_from_checkpoint=trainer.args.resume_from_checkpoint)
    except (RewardFault, ToolFault) as fault:  # raised on every process alike: they stop together
        what = "the tool settings" if isinstance(fault, ToolFault) else "the reward"
        saved = "No step had completed, so nothing was saved"
        if trainer.state.global_step > 0:
            trainer._save_checkpoint(trainer.model, trial=None)  # the last completed step
            saved = f"Saved {last_checkpoint(trainer)}; fix {what} and resume with --resume_from_checkpoint true"
        if isinstance(fault, ToolFault):
            return 1, f"error: {fault} {saved}."
        return 1, f"error: {fault}. {saved}, or set --reward_faults skip to train on without such samples."
    if stop.stopped_at_step is not None:
        return 128 + stop.received, (
            f"Stopped by signal {stop.received} after step {stop.stopped_at_step}; saved "
            f"{last_checkpoint(trainer)}. Resume with --resume_from_checkpoint true."
        )
    from rl_recipes.run_directory import save_outputs
    from rl_recipes.runner.summary import print_summary

    samples = save_outputs(trainer, script_args.num_samples_to_show)
    if trainer.accelerator.is_main_process:
        print_summary(trainer, samples)
    return 0, None


def exit_interrupted(when: str) -> None:
    """Ctrl-C outside a training step ends the run at once, with one line and the status of a SIGINT."""
    print(f"Interrupted {when}.", file=sys.stderr)
    sys.exit(128 + signal.SIGINT)


def main(algorithm: str, argv: list[str] | None = None) -> None:
    """Run the recipe of `algorithm` (a key of `rl_recipes.algorithms.ALGORITHMS`) with the command line `argv`
    (default: `sys.argv[1:]`); exits with the run's status where it is not 0."""
    from rl_recipes.algorithms import ALGORITHMS
    from rl_recipes.console import close_progress_bar
    from rl_recipes.trainers.stop_on_signal import StopOnSignal

    recipe = ALGORITHMS[algorithm]
    try:
        script_args, training_args, model_args = parse_args(recipe.config_class, recipe.default_config, argv)
        trainer = build_trainer(recipe, script_args, training_args, model_args)
    except (RecipeError, UnknownRewardError) as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        exit_interrupted("before training began; nothing was saved")
    stop = next(cb for cb in trainer.callback_handler.callbacks if isinstance(cb, StopOnSignal))
    try:
        status, message = train_and_save(trainer, script_args, stop)
        end_together(trainer)
    except BaseException as error:  # an error, or Ctrl-C outside a step: the other processes may not get here
        traceback.clear_frames(error.__traceback__)  # the frames hold the DDP wrapper, which must go first
        release_processes(trainer)
        if isinstance(error, KeyboardInterrupt):
            exit_interrupted("outside a training step; the last checkpoint saved is the one to resume from")
        raise
    finally:
        stop.restore_handlers()  # on_train_end's job, which an error skips
    if message and trainer.accelerator.is_main_process:
        close_progress_bar(trainer)  # a run that stopped mid-way left it open: the message starts its own line
        print(message, file=sys.stderr)
    if status:
        sys.exit(status)
