"""The vault task: a small stateful app whose state only its methods reveal and change.

A vault has five drawers, each holding a three-digit code, and opens with the code of one
of them; the task says which. The agent must read that drawer (`read_drawer`), then unlock the vault
with the code it found (`unlock`). Three wrong codes lock the vault for good.

- `environment`: `Vault`, the environment recipes name (`rl_recipes.tasks.vault.environment.Vault`); its
  `get_reward` is the task's reward: 1.0 when the vault ends the episode open, 0.0 otherwise;
- `data`: the vaults' codes and which drawer holds the one that opens, as data set rows;
- `pretraining`: the tool model's vault transcripts, the right drawer read or a wrong one, or a code guessed.
"""
