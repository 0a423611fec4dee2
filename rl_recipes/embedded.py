"""The models this repository builds itself, on first use: the tiny story model and the tiny tool model.

Each stands in for a Hub model on machines without network. A recipe (or script) whose model path is
one of them builds it when it is missing, with the script that builds it, and then loads it with
`from_pretrained` like any other. Both are git-ignored: rebuilt on each machine, never committed.
"""

import fcntl
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from rl_recipes import REPO_ROOT


@dataclass(frozen=True)
class EmbeddedModel:
    path: Path
    script: str  # under scripts/
    what: str  # for the message while it builds
    takes: str


EMBEDDED_MODELS = [
    EmbeddedModel(REPO_ROOT / "models" / "tiny-story", "build_tiny_model.py", "tiny story model", "about 1.5 minutes"),
    EmbeddedModel(
        REPO_ROOT / "models" / "tiny-tools", "build_tool_model.py", "tiny tool-using model", "about 5 minutes"
    ),
]


def embedded_model(name_or_path: str) -> EmbeddedModel | None:
    """The embedded model `name_or_path` names, or None."""
    resolved = Path(name_or_path).expanduser().resolve()
    return next((model for model in EMBEDDED_MODELS if model.path == resolved), None)


def is_built(model_dir: str | os.PathLike) -> bool:
    return (Path(model_dir) / "config.json").is_file() and (Path(model_dir) / "tokenizer.json").is_file()


def ensure_embedded_model(model_name_or_path: str) -> None:
    """Build the embedded model `model_name_or_path` names if it is missing (anything else is left alone).

    Under a multi-process launch the local main process builds while the others wait. Several
    machines sharing the checkout (a multi-node job) each have a local main process: a file lock
    beside the model lets the first build and the others wait for it and find it built, so the model
    is built exactly once.
    """
    model = embedded_model(model_name_or_path)
    if model is None or is_built(model.path):
        return
    from accelerate import PartialState

    state = PartialState()
    with state.local_main_process_first():
        if state.is_local_main_process:
            model.path.parent.mkdir(parents=True, exist_ok=True)
            with open(model.path.parent / f".{model.path.name}.lock", "w") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
                if not is_built(model.path):
                    _build_in_child_process(model)


def _build_in_child_process(model: EmbeddedModel) -> None:
    print(f"Building the embedded {model.what} in {model.path} ({model.takes}) ...")
    # A child process with the launcher's variables removed: a Trainer started inside this one
    # would join the recipe's process group and wait for ranks that never train it.
    env = {k: v for k, v in os.environ.items() if k not in _LAUNCHER_VARIABLES and not k.startswith("ACCELERATE_")}
    script = REPO_ROOT / "scripts" / model.script
    built = subprocess.run([sys.executable, str(script), "--output_dir", str(model.path)], env=env)
    if built.returncode != 0:
        from rl_recipes.checks import RecipeError

        raise RecipeError(
            f"Building the embedded {model.what} failed (exit {built.returncode}; its message is above): fix what "
            f"it says, or build it by hand with scripts/{model.script}."
        )


_LAUNCHER_VARIABLES = {
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "GROUP_WORLD_SIZE",
    "ROLE_RANK",
    "ROLE_WORLD_SIZE",
    "MASTER_ADDR",
    "MASTER_PORT",
    "TORCHELASTIC_RUN_ID",
    "TORCHELASTIC_RESTART_COUNT",
}
