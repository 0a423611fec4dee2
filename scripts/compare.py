"""Compare recipes on one task or several: several seeds each, the same budget of generations, one plot.

    python scripts/compare.py                                   # REINFORCE vs RLOO on the a-word task (about 18 minutes on 2 cores)
    python scripts/compare.py --study agents --jobs 2           # five algorithms on the two tool tasks (about 20 minutes)
    python scripts/compare.py --configs recipes/configs/a_words/reinforce.yaml recipes/configs/a_words/rloo.yaml \\
        --seeds 0 1 --generations 300 --output_dir outputs/my_sweep

Each run is an ordinary recipe run (`accelerate launch recipes/<algorithm>.py --config <yaml>`) with
its seed, its output directory under `output_dir`, and as many steps as the budget allows. The x-axis
is the number of generations, as in the background text: one RLOO step of 10 completions counts as
10, and for an agent task one generation is one rollout, the whole multi-turn trajectory. A recipe
that reuses each batch of rollouts for several optimisation epochs (`num_iterations`) takes that many
steps per batch, so every arm samples the same number of rollouts. The recipe script is the one the
YAML's launch line names (`rl_recipes.algorithms`). Recipes are grouped into tasks by their directory;
within a task they must share model and completion length.

Single-turn tasks (the a-word task) are read from the completions: the mean reward of the last
`window` generations against generations. Agent tasks (recipes with `tools` or an
`environment_factory`) are read from the held-out evaluation: the success rate on the test split
against rollouts, plus tool use and how many distinct successful transcripts the last `window`
rollouts hold (`rl_recipes.sweeps.analysis`); once an agent run ends, its trained model rolls out every
held-out task `held_out_samples` times (pass@1, pass@k, strategies per solved task:
`rl_recipes.sweeps.held_out`). Written to `output_dir`:

- `reward_vs_generations.png` (single-turn: one line per run) or `success_vs_rollouts.png` (agents:
  one panel per task, one line per recipe, the median over seeds with the range as a band);
- `results.md`: a table with a row per run and a summary row per recipe, the settings, and (single
  turn) each run's last completion; `results.json`: the same numbers for programs.
"""

import sys

from transformers import HfArgumentParser

from rl_recipes.checks import RecipeError
from rl_recipes.sweeps.plan import CompareArguments
from rl_recipes.sweeps.scheduler import RunFailed
from rl_recipes.sweeps.sweep import run_sweep


def make_parser() -> HfArgumentParser:
    return HfArgumentParser(CompareArguments)


def main() -> None:
    (args,) = make_parser().parse_args_into_dataclasses()
    try:
        table = run_sweep(args)
    except RecipeError as error:
        sys.exit(f"error: {error}")
    except RunFailed as failure:
        sys.exit(f"error: {failure.label} seed {failure.seed} failed (exit {failure.status}); see {failure.log}")
    print(table)
    print(f"\nplot, table and runs in {args.output_dir}")


if __name__ == "__main__":
    main()
