"""Prompts for the trainers, from a Hub data set, a local data set directory, or a local file.

A prompt is plain text, which the policy continues as is (base models), or a conversation, a list
of chat messages that TRL renders with the model's chat template (instruct models). Text prompts
become conversations with `conversational` (or a `system_prompt`). Every other column of the data
set, an answer for instance, reaches the rewards as a keyword argument.
"""

from pathlib import Path

from rl_recipes.checks import FILE_BUILDERS, RecipeError, is_offline, looks_like_local_path


def load_prompts(
    name_or_path: str,
    config: str | None,
    split: str,
    prompt_column: str,
    min_rows: int = 1,
    conversational: bool = False,
    system_prompt: str | None = None,
):
    """The `split` of the data set, its prompt column named `prompt` (as conversations if asked), repeated
    until it fills a generation batch."""
    from datasets import concatenate_datasets, load_dataset

    if not name_or_path:
        raise RecipeError("No prompts: set dataset_name to a Hub data set, a local directory or a .jsonl/.json/.csv/.parquet/.txt file.")
    path = Path(name_or_path).expanduser()
    if looks_like_local_path(name_or_path) and not path.exists():
        raise RecipeError(f"Dataset path {name_or_path} does not exist: check dataset_name.")
    if path.is_file() and path.stat().st_size == 0:
        raise RecipeError(f"Dataset {name_or_path} is empty: give it at least one prompt.")
    try:
        if path.suffix in FILE_BUILDERS:
            dataset = load_dataset(FILE_BUILDERS[path.suffix], data_files=str(path), split="train")
        else:
            dataset = load_dataset(name_or_path, name=config, split=split)
    except Exception as error:  # datasets raises many kinds; all mean the prompts cannot be read
        if str(error).startswith("Unknown split"):
            raise RecipeError(f"Dataset {name_or_path} has no split '{split}' ({' '.join(str(error).split())[:200]}): "
                              "check dataset_train_split and dataset_test_split.") from None
        hint = " (HF_HUB_OFFLINE=1: a Hub data set must be in the cache)" if is_offline() else ""
        raise RecipeError(f"Cannot load dataset '{name_or_path}'{hint}: {' '.join(str(error).split())[:300]}") from None

    if path.suffix == ".txt" and prompt_column == "prompt":
        prompt_column = "text"  # plain text files: one prompt per line, in the builder's `text` column
    if prompt_column not in dataset.column_names:
        raise RecipeError(
            f"Dataset {name_or_path} has no column '{prompt_column}' (it has {', '.join(dataset.column_names)}): "
            "set --prompt_column to the one that holds the prompts."
        )
    if prompt_column != "prompt":
        if "prompt" in dataset.column_names:
            dataset = dataset.remove_columns("prompt")
        dataset = dataset.rename_column(prompt_column, "prompt")
    if len(dataset) == 0:
        raise RecipeError(f"Dataset {name_or_path} (split '{split}') is empty: give it at least one prompt.")
    if conversational or system_prompt:
        dataset = dataset.map(lambda row: {"prompt": as_conversation(row["prompt"], system_prompt)})
    # Every generation batch draws `min_rows` distinct rows; a smaller set (one prompt, say) is repeated.
    if len(dataset) < min_rows:
        dataset = concatenate_datasets([dataset] * -(-min_rows // len(dataset)))
    return dataset


def as_conversation(prompt, system_prompt: str | None) -> list[dict]:
    """A text prompt as the user's message, after the system prompt if any; a conversation gets the system prompt
    unless it has one."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if system_prompt and messages[0]["role"] != "system":
        messages = [{"role": "system", "content": system_prompt}, *messages]
    return messages
