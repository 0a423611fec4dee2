"""What training tool-using agents needs beside the trainers (`rl_recipes.trainers.agent_rloo`).

- `tools`: tools and environments as recipes name them, their start-up checks, and time limits;
- `execution`: a round's tool calls, run concurrently across rollouts under the time limit;
- `rollout`: the multi-turn rollout loop (generate, parse calls, run them, append results), shared by
  the trainers and by the evaluation (`rl_recipes.evaluation.agent_rollouts`);
- `environment_reward`: an environment's `get_reward` as a reward function.
"""
