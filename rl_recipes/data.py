"""Prompts for the trainers, from a Hub data set, a local data set directory, or a local file.

A prompt is plain text, which the policy continues as is (base models), or a conversation, a list
of chat messages that TRL renders with the model's chat template (instruct models). Text prompts
become conversations with `conversational` (or a `system_prompt`). Every other column of the data
set, an answer for instance, reaches the rewards as a keyword argument.
"""

from pathlib import Path

from rl_recipes.checks import FILE_BUILDERS, RecipeError, is_offline, looks_like_local_path

# A row's prompt where an environment's `reset` supplies it: an empty user message, which the observation fills
# (TRL's GRPOTrainer uses the same).
EMPTY_PROMPT = [{"role": "user", "content": ""}]


def load_prompts(
    name_or_path: str,
    config: str | None,
    split: str,
    prompt_column: str,
    conversational: bool = False,
    system_prompt: str | None = None,
    environment_prompts: bool = False,
    split_setting: str | None = None,
):
    """The `split` of the data set, its prompt column named `prompt` (as conversations if asked). With
    `environment_prompts` (an environment whose `reset` supplies the prompt, as TRL allows), a data set without the
    prompt column gets an empty user message in each row.

    What the user can get wrong (a missing file or split, an empty or malformed file, no network for a Hub
    data set) is one line; any other error keeps its traceback, which is where a bug shows. `split_setting`,
    the setting that chose `split` (`dataset_train_split`, ...), is the one an empty split's error names."""
    from datasets import load_dataset
    from datasets.exceptions import DatasetsError

    if not name_or_path:
        raise RecipeError(
            "No prompts: set dataset_name to a Hub data set, a local directory or a .jsonl/.json/.csv/.parquet/.txt file."
        )
    path = Path(name_or_path).expanduser()
    if looks_like_local_path(name_or_path) and not path.exists():
        raise RecipeError(f"Dataset path {name_or_path} does not exist: check dataset_name.")
    if path.is_file() and has_no_rows(path):
        raise RecipeError(f"Dataset {name_or_path} is empty: give it at least one prompt.")
    files = local_split_files(path, config) if path.is_dir() else {}  # split -> its files, for a local directory
    empty_files = [file for split_files in files.values() for file in split_files if has_no_rows(file)]
    if files.get(split) and all(file in empty_files for file in files[split]):
        raise empty_split_error(name_or_path, split, files[split], split_setting)
    try:
        if path.suffix in FILE_BUILDERS:
            dataset = load_dataset(FILE_BUILDERS[path.suffix], data_files=str(path), split="train")
        else:
            dataset = load_dataset(name_or_path, name=config, split=split)
    # A path, a split, a file's contents, the network; StopIteration: datasets' JSON builder reads the columns from
    # the first rows of a directory's first split, whichever split is asked for, and an empty file has none.
    except (DatasetsError, OSError, ValueError, StopIteration) as error:
        if empty_files:  # datasets reads every split file of a directory, and one with no rows can stop it
            them = "it" if len(empty_files) == 1 else "them"
            raise RecipeError(
                f"Dataset {name_or_path} cannot load split '{split}': {no_rows(name_or_path, empty_files)}, "
                f"and datasets reads every split file of a directory: add rows, or move {them} out of "
                f"{name_or_path}."
            ) from None
        if isinstance(error, StopIteration):
            raise
        if "corresponds to no data" in str(error):  # a file with no rows that is not blank: `[]`, a CSV header alone
            if path.is_file():
                raise RecipeError(f"Dataset {name_or_path} is empty: give it at least one prompt.") from None
            if files.get(split):
                raise empty_split_error(name_or_path, split, files[split], split_setting) from None
        if str(error).startswith("Unknown split"):
            raise RecipeError(
                f"Dataset {name_or_path} has no split '{split}' ({' '.join(str(error).split())[:200]}): "
                "check dataset_train_split and dataset_test_split."
            ) from None
        hint = " (HF_HUB_OFFLINE=1: a Hub data set must be in the cache)" if is_offline() else ""
        raise RecipeError(f"Cannot load dataset '{name_or_path}'{hint}: {' '.join(str(error).split())[:300]}") from None

    if path.suffix == ".txt" and prompt_column == "prompt":
        prompt_column = "text"  # plain text files: one prompt per line, in the builder's `text` column
    if prompt_column not in dataset.column_names and environment_prompts:
        dataset = dataset.add_column("prompt", [EMPTY_PROMPT] * len(dataset))
        prompt_column = "prompt"
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
    check_prompt_rows(dataset["prompt"], f"{name_or_path} (split '{split}')", prompt_column)
    if conversational or system_prompt:
        dataset = dataset.map(lambda row: {"prompt": as_conversation(row["prompt"], system_prompt)})
    return dataset


# The file formats whose bytes are text: a file of blank lines holds no rows.
TEXT_SUFFIXES = {".jsonl", ".json", ".csv", ".tsv", ".txt"}


def has_no_rows(file: Path) -> bool:
    """Whether a data file is empty: zero bytes, or (a text format) nothing but blank lines."""
    if file.stat().st_size == 0:
        return True
    if file.suffix not in TEXT_SUFFIXES:
        return False
    with file.open("rb") as stream:
        while chunk := stream.read(1 << 16):
            if chunk.strip():
                return False
    return True


def local_split_files(path: Path, config: str | None) -> dict[str, list[Path]]:
    """Split -> its files, for the local data set directory `path`, as `datasets` finds them (by file name, or by
    the README's configs); {} where it cannot tell (loading the data set then says why)."""
    from datasets import load_dataset_builder
    from datasets.exceptions import DatasetsError

    try:
        data_files = load_dataset_builder(str(path), name=config).config.data_files or {}
    except (DatasetsError, OSError, ValueError):
        return {}
    return {
        str(split): [Path(file) for file in split_files if Path(file).is_file()]
        for split, split_files in data_files.items()
    }


def no_rows(name_or_path: str, files: list[Path]) -> str:
    """`<files> has no rows`, each file under the directory as the user named it."""
    root = Path(name_or_path).expanduser().resolve()

    def shown(file: Path) -> str:
        try:
            return str(Path(name_or_path) / file.resolve().relative_to(root))
        except ValueError:  # a README config's file outside the directory
            return str(file)

    listed = ", ".join(map(shown, files[:3])) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    return f"{listed} {'has' if len(files) == 1 else 'have'} no rows"


def empty_split_error(name_or_path: str, split: str, files: list[Path], split_setting: str | None) -> RecipeError:
    """The asked-for split of a local directory has files, and none of them has a row."""
    setting = f" with --{split_setting}" if split_setting else ""
    return RecipeError(
        f"Dataset {name_or_path} has an empty split '{split}' ({no_rows(name_or_path, files)}): "
        f"add rows, or name another split{setting}."
    )


def check_prompt_rows(prompts: list, source: str, column: str) -> None:
    """Every row must hold what the trainer samples: a text, or a list of chat messages with a role and content.
    The first row that does not is named, with its column, before any model loads."""
    for row, prompt in enumerate(prompts):
        problem = prompt_problem(prompt)
        if problem:
            raise RecipeError(
                f"Row {row} of dataset {source}: column '{column}' {problem}: fix or drop the row "
                "(rows are counted from 0)."
            )


def prompt_problem(prompt) -> str | None:
    """What is wrong with one row's prompt, or None."""
    if isinstance(prompt, str):
        return "is empty" if not prompt.strip() else None
    if prompt is None:
        return "is missing (null)"
    if not isinstance(prompt, list):
        return f"holds a {type(prompt).__name__}, not a text or a list of chat messages"
    if not prompt:
        return "is an empty list of messages"
    for index, message in enumerate(prompt):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            return f"has a message {index} without a role"
        if message.get("content") is None:
            return f"has a message {index} ({message['role']}) without content"
    return None


def rows_per_generation_batch(training_args) -> int:
    """Distinct prompts the trainer draws for one generation batch across all processes."""
    return training_args.generation_batch_size // training_args.num_generations


def repeat_to_fill(dataset, min_rows: int):
    """`dataset`, repeated until it holds `min_rows` rows: every generation batch draws that many distinct rows,
    and a smaller set (one prompt, say) must still fill it."""
    from datasets import concatenate_datasets

    return dataset if len(dataset) >= min_rows else concatenate_datasets([dataset] * -(-min_rows // len(dataset)))


def as_conversation(prompt, system_prompt: str | None) -> list[dict]:
    """A text prompt as the user's message, after the system prompt if any; a conversation gets the system prompt
    unless it has one."""
    messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
    if system_prompt and messages[0]["role"] != "system":
        messages = [{"role": "system", "content": system_prompt}, *messages]
    return messages


def tokenize_prompts(
    prompts: list, tokenizer, chat_template_kwargs: dict | None = None, tools: list | None = None
) -> list[list[int]]:
    """Each prompt's token ids as TRL makes them: text as it is, conversations through the chat template with the
    generation prompt and, for an agent, the `tools` it is offered (their schemas are part of the prompt). Chat prompts
    with a tokenizer that has no chat template stop with one line."""
    prompts = list(prompts)  # a data set's column reads as a sequence, but the tokenizer takes lists only
    if not prompts or isinstance(prompts[0], str):
        return tokenizer(prompts)["input_ids"]
    if getattr(tokenizer, "chat_template", None) is None:
        raise RecipeError(
            "The prompts are chat messages (conversational, a system_prompt, or a data set of message lists), but the "
            "model's tokenizer has no chat template: use plain text prompts (conversational false, no system_prompt), "
            "or a model whose tokenizer has one (an instruct or chat model)."
        )
    return tokenizer.apply_chat_template(
        prompts,
        tools=tools or None,
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
        **(chat_template_kwargs or {}),
    )["input_ids"]


def check_prompts_fit(
    prompts: list,
    tokenizer,
    max_positions: int | None,
    max_completion_length: int | None,
    source: str,
    chat_template_kwargs: dict | None = None,
    tools: list | None = None,
) -> None:
    """Every prompt, with `max_completion_length` tokens after it, must fit in the model's `max_positions`; TRL 1.x
    does not truncate prompts, and generation past the last position fails, or goes on reading garbage, mid-run.
    Prompts are measured as the model will see them, with the schemas of the `tools` an agent is offered. (What an
    environment's `reset` appends is known only when it runs: the agent trainers check that then.) The rows that do
    not fit are named, before any model loads."""
    lengths = [len(ids) for ids in tokenize_prompts(prompts, tokenizer, chat_template_kwargs, tools)]
    if max_positions is None:
        return
    room = max_positions - (max_completion_length or 0)
    too_long = [row for row, length in enumerate(lengths) if length > room]
    if not too_long:
        return
    rows = ", ".join(map(str, too_long[:5])) + (f" and {len(too_long) - 5} more" if len(too_long) > 5 else "")
    rows = (
        f"Rows {rows} of dataset {source} have prompts"
        if len(too_long) > 1
        else f"Row {rows} of dataset {source} has a prompt"
    )
    fix = (
        f"lower max_completion_length to at most {max_positions - max(lengths)}, or "
        if max(lengths) < max_positions
        else ""
    )
    raise RecipeError(
        f"{rows} too long for the model: the longest has {max(lengths)} tokens "
        f"(row {lengths.index(max(lengths))}), and with max_completion_length {max_completion_length} a prompt may "
        f"have at most {room} of the model's {max_positions} positions. TRL 1.x does not truncate prompts: {fix}"
        "shorten those rows or filter them out of the data set (rows are counted from 0)."
    )
