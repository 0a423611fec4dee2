"""The vault tasks: five distinct codes and the drawer that holds the one that opens, from a seeded generator."""

import random

from rl_recipes.tasks.vault.environment import DRAWERS


def make_task(rng: random.Random) -> dict:
    codes = rng.sample(range(100, 1000), DRAWERS)
    return {"codes": codes, "code_drawer": rng.randint(1, DRAWERS)}


def task_key(task: dict) -> str:
    """What makes two tasks the same task: the drawers' codes and which one opens."""
    return f"{task['codes']}:{task['code_drawer']}"


def as_row(task: dict) -> dict:
    """A data set row: the request as the user's message; the vault's setup, which `reset` reads."""
    return {"prompt": [{"role": "user", "content": "Open the vault."}], **task}
