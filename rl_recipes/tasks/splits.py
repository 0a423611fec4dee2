"""The embedded tasks' rows, from seeded generators: held out (`test`), RL training (`train`) and pretraining.

The held-out rows are never used in RL nor in pretraining, and the shipped data files
(`recipes/configs/<task>/tasks/`) are these rows, written by `write_task_files`.
"""

import importlib
import json
import random
from pathlib import Path

TASK_NAMES = ("calculator", "vault")
# Seeds of the task rows: held out, RL training, and the pretraining transcripts.
SPLIT_SEEDS = {"test": 1, "train": 2, "pretraining": 3}
SPLIT_SIZES = {"test": 100, "train": 1000}


def task_part(name: str, part: str):
    """The module `part` (`data`, `pretraining`, ...) of the embedded task `name`."""
    return importlib.import_module(f"rl_recipes.tasks.{name}.{part}")


def make_tasks(name: str, split: str, count: int, exclude: set[str] = frozenset()) -> list[dict]:
    """`count` distinct tasks of task `name` for `split`, none of whose keys is in `exclude`."""
    rng, data = random.Random(f"{name}-{SPLIT_SEEDS[split]}"), task_part(name, "data")
    tasks, seen = [], set(exclude)
    while len(tasks) < count:
        task = data.make_task(rng)
        if data.task_key(task) not in seen:
            seen.add(data.task_key(task))
            tasks.append(task)
    return tasks


def held_out_keys(name: str) -> set[str]:
    """The keys of task `name`'s held-out tasks, which no other split may contain."""
    return {task_part(name, "data").task_key(task) for task in make_tasks(name, "test", SPLIT_SIZES["test"])}


def task_rows(name: str) -> dict[str, list[dict]]:
    """The data set rows of task `name`, by split: held-out first, then training rows that avoid them."""
    test = make_tasks(name, "test", SPLIT_SIZES["test"])
    train = make_tasks(name, "train", SPLIT_SIZES["train"], exclude=held_out_keys(name))
    as_row = task_part(name, "data").as_row
    return {split: [as_row(task) for task in tasks] for split, tasks in (("test", test), ("train", train))}


def write_task_files(name: str, directory: Path) -> None:
    """The rows of task `name` as `train.jsonl` and `test.jsonl` in `directory`, as `load_dataset` reads them."""
    directory.mkdir(parents=True, exist_ok=True)
    for split, rows in task_rows(name).items():
        (directory / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
