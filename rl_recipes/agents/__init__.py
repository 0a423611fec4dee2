"""What training tool-using agents needs beside the trainers (`rl_recipes.trainers.agents`).

- `tools`: tools and environments as recipes name them, their start-up checks, and time limits;
- `execution`: a round's tool calls, run concurrently across rollouts under the time limit;
- `rollout`: the multi-turn rollout loop (generate, parse calls, run them, append results), shared by
  the trainers and by `scripts/evaluate.py`.
"""
