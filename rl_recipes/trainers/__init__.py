"""Trainers and the layers the recipes put on TRL's trainers.

- `stacks`: the trainer classes the recipes run, each defined by name with its layers in method order
  (`rl_recipes.algorithms` pairs them with their config classes and scripts);
- `reinforce`: `ReinforceConfig` and `ReinforceTrainer`, REINFORCE as a subclass of TRL's RLOOTrainer
  (and `AgentReinforceTrainer`, the same over tool-using rollouts);
- `agent_rloo`: `ToolCallSettings`, `AgentRLOOConfig` and `AgentRLOOTrainer`, RLOO with TRL's tools and environments;
- `single_pass`: skips RLOOTrainer's log-probability pass where the ratio it feeds is exactly 1;
- `diagnostics`: collapse diagnostics (distinct completions) for any TRL online trainer;
- `reward_guard`: rewards that fail in a defined way (stop with a checkpoint, or skip the samples);
- `stop_on_signal`: SIGINT/SIGTERM stop a run at the end of a step, with a checkpoint.
"""

from rl_recipes.trainers.agent_rloo import AgentRLOOConfig, AgentRLOOTrainer
from rl_recipes.trainers.reinforce import AgentReinforceTrainer, ReinforceConfig, ReinforceTrainer

__all__ = ["AgentRLOOConfig", "AgentRLOOTrainer", "AgentReinforceTrainer", "ReinforceConfig", "ReinforceTrainer"]
