"""Prompts for the trainers, from a Hub data set, a local data set directory, or a local file."""

from pathlib import Path

from recipes.runner import RecipeError

# File suffix -> the `datasets` builder that reads it.
FILE_BUILDERS = {".jsonl": "json", ".json": "json", ".csv": "csv", ".parquet": "parquet", ".txt": "text"}


def load_prompts(name_or_path: str, config: str | None, split: str, prompt_column: str, min_rows: int = 1):
    """The `split` of the data set, its prompt column named `prompt`, repeated until it fills a generation batch."""
    from datasets import concatenate_datasets, load_dataset

    if not name_or_path:
        raise RecipeError("No prompts: set dataset_name to a Hub data set, a local directory or a .jsonl/.json/.csv/.parquet/.txt file.")
    path = Path(name_or_path)
    if path.suffix in FILE_BUILDERS:
        if not path.is_file():
            raise RecipeError(f"Prompt file {path} does not exist: check dataset_name.")
        dataset = load_dataset(FILE_BUILDERS[path.suffix], data_files=str(path), split="train")
    else:
        dataset = load_dataset(name_or_path, name=config, split=split)

    if prompt_column != "prompt":
        if "prompt" in dataset.column_names:
            dataset = dataset.remove_columns("prompt")
        if prompt_column in dataset.column_names:
            dataset = dataset.rename_column(prompt_column, "prompt")
    elif "text" in dataset.column_names and "prompt" not in dataset.column_names and path.suffix == ".txt":
        dataset = dataset.rename_column("text", "prompt")  # plain text files: one prompt per line
    if "prompt" not in dataset.column_names:
        raise RecipeError(
            f"Dataset {name_or_path} has no column '{prompt_column}' (it has {', '.join(dataset.column_names)}): "
            "set --prompt_column to the one that holds the prompts."
        )
    if len(dataset) == 0:
        raise RecipeError(f"Dataset {name_or_path} split '{split}' is empty.")
    # Every generation batch draws `min_rows` distinct rows; a smaller set (one prompt, say) is repeated.
    if len(dataset) < min_rows:
        dataset = concatenate_datasets([dataset] * -(-min_rows // len(dataset)))
    return dataset
