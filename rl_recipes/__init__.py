"""The machinery behind the recipes: what `recipes/*.py` share, and what `scripts/` build on.

- `runner`: the flow of every recipe (parse, check, load, build the trainer, train, save, summarise);
- `checks`: the input checks that run before any model loads; `data`: prompt loading;
- `trainers`: the REINFORCE trainer and the mixins the recipes put on TRL's trainers;
- `tiny_story`: the embedded default model and the story corpus it is trained on;
- `saving`: writing a model directory whole or not at all; `checkpoints`: which checkpoint a resume continues from.

Users edit `recipes/` (entry scripts and YAML) and `rewards/`; this package is the library under them.
"""

from pathlib import Path

# The checkout's root: the default model is built under it and the shipped recipes name paths from it.
REPO_ROOT = Path(__file__).resolve().parents[1]


def recipe_script(config: Path) -> str:
    """The script a shipped recipe YAML runs under, from its file name: a name containing `reinforce` runs
    `reinforce.py`, one containing `grpo` runs `grpo.py`, any other `rloo.py` (RLOO and leave-one-out PPO)."""
    for algorithm in ("reinforce", "grpo"):
        if algorithm in Path(config).stem:
            return f"{algorithm}.py"
    return "rloo.py"
