"""The vault task's reward: whether the vault ended open and the agent said so, in the closing line's form.

Recipes name it `vault_opened` (`rewards.TASK_REWARDS`). It reads each rollout's environment (TRL hands reward
functions the rollouts' `environments`) and the completion's last turn: a rollout that opened the vault and then
wrote anything else (text that fills the budget, another call) is not a success, so RL does not let the closing
turn decay, as it would if no reward read it.
"""

from rewards.text import final_turn

CLOSING = "The vault is open."


def vault_opened(completions: list, environments: list | None = None, **kwargs) -> list[float]:
    """1.0 where the rollout's vault is open and its last turn is exactly the closing line, else 0.0.

    Raises ValueError when completions come without their environments (a recipe without the `Vault`)."""
    if completions and environments is None:
        raise ValueError(
            "vault_opened reads each rollout's vault: use it with environment_factory: "
            "rl_recipes.tasks.vault.environment.Vault."
        )
    return [
        float(environment.opened and final_turn(completion).strip() == CLOSING)
        for completion, environment in zip(completions, environments or [], strict=True)
    ]
