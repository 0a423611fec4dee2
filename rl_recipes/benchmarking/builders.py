"""The trainers the benchmark times, built from a recipe YAML and flags: as the recipe scripts build them (the
algorithm's classes from `rl_recipes.algorithms`), or stock TRL's RLOOTrainer as `trl rloo` builds it. Each reports
nowhere and prints no logs, so that the benchmark's tables stay readable."""

import functools
from pathlib import Path

from transformers import PrinterCallback

from rl_recipes.benchmarking.arguments import BenchmarkArguments

QUIET = ["--report_to", "none", "--disable_tqdm", "true"]


def precision_overrides(args: BenchmarkArguments) -> list[str]:
    """The dtype and device flags every trainer the benchmark builds shares."""
    return [
        "--dtype",
        args.dtype,
        "--bf16",
        str(args.dtype == "bfloat16").lower(),
        "--use_cpu",
        str(args.device == "cpu").lower(),
    ]


def recipe_overrides(args: BenchmarkArguments, output_dir: str) -> list[str]:
    overrides = [
        "--model_name_or_path",
        args.model_name_or_path,
        "--output_dir",
        output_dir,
        "--overwrite_output_dir",
        "true",
        "--max_completion_length",
        str(args.completion_length),
        "--per_device_train_batch_size",
        str(args.generations_per_step),
        "--max_steps",
        str(args.warmup_steps + args.steps),
        *precision_overrides(args),
        "--activation_checkpointing",
        str(args.gradient_checkpointing).lower(),
        "--save_strategy",
        "no",
        "--logging_steps",
        "1",
    ]
    if args.use_peft:
        overrides += ["--use_peft", "true", "--lora_target_modules", "all-linear"]
    return overrides


def quiet_recipe_trainer(algorithm, config: Path, overrides: list[str]):
    """The trainer `algorithm`'s recipe script (an `rl_recipes.algorithms.Algorithm`) builds from `config` and
    `overrides`, reporting nowhere and printing no logs."""
    from rl_recipes.runner.assembly import build_trainer
    from rl_recipes.runner.cli import parse_args

    trainer = build_trainer(algorithm, *parse_args(algorithm.config_class, config, [*overrides, *QUIET]))
    trainer.remove_callback(
        PrinterCallback
    )  # without a progress bar the trainer prints every log; keep the table readable
    return trainer


def recipe_builder(algorithm, config: Path | None = None):
    """A builder for `timing.time_recipe`: flags in, the trainer of `algorithm`'s recipe script out, from `config`
    (default: the algorithm's default YAML)."""
    return functools.partial(quiet_recipe_trainer, algorithm, config or algorithm.default_config)


def stock_trl_trainer(overrides: list[str]):
    """TRL's RLOOTrainer as `trl rloo` builds it, from the RLOO recipe's YAML and `overrides`, with none of our mixins
    or callbacks: the comparison, so TRL's own config and trainer classes, not the registry's."""
    from trl import RLOOConfig, RLOOTrainer, get_peft_config

    from rewards import get_reward_funcs
    from rl_recipes.algorithms import ALGORITHMS
    from rl_recipes.data import load_prompts
    from rl_recipes.runner.assembly import model_init_kwargs
    from rl_recipes.runner.cli import parse_args

    script_args, training_args, model_args = parse_args(
        RLOOConfig, ALGORITHMS["rloo"].default_config, [*overrides, *QUIET]
    )
    training_args.model_init_kwargs = model_init_kwargs(model_args, training_args)
    training_args.dataloader_pin_memory = training_args.device.type != "cpu"  # as the recipes: a CPU has no use for it
    trainer = RLOOTrainer(
        model=model_args.model_name_or_path,
        reward_funcs=get_reward_funcs(script_args.reward_funcs, script_args.reward_kwargs),
        args=training_args,
        train_dataset=load_prompts(
            script_args.dataset_name,
            script_args.dataset_config,
            script_args.dataset_train_split,
            script_args.prompt_column,
        ),
        peft_config=get_peft_config(model_args),  # as `trl rloo` passes it: --use_peft trains LoRA here too
    )
    trainer.remove_callback(PrinterCallback)
    return trainer
