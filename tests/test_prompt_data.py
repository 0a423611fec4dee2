"""Prompts from every supported file format, renamed columns, extra columns and chat conversations."""

import json

import pytest
from datasets import Dataset

from rl_recipes.data import load_prompts

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
    assert [str(answer) for answer in dataset["answer"]] == ["4", "9"]  # the rewards get it as a keyword argument (CSV reads numbers)


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
    dataset = load_prompts(str(write(tmp_path / "maths.jsonl", ROWS)), None, "train", "question", min_rows=5)
    assert len(dataset) == 6 and dataset["prompt"][4] == ROWS[0]["question"]
