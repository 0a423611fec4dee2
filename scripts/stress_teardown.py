"""Launch short two-process runs of the recipes one after another and count the ones that do not end.

    python scripts/stress_teardown.py --runs 30                          # 30 launches of each trainer and exit path
    python scripts/stress_teardown.py --runs 10 --recipes rloo.py --exit_paths normal signal --busy_cores 0

A two-process run must end by itself on every exit path. A hang at teardown shows only now and then,
so one launch proves nothing: this launches `--runs` two-process runs of each recipe and each exit
path, with `--busy_cores` processes spinning beside them, and gives each `--timeout` seconds:

- `normal`: DDP on two CPU processes (`accelerate launch --multi_gpu --num_processes 2 ... --use_cpu
  true`), trained to the end (exit status 0);
- `signal`: the same, sent SIGTERM (to the launcher's whole process group, as a scheduler does) once
  the first step has logged; it stops at the end of a step with a checkpoint and says so (the
  launcher then reports the signal with a status of its own);
- `reward_fault`: a reward that raises from the third step on (`tests.custom_rewards.fails_from_step_3`):
  both processes stop after saving the last completed step (status 1);
- `startup_error`: a data set that does not exist: both processes stop before any model loads (status 1);
- `zero3`: DeepSpeed ZeRO-3 on two CPU processes (`accelerate_configs/deepspeed_zero3.yaml`), to the end.

A run that outlives the timeout counts as a hang: its process tree gets a stack dump first when
`py-spy` is installed (`py-spy dump --native`), then is killed; one that ends with another status
counts as failed. Exit status 1 if any run hung or failed.
"""

import sys
from dataclasses import dataclass, field

from transformers import HfArgumentParser

from rl_recipes.teardown_stress import EXIT_PATHS, stress


@dataclass
class StressArguments:
    runs: int = field(default=30, metadata={"help": "Launches of each recipe on each exit path."})
    recipes: list[str] = field(
        default_factory=lambda: ["rloo.py", "reinforce.py"], metadata={"help": "Recipe scripts."}
    )
    exit_paths: list[str] = field(
        default_factory=lambda: list(EXIT_PATHS), metadata={"help": f"Of {', '.join(EXIT_PATHS)}."}
    )
    busy_cores: int = field(default=1, metadata={"help": "Processes spinning beside the runs, to load the machine."})
    timeout: int = field(default=180, metadata={"help": "Seconds after which a launch counts as hung."})
    model_name_or_path: str | None = field(
        default=None,
        metadata={"help": "Model to train; by default the tiny story model, built once into a temporary directory."},
    )


def main() -> None:
    (args,) = HfArgumentParser(StressArguments).parse_args_into_dataclasses()
    unknown = [name for name in args.exit_paths if name not in EXIT_PATHS]
    if unknown:
        sys.exit(f"error: unknown exit path {unknown[0]}: use {', '.join(EXIT_PATHS)}.")
    counts = stress(args.runs, args.recipes, args.exit_paths, args.busy_cores, args.timeout, args.model_name_or_path)
    print(
        "\n| recipe | exit path | launches | ended as expected | failed | hung |\n| --- | --- | --- | --- | --- | --- |"
    )
    for (recipe, name), count in counts.items():
        print(f"| {recipe} | {name} | {args.runs} | {count['ok']} | {count['failed']} | {count['hung']} |")
    sys.exit(1 if any(count["ok"] != args.runs for count in counts.values()) else 0)


if __name__ == "__main__":
    main()
