"""The embedded tasks, one folder each: a task's tools or environment, its task generator, its reward and its
share of the tiny tool model's pretraining live together.

- `calculator`: arithmetic with stateless tools (`add`, `subtract`, `multiply`), one or two calls a question;
- `vault`: a stateful environment (`Vault`), read a drawer then unlock, rewarded by its final state and closing line;
- `splits`: each task's seeded rows (held out, RL training, pretraining) and the shipped data files.

Each folder holds `data` (`make_task`, `task_key`, `as_row`), `reward`, and `pretraining` (`conversation`,
`prompt_tools`, `solutions`, `DECISIONS`), which `splits` and the tool model's builder
(`rl_recipes.tiny_models.tool_model`) read for every task alike.
"""
