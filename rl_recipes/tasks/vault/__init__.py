"""The vault task: a small stateful app whose state only its methods reveal and change.

A vault has five drawers, each holding a three-digit code, and opens with the code of one
of them; the task says which. The agent finds the code, by reading that drawer (`read_drawer`) or the
owner's note (`read_note`): two winning strategies; then unlocks the vault with it (`unlock`) and closes
with "The vault is open.". Three wrong codes lock the vault for good.

- `environment`: `Vault`, the environment recipes name (`rl_recipes.tasks.vault.environment.Vault`);
- `reward`: `vault_opened`, 1.0 when the vault ends the episode open and the last turn is the closing line;
- `data`: the vaults' codes and which drawer holds the one that opens, as data set rows;
- `pretraining`: the tool model's vault transcripts, the right drawer read or a wrong one, or a code guessed.
"""
