"""The recipes' command line: `RecipeArguments` (TRL's script arguments plus the rewards, tools and output
settings) and `parse_args`, which reads a `--config` YAML and the flags with TRL's parser, as TRL's own scripts do.

Heavy imports live inside the functions so that `--help` answers at once.
"""

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from trl import ModelConfig, ScriptArguments

from rl_recipes.checks import (
    RecipeError,
    check_recipe_keys,
    parse_reward_kwargs,
    setting_names,
    unknown_setting_hint,
)
from rl_recipes.trainers.reward_guard import FAULT_POLICIES


@dataclass
class RecipeArguments(ScriptArguments):
    """TRL's script arguments (`dataset_name`, `dataset_config`, `dataset_train_split`, ...) plus the rewards."""

    reward_funcs: list[str] = field(
        default_factory=lambda: ["a_words"],
        metadata={
            "help": "Rewards to train on: names from the `rewards` registry (TRL's own names among them, such as "
            "`accuracy_reward`) or dotted paths `package.module.function` to your own. Weight them with `--reward_weights`."
        },
    )
    reward_kwargs: dict | str | None = field(
        default=None,
        metadata={
            "help": "Settings of the rewards, by reward name: in YAML a mapping such as {format: {pattern: '...'}}, "
            "on the command line the same as JSON."
        },
    )
    prompt_column: str = field(
        default="prompt", metadata={"help": "Dataset column holding the prompts (renamed to `prompt` for TRL)."}
    )
    conversational: bool = field(
        default=False,
        metadata={"help": "Send text prompts as a user message through the model's chat template (instruct models)."},
    )
    system_prompt: str | None = field(
        default=None, metadata={"help": "A system message before every prompt; implies conversational."}
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Allow training into an output directory that already holds files."}
    )
    save_completions: bool = field(
        default=False,
        metadata={"help": "Append every completion with its step and reward to <output_dir>/completions.jsonl."},
    )
    reward_faults: str = field(
        default="stop",
        metadata={
            "help": "What a reward that raises or returns a bad value does: 'stop' saves a checkpoint and stops the "
            "run, naming the fault; 'skip' leaves those samples out (as None) and logs reward_faults/<name>.",
            "choices": list(FAULT_POLICIES),
        },
    )
    tools: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Tools the model may call, as in TRL's GRPOTrainer: names of shipped tools (add, subtract, multiply) or "
            "dotted paths package.module.function to your own (type hints and an Args: docstring)."
        },
    )
    environment_factory: dict | str | None = field(
        default=None,
        metadata={
            "help": "Dotted path of an environment class, as in TRL's GRPOTrainer: one instance per rollout, "
            "reset(**row) per task, its public methods as tools, an optional get_reward(). Or several, "
            "by name (in YAML a mapping, on the command line JSON), picked by each row's `environment` column."
        },
    )
    tool_call_timeout: float = field(
        default=10.0,
        metadata={"help": "Seconds a tool call may take; past them the model gets an error result. 0: no limit."},
    )
    num_samples_to_show: int = field(
        default=3, metadata={"help": "How many of the last completions to print in the closing summary."}
    )
    console_metrics: list[str] = field(
        default_factory=lambda: ["reward", "reward_std", "entropy", "distinct_completions", "eval_reward"],
        metadata={
            "help": "Logged metrics shown in the progress bar (eval_ ones once an evaluation logs them); `all` prints "
            "every log as a dictionary instead. Every log goes to trainer_state.json and --report_to either way."
        },
    )


def parse_args(config_class, default_config: Path, argv: list[str] | None = None):
    """(RecipeArguments, config, ModelConfig) from `--config` YAML and flags; `default_config` when no YAML is named.

    bf16 follows `rl_recipes.precision`: on a run that trains on the CPU, left unset it becomes float32
    with one line, and asked for it stops the run with one line."""
    from rl_recipes.arguments import RecipeParser
    from rl_recipes.console import quiet_library_warnings
    from rl_recipes.precision import (
        BF16_UNSUPPORTED,
        bf16_fallback_notice,
        bf16_left_to_default,
        bf16_refusal,
        say_once,
        trains_on_cpu,
    )

    quiet_library_warnings()  # before the configs are built: some of their defaults warn
    argv = list(sys.argv[1:] if argv is None else argv)
    if "--config" not in argv:
        argv = ["--config", str(default_config), *argv]
    dataclass_types = (RecipeArguments, config_class, ModelConfig)
    config_path = argv[argv.index("--config") + 1]
    recipe_keys = check_recipe_keys(config_path, dataclass_types)
    parser = RecipeParser(dataclass_types, config_path)
    if backend := launcher_default_backend():
        parser.set_defaults(ddp_backend=backend)  # a default: the YAML's ddp_backend and the flag still win
    try:
        script_args, training_args, model_args = parser.parse_args_and_config(args=argv)
        bf16_on_cpu = training_args.bf16 and trains_on_cpu(training_args)
    except ValueError as error:  # the config classes' own checks: batch and generation sizes, ...
        if BF16_UNSUPPORTED not in str(error):
            raise RecipeError(argument_error(error, argv, dataclass_types)) from None
        bf16_on_cpu = True
    if bf16_on_cpu:
        if not bf16_left_to_default(argv, recipe_keys):
            raise RecipeError(bf16_refusal())
        # TRL's configs default to bf16, for GPUs; a recipe that does not ask for it runs here in float32.
        say_once(bf16_fallback_notice())
        return parse_args(config_class, default_config, [*argv, "--bf16", "false"])
    script_args.reward_kwargs = parse_reward_kwargs(script_args.reward_kwargs)
    return script_args, training_args, model_args


def argument_error(error: ValueError, argv: list[str], dataclass_types) -> str:
    """The parser's or a config class's error as one line; an unknown flag gets the same hint as an unknown YAML key."""
    from rl_recipes.arguments import flag_name

    valid = setting_names(dataclass_types) | {"config"}
    unknown = next((name for name in map(flag_name, argv) if name is not None and name not in valid), None)
    if unknown and str(error).startswith("Some specified arguments are not used"):
        return f"Unknown flag --{unknown}: {unknown_setting_hint(unknown, valid)}"
    return " ".join(str(error).split())


def launcher_default_backend() -> str | None:
    """ "gloo" for the processes of a DeepSpeed launch on a machine without GPUs, else None (the default).

    The parsed training arguments set up the process group, so this must be decided before parsing.
    Left to itself, a DeepSpeed launch on such a machine finds no backend: accelerate counts one
    process while DeepSpeed counts them all, and fails its batch-size check. With gloo they form one
    group on the CPU (DeepSpeed picks its CPU accelerator). DDP on CPU is asked for with --use_cpu true,
    which picks gloo in accelerate; a DDP launch without it stops in `check_process_group`.
    """
    import torch

    deepspeed = os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true"
    if deepspeed and int(os.environ.get("WORLD_SIZE", "1")) > 1 and not torch.cuda.is_available():
        return "gloo"
    return None
