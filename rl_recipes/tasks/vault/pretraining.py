"""The vault's share of the tool model's pretraining: the request as the environment's `reset` completes it, then
the code found (the right drawer read, or the owner's note) and the vault unlocked; or (the tools not used well) a
wrong drawer read, or a code guessed, each followed by a failed unlock."""

import random

from rl_recipes.tasks.vault.data import as_row
from rl_recipes.tasks.vault.environment import DRAWERS, Vault
from rl_recipes.tasks.vault.reward import CLOSING

# What the tool model is left to learn by RL (`rl_recipes.tiny_models.transcript_tokens`): whether to read a drawer,
# read the note or try a code first, and which drawer to read.
DECISIONS = {"turn0.start", "turn0.tool", "read_drawer.drawer"}


def prompt_tools() -> list:
    """The tools the task's prompts list: a vault's public methods, bound as a rollout's are."""
    vault = Vault()
    return [vault.read_drawer, vault.read_note, vault.unlock]


def conversation(task: dict, rng: random.Random, use_tools: bool, solution: int | None = None) -> list[dict]:
    """The request, then the calls and how they ended: with `use_tools`, one of the solutions (`solution`, or one
    drawn): 0 reads the drawer named, 1 the owner's note."""
    vault = Vault()
    request = as_row(task)["prompt"][-1]
    # The trainers append what `reset` returns (the drawer to read) to the request, and so does pretraining.
    messages = [{**request, "content": request["content"] + vault.reset(**task)}]

    def call(name: str, **arguments):
        messages.append(
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [{"type": "function", "function": {"name": name, "arguments": arguments}}],
            }
        )
        messages.append({"role": "tool", "name": name, "content": getattr(vault, name)(**arguments)})

    if use_tools:
        if (rng.randrange(2) if solution is None else solution) == 0:
            call("read_drawer", drawer=task["code_drawer"])
        else:
            call("read_note")
        call("unlock", code=task["codes"][task["code_drawer"] - 1])
    elif rng.random() < 0.5:
        wrong = rng.choice([d for d in range(1, DRAWERS + 1) if d != task["code_drawer"]])
        call("read_drawer", drawer=wrong)
        call("unlock", code=task["codes"][wrong - 1])
    else:
        call("unlock", code=rng.randint(100, 999))
    messages.append({"role": "assistant", "content": CLOSING if vault.opened else "I could not open it."})
    return messages


def solutions(task: dict) -> int:
    """How many ways of calls solve `task`: two (read the drawer named or the note, then unlock with the code)."""
    return 2
