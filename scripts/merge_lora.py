"""Merge a LoRA adapter into its base model and save a standalone model that loads without PEFT.

    python scripts/merge_lora.py --adapter_dir outputs/a_words/rloo_lora --output_dir outputs/a_words/rloo_lora_merged
    python scripts/merge_lora.py --adapter_dir my_adapter --base_model Qwen/Qwen2.5-0.5B --dtype bfloat16 \\
        --output_dir merged --overwrite_output_dir true

A LoRA run of a recipe saves only the adapter (`adapter_model.safetensors`, `adapter_config.json`)
and the tokenizer. This loads the base that `adapter_config.json` names (or `--base_model`), applies
the adapter with `PeftModel.from_pretrained`, folds it into the base weights with `merge_and_unload`,
and saves model and tokenizer (the adapter directory's, else the base's) with `save_pretrained`, so
`AutoModelForCausalLM.from_pretrained(output_dir)` gives the fine-tuned model. A relative base path
is read from the repository root, where the recipes run and record it.
"""

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from transformers import HfArgumentParser

from rl_recipes import REPO_ROOT
from rl_recipes.checks import RecipeError, check_adapter_base, check_model_source
from rl_recipes.embedded import ensure_embedded_model
from rl_recipes.run_directory import refuse_used_output_dir
from rl_recipes.saving import model_dir_written_whole


@dataclass
class MergeArguments:
    adapter_dir: str = field(
        metadata={"help": "Directory of a LoRA run: adapter_config.json, adapter weights, tokenizer."}
    )
    output_dir: str = field(metadata={"help": "Where to save the merged model and its tokenizer."})
    base_model: str | None = field(
        default=None,
        metadata={"help": "Base model directory or Hub id; default: base_model_name_or_path of the adapter."},
    )
    dtype: str = field(
        default="auto",
        metadata={
            "help": "dtype to load, merge and save in; 'auto' keeps the base checkpoint's.",
            "choices": ["auto", "float32", "bfloat16", "float16"],
        },
    )
    overwrite_output_dir: bool = field(
        default=False, metadata={"help": "Replace an output directory that holds files."}
    )


def check_arguments(args: MergeArguments) -> str:
    """Check every input before any weights load; returns the base model to merge into."""
    adapter_dir, output_dir = Path(args.adapter_dir), Path(args.output_dir)
    if not adapter_dir.is_dir():
        raise RecipeError(f"Adapter directory {adapter_dir} does not exist: check --adapter_dir.")
    if not (adapter_dir / "adapter_config.json").is_file():
        what = (
            "a full model, with nothing to merge" if (adapter_dir / "config.json").is_file() else "no LoRA run's output"
        )
        raise RecipeError(
            f"{adapter_dir} has no adapter_config.json ({what}): point --adapter_dir at a LoRA run's output_dir."
        )
    if output_dir.resolve() == adapter_dir.resolve():
        raise RecipeError("--output_dir is the adapter directory: save the merged model somewhere else.")
    if output_dir.is_file():
        raise RecipeError(f"Output directory {output_dir} is a file: pass a directory as --output_dir.")
    if not args.overwrite_output_dir:
        refuse_used_output_dir(output_dir, "pass another --output_dir, or --overwrite_output_dir true to replace it")
    if args.base_model:
        check_model_source(args.base_model, setting="--base_model")
        return args.base_model
    return check_adapter_base(adapter_dir, fix="pass --base_model to merge into another.")


def merge(adapter_dir: Path, base: str, dtype: str):
    """The base with the adapter folded into its weights: a plain transformers model."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(base, dtype=dtype)
    return PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()


def main() -> None:
    (args,) = HfArgumentParser(MergeArguments).parse_args_into_dataclasses()
    from transformers import AutoTokenizer

    # The user's paths are read from where they run this; then, from the repository root, a relative
    # base path as the recipes record it (models/tiny-story).
    adapter_dir, output_dir = Path(args.adapter_dir).resolve(), Path(args.output_dir).resolve()
    args.adapter_dir, args.output_dir = str(adapter_dir), str(output_dir)
    if args.base_model and Path(args.base_model).exists():
        args.base_model = str(Path(args.base_model).resolve())
    os.chdir(REPO_ROOT)
    try:
        base = check_arguments(args)
    except RecipeError as error:
        sys.exit(f"error: {error}")
    ensure_embedded_model(base)

    # The run saved the tokenizer it trained with beside the adapter; an adapter saved without one uses the base's.
    has_tokenizer = (adapter_dir / "tokenizer_config.json").is_file()
    try:
        model = merge(adapter_dir, base, args.dtype)
        tokenizer = AutoTokenizer.from_pretrained(adapter_dir if has_tokenizer else base)
    except OSError as error:  # what transformers raises for a Hub id it cannot fetch
        sys.exit(f"error: cannot load base model '{base}': {' '.join(str(error).split())[:300]}")

    with model_dir_written_whole(output_dir) as scratch:
        model.save_pretrained(scratch / "model")
        tokenizer.save_pretrained(scratch / "model")
    print(f"Merged {adapter_dir} into {base}: saved to {output_dir}")


if __name__ == "__main__":
    main()
