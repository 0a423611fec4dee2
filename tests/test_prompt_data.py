"""Prompts from every supported file format, renamed columns, extra columns and chat conversations."""

import json
import re

import pytest
from datasets import Dataset

from rl_recipes.checks import RecipeError
from rl_recipes.data import load_prompts, repeat_to_fill
from tests.conftest import REPO_ROOT

ROWS = [{"question": "What is 2 + 2?", "answer": "4"}, {"question": "What is 3 x 3?", "answer": "9"}]


def write(path, rows):
    """`rows` in the format that `path`'s suffix names."""
    if path.suffix == ".txt":
        path.write_text("".join(row["question"] + "\n" for row in rows))
    elif path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    elif path.suffix == ".json":
        path.write_text(json.dumps(rows))
    elif path.suffix == ".csv":
        Dataset.from_list(rows).to_csv(path)
    else:
        Dataset.from_list(rows).to_parquet(path)
    return path


@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv", ".parquet"])
def test_each_file_format_gives_the_prompts_under_prompt_and_keeps_the_other_columns(tmp_path, suffix):
    path = write(tmp_path / f"maths{suffix}", ROWS)
    dataset = load_prompts(str(path), None, "train", prompt_column="question")
    assert dataset["prompt"] == [row["question"] for row in ROWS]
    assert [str(answer) for answer in dataset["answer"]] == [
        "4",
        "9",
    ]  # the rewards get it as a keyword argument (CSV reads numbers)


def test_a_text_file_is_one_prompt_per_line(tmp_path):
    dataset = load_prompts(str(write(tmp_path / "maths.txt", ROWS)), None, "train", prompt_column="prompt")
    assert dataset["prompt"] == [row["question"] for row in ROWS]


def test_a_local_data_set_directory_loads_like_a_hub_data_set(tmp_path):
    (tmp_path / "data").mkdir()
    write(tmp_path / "data" / "train.jsonl", ROWS)
    dataset = load_prompts(str(tmp_path / "data"), None, "train", prompt_column="question")
    assert dataset["prompt"] == [row["question"] for row in ROWS]


def test_text_prompts_become_user_messages_after_the_system_prompt(tmp_path):
    path = write(tmp_path / "maths.jsonl", ROWS)
    chat = load_prompts(str(path), None, "train", prompt_column="question", conversational=True)
    assert chat["prompt"][0] == [{"role": "user", "content": "What is 2 + 2?"}]
    with_system = load_prompts(str(path), None, "train", prompt_column="question", system_prompt="Answer briefly.")
    assert with_system["prompt"][1] == [
        {"role": "system", "content": "Answer briefly."},
        {"role": "user", "content": "What is 3 x 3?"},
    ]
    assert with_system["answer"] == ["4", "9"]


def test_conversations_are_kept_and_get_the_system_prompt_only_where_they_have_none(tmp_path):
    rows = [
        {"prompt": [{"role": "user", "content": "Hi"}]},
        {"prompt": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "Hello"}]},
    ]
    path = write(tmp_path / "chats.jsonl", rows)
    assert load_prompts(str(path), None, "train", prompt_column="prompt")["prompt"] == [row["prompt"] for row in rows]
    dataset = load_prompts(str(path), None, "train", prompt_column="prompt", system_prompt="Be brief.")
    assert dataset["prompt"][0] == [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert dataset["prompt"][1] == rows[1]["prompt"]


def test_a_set_smaller_than_a_generation_batch_is_repeated_to_fill_it(tmp_path):
    dataset = repeat_to_fill(load_prompts(str(write(tmp_path / "maths.jsonl", ROWS)), None, "train", "question"), 5)
    assert len(dataset) == 6 and dataset["prompt"][4] == ROWS[0]["question"]


@pytest.mark.parametrize(
    "rows, problem",
    [
        ([{"q": "Hi"}, {"q": None}], "Row 1 of dataset {path} (split 'train'): column 'q' is missing (null)"),
        ([{"q": "Hi"}, {"q": "  "}], "Row 1 of dataset {path} (split 'train'): column 'q' is empty"),
        ([{"q": [{"role": "user", "content": "Hi"}]}, {"q": []}], "column 'q' is an empty list of messages"),
        (
            [{"q": [{"role": "user", "content": "Hi"}]}, {"q": [{"role": "user"}]}],
            "has a message 0 (user) without content",
        ),
        ([{"q": [{"role": "user", "content": "Hi"}]}, {"q": [{"content": "Hi"}]}], "has a message 0 without a role"),
    ],
    ids=["null", "blank", "no messages", "message without content", "message without role"],
)
def test_a_row_the_trainer_could_not_sample_is_named_with_its_column_at_load(tmp_path, rows, problem):
    from rl_recipes.checks import RecipeError

    path = write(tmp_path / "rows.jsonl", rows)
    with pytest.raises(RecipeError, match=re.escape(problem.format(path=path))):
        load_prompts(str(path), None, "train", prompt_column="q")


def data_set_directory(tmp_path, files: dict[str, str]):
    """`mydata`, a data set directory in the working directory (`tmp_path`) holding `files` (name -> text)."""
    (tmp_path / "mydata").mkdir()
    for name, text in files.items():
        (tmp_path / "mydata" / name).write_text(text)
    return "mydata"


@pytest.mark.parametrize(
    "name, text",
    [
        ("train.jsonl", ""),
        ("train.jsonl", "\n  \n\n"),
        ("train.csv", ""),
        ("train.csv", "prompt\n"),
        ("train.json", "[]"),
    ],
    ids=["zero bytes", "blank lines", "empty csv", "csv header alone", "empty json list"],
)
def test_an_empty_split_file_of_a_data_set_directory_is_named_with_the_fix(tmp_path, monkeypatch, name, text):
    from rl_recipes.checks import RecipeError

    monkeypatch.chdir(tmp_path)
    data = data_set_directory(tmp_path, {name: text})
    with pytest.raises(RecipeError) as error:
        load_prompts(data, None, "train", "prompt", split_setting="dataset_train_split")
    assert str(error.value) == (
        f"Dataset mydata has an empty split 'train' (mydata/{name} has no rows): add rows, or "
        "name another split with --dataset_train_split."
    )


def test_an_empty_held_out_split_is_named_with_its_own_setting_and_does_not_stop_the_training_split(
    tmp_path, monkeypatch
):
    from rl_recipes.checks import RecipeError

    monkeypatch.chdir(tmp_path)
    data = data_set_directory(
        tmp_path, {"train.jsonl": write(tmp_path / "rows.jsonl", ROWS).read_text(), "test.jsonl": ""}
    )
    assert load_prompts(data, None, "train", "question")["prompt"] == [row["question"] for row in ROWS]
    with pytest.raises(
        RecipeError,
        match=re.escape(
            "Dataset mydata has an empty split 'test' (mydata/test.jsonl has no rows): add rows, or name another split "
            "with --dataset_test_split."
        ),
    ):
        load_prompts(data, None, "test", "question", split_setting="dataset_test_split")


def test_an_empty_split_file_that_stops_datasets_loading_another_split_is_named(tmp_path, monkeypatch):
    from rl_recipes.checks import RecipeError

    monkeypatch.chdir(tmp_path)  # datasets' JSON builder reads the columns from the first split, here an empty one
    data = data_set_directory(
        tmp_path, {"train.jsonl": "", "test.jsonl": write(tmp_path / "rows.jsonl", ROWS).read_text()}
    )
    with pytest.raises(
        RecipeError,
        match=re.escape(
            "Dataset mydata cannot load split 'test': mydata/train.jsonl has no rows, and datasets reads every split "
            "file of a directory: add rows, or move it out of mydata."
        ),
    ):
        load_prompts(data, None, "test", "question")


@pytest.mark.parametrize(
    "name, text",
    [("p.jsonl", "\n \n"), ("p.txt", "\n\n"), ("p.json", "[]"), ("p.csv", "prompt\n")],
    ids=["jsonl of blank lines", "text of blank lines", "empty json list", "csv header alone"],
)
def test_a_data_file_without_rows_is_refused_as_empty(tmp_path, name, text):
    from rl_recipes.checks import RecipeError

    (tmp_path / name).write_text(text)
    with pytest.raises(
        RecipeError, match=re.escape(f"Dataset {tmp_path / name} is empty: give it at least one prompt.")
    ):
        load_prompts(str(tmp_path / name), None, "train", "prompt")


def build(tmp_path, model_dir, *flags):
    """build_trainer on the RLOO recipe with `flags`: it raises before the model loads, or returns the trainer."""
    from trl import RLOOConfig

    from rl_recipes.algorithms import ALGORITHMS
    from rl_recipes.runner.assembly import build_trainer
    from rl_recipes.runner.cli import parse_args

    config = REPO_ROOT / "recipes" / "configs" / "a_words" / "rloo.yaml"
    args = parse_args(
        RLOOConfig,
        config,
        ["--model_name_or_path", str(model_dir), "--output_dir", str(tmp_path / "out"), "--report_to", "none", *flags],
    )
    return build_trainer(ALGORITHMS["rloo"], *args)


@pytest.mark.parametrize(
    "flags",
    [["--conversational", "true"], ["--system_prompt", "Be brief."], ["--dataset_name", "CHATS"]],
    ids=["conversational", "system prompt", "data set of messages"],
)
def test_chat_prompts_for_a_model_without_a_chat_template_stop_at_start_up(tiny_model_dir, tmp_path, flags):
    from rl_recipes.checks import RecipeError

    chats = write(tmp_path / "chats.jsonl", [{"prompt": [{"role": "user", "content": "Tell a story"}]}])
    flags = [str(chats) if flag == "CHATS" else flag for flag in flags]
    with pytest.raises(RecipeError, match="the model's tokenizer has no chat template: use plain text prompts"):
        build(tmp_path, tiny_model_dir, *flags)


def test_prompts_that_cannot_fit_in_the_models_positions_are_named_by_row(tiny_model_dir, tmp_path):
    from rl_recipes.checks import RecipeError

    long_story = "Once upon a time " + "there was a big red ball and a little dog. " * 200  # about 1,900 tokens
    path = write(
        tmp_path / "prompts.jsonl",
        [{"prompt": "Once upon a time"}, {"prompt": long_story}, {"prompt": "One day"}, {"prompt": long_story}],
    )
    with pytest.raises(RecipeError) as error:
        build(tmp_path, tiny_model_dir, "--dataset_name", str(path))
    message = str(error.value)
    assert message.startswith(f"Rows 1, 3 of dataset {path} (split 'train') have prompts too long for the model")
    assert "of the model's 512 positions" in message and "TRL 1.x does not truncate prompts" in message
    assert not (tmp_path / "out").exists()  # refused before anything was written


@pytest.mark.parametrize("empty, setting", [("train", "dataset_train_split"), ("test", "dataset_test_split")])
def test_a_run_names_the_split_setting_of_an_empty_split_file_before_the_model_loads(
    tiny_model_dir, tmp_path, empty, setting
):
    from rl_recipes.checks import RecipeError

    data = tmp_path / "mydata"
    data.mkdir()
    for split in ("train", "test"):
        (data / f"{split}.jsonl").write_text("" if split == empty else '{"prompt": "Once upon a time"}\n')
    with pytest.raises(
        RecipeError,
        match=re.escape(
            f"Dataset {data} has an empty split '{empty}' ({data / empty}.jsonl "
            f"has no rows): add rows, or name another split with --{setting}."
        ),
    ):
        build(
            tmp_path,
            tiny_model_dir,
            "--dataset_name",
            str(data),
            "--eval_strategy",
            "steps",
            "--num_generations_eval",
            "2",
        )
    assert not (tmp_path / "out").exists()


def test_a_users_mistake_in_the_data_is_one_line_but_a_bug_keeps_its_traceback(tmp_path, monkeypatch):
    import datasets

    from rl_recipes.checks import RecipeError

    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"prompt": "Once upon a time"}\n{"prompt": \n')  # a malformed line: the user's to fix
    with pytest.raises(RecipeError, match=f"Cannot load dataset '{broken}'"):
        load_prompts(str(broken), None, "train", prompt_column="prompt")

    def buggy_load_dataset(*args, **kwargs):
        raise TypeError("unexpected keyword argument 'split'")  # a programming error, not a data problem

    monkeypatch.setattr(datasets, "load_dataset", buggy_load_dataset)
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        load_prompts(str(write(tmp_path / "maths.jsonl", ROWS)), None, "train", prompt_column="question")


def test_an_agents_prompts_are_measured_with_the_schemas_of_the_tools_it_is_offered():
    from transformers.utils import get_json_schema

    from rl_recipes.data import check_prompts_fit, tokenize_prompts
    from rl_recipes.tasks.calculator.tools import TOOLS
    from rl_recipes.tiny_models.chat_format import train_tokenizer

    tokenizer = train_tokenizer(["What is 7 * 83 + 15? The answer is 596."] * 20, vocab_size=300)
    prompts = [[{"role": "user", "content": "What is 7 * 83 + 15?"}]]
    schemas = [get_json_schema(tool) for tool in TOOLS]
    bare, listed = (len(tokenize_prompts(prompts, tokenizer, tools=tools)[0]) for tools in (None, schemas))
    assert listed > bare  # the tools' names and arguments are part of the prompt
    check_prompts_fit(prompts, tokenizer, listed + 8, 8, "tasks")  # fits, measured without the tools
    with pytest.raises(RecipeError, match=f"the longest has {listed} tokens"):
        check_prompts_fit(prompts, tokenizer, listed + 7, 8, "tasks", tools=schemas)
