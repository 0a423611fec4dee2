"""Checks of a recipe's input that run before any model is loaded.

Each failure is a `RecipeError` whose message is one line naming the problem and the fix; the
recipe prints it to standard error and exits, without a traceback, within seconds.
"""

import difflib
import json
import os
from dataclasses import fields
from pathlib import Path

import yaml

# File suffix -> the `datasets` builder that reads it: what a local data file looks like.
FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}
# Settings of earlier TRL recipes that TRL 1.x removed, and what to do instead.
REMOVED_SETTINGS = {
    "max_prompt_length": "TRL 1.x removed it and no longer truncates prompts: delete the setting. Prompts are used "
    "whole, and one that cannot fit beside max_completion_length in the model's context is named at start-up, "
    "to be shortened or filtered out of the data set",
}


class RecipeError(ValueError):
    """Bad input, reported as one line before any expensive work starts."""


def check_recipe_keys(config_path: str, dataclass_types) -> set[str]:
    """Every key of a YAML recipe must be a field of one of the recipe's argument classes; returns the keys."""
    path = Path(config_path)
    if not path.is_file():
        raise RecipeError(f"Recipe {path} does not exist: check the --config path.")
    try:
        recipe = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise RecipeError(f"Recipe {path} is not valid YAML: {' '.join(str(error).split())}") from None
    if not isinstance(recipe, dict):
        raise RecipeError(f"Recipe {path} must be a YAML mapping of settings.")
    valid = setting_names(dataclass_types) | {"env"}
    for key in recipe:
        if key not in valid:
            raise RecipeError(f"Unknown key '{key}' in recipe {path}: {unknown_setting_hint(key, valid)}")
    return set(recipe)


def setting_names(dataclass_types) -> set[str]:
    return {f.name for cls in dataclass_types for f in fields(cls)}


def unknown_setting_hint(name: str, valid: set[str]) -> str:
    """What to do about a setting that is not one: what replaced it, or the closest valid name."""
    if name in REMOVED_SETTINGS:
        return REMOVED_SETTINGS[name] + "."
    close = difflib.get_close_matches(name, valid, n=1)
    return f"did you mean '{close[0]}'?" if close else "see --help for the valid settings."


def check_generation_sizes(training_args) -> None:
    if training_args.max_completion_length is not None and training_args.max_completion_length <= 0:
        raise RecipeError(
            f"max_completion_length is {training_args.max_completion_length}: set it to a positive number of tokens."
        )


def check_process_group(training_args) -> None:
    """The processes a launcher started must train as one group, or each trains its own copy of the model
    into the same output directory. Call after parsing (the training arguments set the group up)."""
    import torch

    launched = int(os.environ.get("WORLD_SIZE", "1"))
    without_gpus = not torch.cuda.is_available()
    if os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true" and without_gpus:
        raise RecipeError(
            "FSDP2 needs GPUs, and this machine has none (accelerate would quietly run plain DDP instead): "
            "use accelerate_configs/deepspeed_zero3.yaml with --mixed_precision no for sharded training on CPU."
        )
    if launched > 1 and training_args.world_size == 1:
        fix = (
            "on a machine without GPUs pass --use_cpu true to the recipe for DDP, or launch with "
            "accelerate_configs/deepspeed_zero2.yaml or deepspeed_zero3.yaml and --mixed_precision no"
            if without_gpus
            else "check the launcher's --num_processes against the GPUs this machine has"
        )
        raise RecipeError(
            f"The launcher started {launched} processes but they did not join one process group, so each would "
            f"train its own copy into the same output_dir: {fix}."
        )


def check_reward_weights(reward_names: list[str], reward_weights: list[float] | None) -> None:
    if reward_weights is not None and len(reward_weights) != len(reward_names):
        raise RecipeError(
            f"{len(reward_weights)} reward_weights for {len(reward_names)} reward_funcs ({', '.join(reward_names)}): "
            "give one weight per reward, or none for equal weights."
        )


def parse_reward_kwargs(value: dict | str | None) -> dict | None:
    """`reward_kwargs` as a mapping: YAML gives one, the command line gives JSON."""
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise RecipeError(
                f"reward_kwargs is not valid JSON ({error}): give a mapping such as "
                '\'{"format": {"pattern": "^<answer>"}}\'.'
            ) from None
    if value is not None and not isinstance(value, dict):
        raise RecipeError(
            "reward_kwargs must map reward names to their settings, such as {format: {pattern: '^<answer>'}}."
        )
    return value


def check_reward_settings(funcs: list, names: list[str], columns: list[str]) -> None:
    """Check each reward against the data set's columns, then call each of the registry's rewards on an
    empty batch, so that a bad setting or a missing answer column fails now rather than at the first step.
    User rewards are not called: not every function takes an empty batch."""
    from rewards import is_registered

    passed = [column for column in columns if column != "prompt"]  # TRL passes the other columns by name
    for func, name in zip(funcs, names):
        check_reward_columns(func, name, passed, registered=is_registered(name))
    empty_columns = {column: [] for column in passed}
    for func, name in zip(funcs, names):
        if is_registered(name):
            try:
                func(prompts=[], completions=[], completion_ids=[], **empty_columns)
            except ValueError as error:
                raise RecipeError(" ".join(str(error).split())) from None


def check_reward_columns(func, name: str, columns: list[str], registered: bool) -> None:
    """A column named like a setting would replace it (TRL's keywords win over bound ones), and a
    parameter with no default that is no column would fail the first step."""
    import functools

    from rewards import keyword_parameters

    try:
        parameters = keyword_parameters(func)
    except (TypeError, ValueError):  # a callable whose signature Python cannot read: nothing to check
        return
    bound = func.keywords if isinstance(func, functools.partial) else {}
    for column in columns:
        if column in bound:
            raise RecipeError(
                f"The data set column '{column}' would replace the setting '{column}' that reward_kwargs gives reward "
                f"'{name}' (TRL passes every column to every reward by name): rename the column, or drop the setting."
            )
        # A setting of the registry's rewards is one value for the run, never a column's per-sample values.
        if registered and column in parameters and parameters[column].default is not parameters[column].empty:
            raise RecipeError(
                f"The data set column '{column}' would replace the setting '{column}' of reward '{name}' (TRL passes "
                "every column to every reward by name): rename the column."
            )
    needed = [p for p, spec in parameters.items() if spec.default is spec.empty and p not in bound]
    missing = [p for p in needed if p not in columns]
    if missing:
        raise RecipeError(
            f"Reward '{name}' reads the data set column '{missing[0]}', which this data set lacks (its columns: "
            f"{', '.join(columns) or 'none besides the prompt'}): rename the column that holds it to '{missing[0]}'."
        )


def looks_like_local_path(name: str) -> bool:
    """True for what can only be a path: a Hub id is `name` or `org/name`, nothing else."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1 or Path(name).suffix in FILE_BUILDERS


def is_offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes", "on")


def check_model_source(name_or_path: str, setting: str = "model_name_or_path") -> None:
    """A local model must exist (the embedded ones excepted: they are built on first use); offline, a Hub id must be
    cached. `setting` is where the name came from, for the messages."""
    from rl_recipes.embedded import embedded_model

    if not name_or_path:
        raise RecipeError(f"No model: set {setting} to a local directory or a Hub id.")
    path = Path(name_or_path).expanduser()
    if embedded_model(name_or_path) is not None or path.is_dir():
        return
    if path.exists():
        raise RecipeError(f"Model path {path} is a file: point {setting} at the directory that holds config.json.")
    if looks_like_local_path(name_or_path):
        raise RecipeError(f"Model path {name_or_path} does not exist: check {setting}.")
    if is_offline():
        from huggingface_hub import try_to_load_from_cache

        if not isinstance(try_to_load_from_cache(name_or_path, "config.json"), str):
            raise RecipeError(
                f"Model '{name_or_path}' is neither a local directory nor in the Hub cache, and HF_HUB_OFFLINE=1 forbids "
                f"downloading it: download it once with network, or point {setting} at a local copy."
            )


def check_adapter_base(adapter_dir: Path, fix: str) -> str:
    """The base model that a LoRA adapter's adapter_config.json names, checked like any model; `fix` ends
    each message with what the user can do instead."""
    from peft import PeftConfig

    base = PeftConfig.from_pretrained(adapter_dir).base_model_name_or_path
    if not base:
        raise RecipeError(f"{adapter_dir}/adapter_config.json names no base model: {fix}")
    try:
        check_model_source(base, setting=f"base_model_name_or_path in {adapter_dir}/adapter_config.json")
    except RecipeError as error:
        raise RecipeError(f"{error} {fix[0].upper()}{fix[1:]}") from None
    return base


def check_quantization(model_args) -> None:
    """QLoRA (`load_in_4bit` / `load_in_8bit`) needs bitsandbytes, a CUDA GPU and a LoRA adapter to train."""
    flag = "--load_in_4bit" if model_args.load_in_4bit else "--load_in_8bit" if model_args.load_in_8bit else None
    if flag is None:
        return
    import torch
    from transformers.utils import is_bitsandbytes_available

    if not torch.cuda.is_available():
        raise RecipeError(
            f"{flag} quantizes the model with bitsandbytes, which needs a CUDA GPU and this machine has none: "
            "run on a GPU, or leave the flag out to train in full precision."
        )
    if not is_bitsandbytes_available():
        raise RecipeError(f"{flag} needs the bitsandbytes package: pip install bitsandbytes, or leave the flag out.")
    if not model_args.use_peft:
        raise RecipeError(
            f"{flag} freezes the quantized weights, so only a LoRA adapter can train: add --use_peft true."
        )


def check_hub_settings(script_args, training_args) -> None:
    """Settings of TRL's script arguments that the recipes do not carry out."""
    if script_args.dataset_streaming:
        raise RecipeError(
            "dataset_streaming is not supported: the recipes load the prompts whole; set it false "
            "(a prompt set large enough to need streaming can be cut to the rows a run uses)."
        )
    if training_args.push_to_hub:
        raise RecipeError(
            "push_to_hub is not supported: set it false and upload the output directory afterwards "
            "with `hf upload <repo> <output_dir>`."
        )


def check_evaluation_split(name_or_path: str, test_split: str, eval_strategy, eval_on_start: bool = False) -> None:
    """Evaluation reads the `dataset_test_split` of the prompts' source, which a single local file does not have, and
    an evaluation before training needs evaluation to be on."""
    if eval_on_start and eval_strategy == "no":
        raise RecipeError(
            "eval_on_start evaluates before the first step, but eval_strategy is no, so no evaluation data "
            "is loaded: set eval_strategy steps (with a dataset_test_split), or eval_on_start false."
        )
    if eval_strategy == "no" or not name_or_path:
        return
    if Path(name_or_path).expanduser().suffix in FILE_BUILDERS:
        raise RecipeError(
            f"eval_strategy is {getattr(eval_strategy, 'value', eval_strategy)}, but dataset_name {name_or_path} is one file, with no "
            f"'{test_split}' split to evaluate on: use a data set directory with a {test_split} split (or a Hub "
            "data set), or set eval_strategy no."
        )
