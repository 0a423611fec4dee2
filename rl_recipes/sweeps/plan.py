"""What a sweep runs: its arguments with the study's defaults filled in, its arms (one recipe each, grouped into
tasks by directory) checked to be comparable, and its runs (every arm with every seed, each in its own directory).

Every problem is a `RecipeError` raised before any run starts.
"""

import math
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from rl_recipes import REPO_ROOT
from rl_recipes.algorithms import algorithm_of_recipe
from rl_recipes.checks import RecipeError
from rl_recipes.run_directory import refuse_used_output_dir

CONFIG_DIR = REPO_ROOT / "recipes" / "configs"
AGENT_ARMS = ("reinforce", "reinforce_moving_average", "rloo", "grpo", "loo_ppo")


@dataclass(frozen=True)
class Study:
    """A named sweep: its recipes and the budget, window and evaluation interval it is read with."""

    configs: tuple[str, ...]
    generations: int
    window: int
    eval_every: int | None = None


STUDIES = {
    "a_words": Study(
        tuple(
            str(CONFIG_DIR / "a_words" / f"{name}.yaml")
            for name in ("reinforce", "reinforce_moving_average", "rloo", "grpo")
        ),
        generations=500,
        window=50,
    ),
    # 20 steps of 64 rollouts, scored on the held-out split every 2 such steps: every arm is near its ceiling by
    # 640 rollouts, so the arms are compared at 256 and 512 rollouts too (`analysis.budgets_of`); the window is the
    # last 4 steps.
    "agents": Study(
        tuple(str(CONFIG_DIR / task / f"{arm}.yaml") for task in ("calculator", "vault") for arm in AGENT_ARMS),
        generations=1280,
        window=256,
        eval_every=128,
    ),
}


@dataclass
class CompareArguments:
    study: str = field(
        default="a_words",
        metadata={"help": "Named sweep whose recipes and budget are the defaults.", "choices": list(STUDIES)},
    )
    configs: list[str] | None = field(
        default=None, metadata={"help": "Recipe YAMLs to compare; none given: the study's."}
    )
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2, 3], metadata={"help": "Seeds; every recipe runs each."})
    generations: int | None = field(
        default=None,
        metadata={
            "help": "Budget of generations (completions, or rollouts for an agent task) per run; "
            "none given: the study's."
        },
    )
    window: int | None = field(
        default=None,
        metadata={
            "help": "Last generations the final figures are read from; none given: the study's, at most the budget."
        },
    )
    eval_every: int | None = field(
        default=None,
        metadata={"help": "Agent tasks: generations between held-out evaluations; none given: the study's."},
    )
    jobs: int = field(default=1, metadata={"help": "Runs at a time; each gets an equal share of the CPU cores."})
    output_dir: str = field(default="outputs/compare", metadata={"help": "Where runs, plot and table go."})
    overwrite_output_dir: bool = field(default=False, metadata={"help": "Allow an output directory with files in it."})
    resume: bool = field(
        default=False,
        metadata={
            "help": "Keep the runs the output directory already holds finished with this budget, "
            "run only the others, and make the tables anew from all of them."
        },
    )
    held_out_samples: int = field(
        default=4,
        metadata={
            "help": "Rollouts of every held-out task by each agent run's trained model, once the run ends "
            "(scripts/evaluate.py): pass@1, pass@k and strategies per task; 0: none."
        },
    )
    model_name_or_path: str | None = field(default=None, metadata={"help": "Override every recipe's model."})
    max_completion_length: int | None = field(default=None, metadata={"help": "Override every recipe's length."})


@dataclass
class Arm:
    """One recipe of the sweep, on one task."""

    name: str
    task: str
    config: Path
    script: Path
    settings: dict
    label: str = ""  # the arm's name in the output directory and the JSON: `name`, or `task/name` when tasks are mixed

    @property
    def agent(self) -> bool:
        return bool(self.settings.get("tools") or self.settings.get("environment_factory"))

    @property
    def generations_per_batch(self) -> int:
        """Generations sampled per batch of rollouts on one process: per_device_train_batch_size x
        gradient_accumulation_steps (TRL's generation_batch_size at its default steps_per_generation). A batch serves
        `steps_per_batch` optimisation steps, so this is the generations per step only where that is 1."""
        return self.settings.get("per_device_train_batch_size", 8) * self.settings.get("gradient_accumulation_steps", 1)

    @property
    def steps_per_batch(self) -> int:
        """Optimisation steps each batch is used for (TRL's num_iterations)."""
        return self.settings.get("num_iterations", 1)

    def steps_for(self, generations: int) -> int:
        return generations // self.generations_per_batch * self.steps_per_batch

    def generations_at(self, step: int) -> int:
        """Generations sampled by the end of optimisation step `step`."""
        return math.ceil(step / self.steps_per_batch) * self.generations_per_batch


@dataclass(frozen=True)
class PlannedRun:
    """One arm with one seed, in its own directory under the sweep's output directory."""

    arm: Arm
    seed: int
    run_dir: Path


@dataclass
class Plan:
    """A checked sweep: what runs, grouped how, written where."""

    arms: list[Arm]
    tasks: dict[str, list[Arm]]  # the arms by task, in the order given
    output_dir: Path
    runs: list[PlannedRun]


def load_arm(config: str, overrides: dict) -> Arm:
    path = Path(config).resolve()
    if not path.is_file():
        raise RecipeError(f"recipe {path} does not exist.")
    settings = {**yaml.safe_load(path.read_text()), **overrides}
    return Arm(path.stem, path.parent.name, path, REPO_ROOT / "recipes" / algorithm_of_recipe(path).script, settings)


def fill_in_study(args: CompareArguments) -> None:
    """Give every setting left out its study's value, and check those that need no recipe read."""
    study = STUDIES[args.study]
    args.configs = args.configs or list(study.configs)
    for key in ("generations", "eval_every"):
        if getattr(args, key) is None:
            setattr(args, key, getattr(study, key))
    if args.window is None:  # the study's, or the whole budget when a smaller one is given
        args.window = min(study.window, args.generations)
    if args.jobs < 1:
        raise RecipeError(f"--jobs is {args.jobs}: give 1 or more runs at a time.")
    if args.held_out_samples < 0:
        raise RecipeError(f"--held_out_samples is {args.held_out_samples}: give 0 (none) or more rollouts a task.")
    # Absolute paths, since the sweep runs from the repository root.
    args.output_dir = str(Path(args.output_dir).resolve())
    if args.model_name_or_path and Path(args.model_name_or_path).exists():
        args.model_name_or_path = str(Path(args.model_name_or_path).resolve())


def check_arms(arms: list[Arm], args: CompareArguments, eval_every_given: bool) -> dict[str, list[Arm]]:
    """The arms grouped by task, each group comparable; a RecipeError otherwise."""
    tasks: dict[str, list[Arm]] = {}
    for arm in arms:
        tasks.setdefault(arm.task, []).append(arm)
    for task, group in tasks.items():
        if (
            len({arm.settings["model_name_or_path"] for arm in group}) != 1
            or len({arm.settings["max_completion_length"] for arm in group}) != 1
        ):
            raise RecipeError(
                "the recipes must share model and completion length to be compared: override them with "
                "--model_name_or_path and --max_completion_length."
            )
        if len({arm.agent for arm in group}) != 1:
            raise RecipeError(
                f"the recipes of {task} mix agent and single-turn recipes: compare them in separate sweeps."
            )
        if len({arm.name for arm in group}) != len(group):
            raise RecipeError(f"two recipes of {task} have the same file name: rename one.")
    if len(tasks) > 1 and not all(arm.agent for arm in arms):
        raise RecipeError("a single-turn sweep compares recipes of one task: give the YAMLs of one directory.")
    for arm in arms:
        arm.label = f"{arm.task}/{arm.name}" if len(tasks) > 1 else arm.name
        per_batch = arm.generations_per_batch
        if args.generations % per_batch:
            raise RecipeError(
                f"--generations {args.generations} is not a whole number of {arm.label}'s batches of "
                f"{per_batch}: give a multiple of {per_batch}."
            )
        if not arm.agent and eval_every_given:
            raise RecipeError(
                f"--eval_every sets when agent recipes are scored on held-out tasks, and {arm.label} is "
                "single-turn (read from its rewards): leave --eval_every out."
            )
        if arm.agent and not (
            arm.settings.get("dataset_test_split")
            and arm.settings.get("eval_strategy") == "steps"
            and arm.settings.get("eval_on_start")
        ):
            raise RecipeError(
                f"{arm.label} is read from its held-out success, so its YAML needs dataset_test_split, "
                "eval_strategy: steps and eval_on_start: true, as the shipped agent recipes have."
            )
        if arm.agent and (args.window % per_batch or not per_batch <= args.window <= args.generations):
            raise RecipeError(
                f"--window {args.window} must be whole batches of {arm.label}'s {per_batch} rollouts, "
                f"at most --generations {args.generations}: the end figures are read from whole batches."
            )
        if arm.agent and (not args.eval_every or args.eval_every % per_batch or args.generations % args.eval_every):
            raise RecipeError(
                f"--eval_every must be a multiple of {arm.label}'s batch of {per_batch} that divides "
                f"--generations {args.generations}, so every run is scored at the same rollouts and at "
                f"its end (--eval_every {per_batch} always is)."
            )
    return tasks


def make_plan(args: CompareArguments) -> Plan:
    """The sweep's arms and runs; `args` gets its study's defaults. Raises RecipeError before anything runs."""
    eval_every_given = args.eval_every is not None
    fill_in_study(args)
    overrides = {
        k: getattr(args, k) for k in ("model_name_or_path", "max_completion_length") if getattr(args, k) is not None
    }
    arms = [load_arm(config, overrides) for config in args.configs]
    tasks = check_arms(arms, args, eval_every_given)
    output_dir = Path(args.output_dir)
    if not (args.overwrite_output_dir or args.resume):
        refuse_used_output_dir(
            output_dir,
            "pass another --output_dir, --resume true to keep its finished runs, or --overwrite_output_dir true",
        )
    runs = [PlannedRun(arm, seed, output_dir / arm.label / f"seed-{seed}") for arm in arms for seed in args.seeds]
    return Plan(arms, tasks, output_dir, runs)
