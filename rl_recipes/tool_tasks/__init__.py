"""The embedded tool tasks and the tiny model that learns them, offline, on a CPU.

- `calculator`: arithmetic with stateless tools (`add`, `multiply`), one or two calls a question;
- `vault`: a stateful environment (`Vault`), read a drawer then unlock, rewarded by its final state;
- `chat_format`: the chat template, response template and tokenizer the tiny model uses;
- `model`: builds the tiny tool-using model (`models/tiny-tools`) from synthetic transcripts.

Each task's rows come from a seeded generator: the held-out rows (`test`) are never used in RL nor in
pretraining, and the shipped data files (`recipes/configs/<task>/tasks/`) are these rows, written by
`write_task_files`.
"""

import random
from pathlib import Path

from rl_recipes.tool_tasks import calculator, vault

TASKS = {"calculator": calculator, "vault": vault}
# Seeds of the task rows: held out, RL training, and the pretraining transcripts.
SPLIT_SEEDS = {"test": 1, "train": 2, "pretraining": 3}
SPLIT_SIZES = {"test": 100, "train": 1000}


def task_key(task: dict) -> str:
    """What makes two tasks the same task: the calculator's question, the vault's drawers."""
    return task["question"] if "question" in task else f"{task['codes']}:{task['code_drawer']}"


def make_tasks(name: str, split: str, count: int, exclude: set[str] = frozenset()) -> list[dict]:
    """`count` distinct tasks of task `name` for `split`, none of whose keys is in `exclude`."""
    rng, module = random.Random(f"{name}-{SPLIT_SEEDS[split]}"), TASKS[name]
    tasks, seen = [], set(exclude)
    while len(tasks) < count:
        task = module.make_task(rng)
        if task_key(task) not in seen:
            seen.add(task_key(task))
            tasks.append(task)
    return tasks


def task_rows(name: str) -> dict[str, list[dict]]:
    """The data set rows of task `name`, by split: held-out first, then training rows that avoid them."""
    test = make_tasks(name, "test", SPLIT_SIZES["test"])
    train = make_tasks(name, "train", SPLIT_SIZES["train"], exclude={task_key(t) for t in test})
    return {split: [TASKS[name].as_row(task) for task in tasks] for split, tasks in (("test", test), ("train", train))}


def write_task_files(name: str, directory: Path) -> None:
    """The rows of task `name` as `train.jsonl` and `test.jsonl` in `directory`, as `load_dataset` reads them."""
    import json

    directory.mkdir(parents=True, exist_ok=True)
    for split, rows in task_rows(name).items():
        (directory / f"{split}.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
