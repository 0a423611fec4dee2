"""Which checkpoint `--resume_from_checkpoint` continues from, and whose run it is.

`transformers` writes `checkpoint-<step>` in place and `trainer_state.json` last, after the model,
optimizer, scheduler, RNG and REINFORCE baseline states. A run killed during a save leaves a newest
checkpoint without its state, from which `Trainer.train` cannot resume. A checkpoint is therefore
complete when its `trainer_state.json` is there, and `true` means the newest complete one.

`true` takes the newest checkpoint of the output directory, so that directory must hold the
checkpoints of one run only. A fresh run that overwrites a directory (`--overwrite_output_dir
true`) first moves the earlier run's checkpoints into `earlier_checkpoints/<time>/` inside it:
nothing is deleted, and no later resume can continue from them by mistake.
"""

import time
from pathlib import Path

from transformers.trainer import TRAINER_STATE_NAME
from transformers.trainer_utils import sort_checkpoints

from rl_recipes.checks import RecipeError


def is_complete(checkpoint: Path) -> bool:
    return (Path(checkpoint) / TRAINER_STATE_NAME).is_file()


def newest_complete_checkpoint(output_dir: Path) -> tuple[Path | None, list[Path]]:
    """The newest complete checkpoint in `output_dir` (None if there is none), and the newer, torn ones passed over."""
    if not Path(output_dir).is_dir():
        return None, []
    torn = []
    for checkpoint in reversed(sort_checkpoints(str(output_dir))):  # newest first
        if is_complete(checkpoint):
            return Path(checkpoint), torn
        torn.append(Path(checkpoint))
    return None, torn


EARLIER_CHECKPOINTS = "earlier_checkpoints"


def move_earlier_checkpoints_aside(output_dir) -> tuple[Path, list[str]] | None:
    """Move the `checkpoint-*` folders of `output_dir` to `output_dir/earlier_checkpoints/<UTC time>/`;
    returns (that folder, the names moved), or None when there were none."""
    checkpoints = sort_checkpoints(str(output_dir)) if Path(output_dir).is_dir() else []
    if not checkpoints:
        return None
    destination = Path(output_dir) / EARLIER_CHECKPOINTS / time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    while destination.exists():  # two overwrites within a second
        destination = destination.with_name(destination.name + "-1")
    destination.mkdir(parents=True)
    for checkpoint in checkpoints:
        Path(checkpoint).rename(destination / Path(checkpoint).name)
    return destination, [Path(checkpoint).name for checkpoint in checkpoints]


def resolve_resume(value, output_dir: str) -> tuple[str | None, list[Path]]:
    """`--resume_from_checkpoint` as the checkpoint directory to resume from (None: start afresh), and the
    torn checkpoints passed over. `true` is the newest complete checkpoint in `output_dir`; `false` or
    nothing is no resume; anything else is a checkpoint's path."""
    if value is None or value is False or str(value).lower() in ("", "false"):
        return None, []
    if value is True or str(value).lower() == "true":
        checkpoint, torn = newest_complete_checkpoint(output_dir)
        if checkpoint is None:
            found = f" ({', '.join(path.name for path in torn)} incomplete: no {TRAINER_STATE_NAME})" if torn else ""
            raise RecipeError(
                f"--resume_from_checkpoint true, but {output_dir} holds no complete checkpoint{found}: "
                "give a checkpoint's path, or leave the flag out to start afresh."
            )
        return str(checkpoint), torn
    checkpoint = Path(value)
    if not checkpoint.is_dir():
        raise RecipeError(
            f"Checkpoint {value} does not exist: check --resume_from_checkpoint (or pass true for the newest)."
        )
    if not is_complete(checkpoint):
        raise RecipeError(
            f"Checkpoint {value} is incomplete (no {TRAINER_STATE_NAME}; a save was interrupted): "
            "resume from an earlier checkpoint, or pass --resume_from_checkpoint true for the newest complete one."
        )
    return str(checkpoint), []
