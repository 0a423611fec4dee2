"""The flow every recipe shares, one job per module:

- `cli`: the command line (`RecipeArguments`, `parse_args`: a `--config` YAML and flags, TRL's parser);
- `assembly`: the start-up checks and the trainer built from the algorithm's class (`rl_recipes.algorithms`);
- `agent_wiring`: what tools and environments add to the start-up;
- `lifecycle`: train, save, stop on signals and faults, tear down, exit (`main`, which `recipes/*.py` call);
- `summary`: the closing summary.
"""
