"""Comparing models on held-out prompts (`scripts/evaluate.py`), one job per module:

- `arguments`: the command line (`EvaluateArguments`) and its checks;
- `models`: the models to compare, checked before any loads, and how each is loaded;
- `sampling`: single-turn completions, sampled as the trainers sample;
- `agent_rollouts`: multi-turn rollouts with the recipes' tools and environments;
- `reward_scores`: the completions scored with the recipes' rewards and their weighted total;
- `metrics`: a model's summary numbers (rewards, diversity, length);
- `report`: the table, the JSON and the completions file;
- `pipeline`: the checks and loading before any model runs, then one model's evaluation.
"""
