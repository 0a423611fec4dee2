"""The machinery behind the recipes: what `recipes/*.py` share, and what `scripts/` build on.

- `runner`: the flow of every recipe (parse, check, load, build the trainer, train, save, summarise);
- `algorithms`: each algorithm's script, config class, trainer classes (`trainers.stacks`) and default YAML;
- `checks`: the input checks that run before any model loads; `data`: prompt loading;
- `trainers`: the REINFORCE trainer and the mixins the recipes put on TRL's trainers;
- `tiny_models`: the models this repository trains itself (the default story model, the tool-using model);
  `tasks`: the embedded tool tasks, one folder each; `imports`: dotted-path imports;
- `evaluation`, `sweeps`, `benchmarking`: what `scripts/evaluate.py`, `compare.py` and `benchmark.py` run;
- `run_directory`: a run's outputs, written and read; `scoring`: the total reward;
- `saving`: writing a model directory whole or not at all; `checkpoints`: which checkpoint a resume continues from.

Users edit `recipes/` (entry scripts and YAML) and `rewards/`; this package is the library under them.
"""

from pathlib import Path

# The checkout's root: the default model is built under it and the shipped recipes name paths from it.
REPO_ROOT = Path(__file__).resolve().parents[1]
