"""The vault task: a small stateful app whose state only its methods reveal and change.

A vault has five drawers, each holding a three-digit code, and opens with the code of one
of them; the task says which. The agent must read that drawer (`read_drawer`), then unlock the vault
with the code it found (`unlock`). Three wrong codes lock the vault for good. The reward is the
environment's own (`get_reward`): 1.0 when the vault ends the episode open, 0.0 otherwise.

`Vault` follows TRL's environment contract: one instance per rollout, `reset(**row)` at the start of
each task (its return value is appended to the task's prompt), every public method a tool, and
`get_reward()` read once the rollout ends. The task lives in the row, so every rollout of one row
starts from the same state.
"""

import random

DRAWERS = 5
ATTEMPTS = 3


class Vault:
    """A vault with five drawers of notes; see the module docstring."""

    def __init__(self):
        self.codes: list[int] = []
        self.code_drawer = 0
        self.opened = False
        self.attempts_left = ATTEMPTS

    def reset(self, codes: list[int], code_drawer: int, **row) -> str:
        self.codes, self.code_drawer = list(codes), int(code_drawer)
        self.opened, self.attempts_left = False, ATTEMPTS
        return f" The code is in drawer {self.code_drawer}."

    def read_drawer(self, drawer: int) -> str:
        """Read the code kept in one of the vault's drawers.

        Args:
            drawer: The drawer's number, from 1 to 5.
        """
        if not 1 <= drawer <= len(self.codes):
            return f"no drawer {drawer}"
        return str(self.codes[drawer - 1])

    def unlock(self, code: int) -> str:
        """Try to open the vault with a code.

        Args:
            code: The three-digit code.
        """
        if self.opened:
            return "already open"
        if self.attempts_left == 0:
            return "locked"
        if code == self.codes[self.code_drawer - 1]:
            self.opened = True
            return "open"
        self.attempts_left -= 1
        return "locked" if self.attempts_left == 0 else "wrong code"

    def get_reward(self) -> float:
        return 1.0 if self.opened else 0.0


def make_task(rng: random.Random) -> dict:
    codes = rng.sample(range(100, 1000), DRAWERS)
    return {"codes": codes, "code_drawer": rng.randint(1, DRAWERS)}


def as_row(task: dict) -> dict:
    """A data set row: the request as the user's message; the vault's setup, which `reset` reads."""
    return {"prompt": [{"role": "user", "content": "Open the vault."}], **task}


def transcript(task: dict, rng: random.Random, use_tools: bool) -> list[dict]:
    """The messages after the request: read the right drawer and unlock; or (without the tools used well) a wrong
    drawer read, or a code guessed, each followed by a failed unlock."""
    vault = Vault()
    vault.reset(**task)
    messages = []

    def call(name: str, **arguments):
        messages.append({"role": "assistant", "content": "",
                         "tool_calls": [{"type": "function", "function": {"name": name, "arguments": arguments}}]})
        messages.append({"role": "tool", "name": name, "content": getattr(vault, name)(**arguments)})

    if use_tools:
        call("read_drawer", drawer=task["code_drawer"])
        call("unlock", code=task["codes"][task["code_drawer"] - 1])
    elif rng.random() < 0.5:
        wrong = rng.choice([d for d in range(1, DRAWERS + 1) if d != task["code_drawer"]])
        call("read_drawer", drawer=wrong)
        call("unlock", code=task["codes"][wrong - 1])
    else:
        call("unlock", code=rng.randint(100, 999))
    messages.append({"role": "assistant", "content": "The vault is open." if vault.opened else "I could not open it."})
    return messages
