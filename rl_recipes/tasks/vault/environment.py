"""The vault as an environment.

`Vault` follows TRL's environment contract: one instance per rollout, `reset(**row)` at the start of
each task (its return value is appended to the task's prompt), every public method a tool. The task
lives in the row, so every rollout of one row starts from the same state. It has no `get_reward`: the
task's reward (`rl_recipes.tasks.vault.reward.vault_opened`) reads both its state and the closing turn.
"""

DRAWERS = 5
ATTEMPTS = 3


class Vault:
    """A vault with five drawers of notes; see the package docstring (`rl_recipes.tasks.vault`)."""

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

    def read_note(self) -> str:
        """Read the note the vault's owner left, which holds the code that opens the vault."""
        return str(self.codes[self.code_drawer - 1])

    def unlock(self, code: int) -> str:
        """Try to open the vault with a code.

        Args:
            code: The three-digit code.
        """
        if self.opened:
            return "already open"
        if self.attempts_left == 0:
            return "locked"
        if int(code) == self.codes[self.code_drawer - 1]:  # "630" as read from a drawer is the code 630
            self.opened = True
            return "open"
        self.attempts_left -= 1
        return "locked" if self.attempts_left == 0 else "wrong code"
