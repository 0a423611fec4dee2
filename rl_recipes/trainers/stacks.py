"""The trainer classes the recipes run, each defined once, by name, with its bases in method order.

Python calls an overridden hook on the first base that defines it, and each one hands on with `super()`, so the
order below is the order in which a step passes through the layers:

1. `CollapseDiagnosticsMixin`: sees the finished batch (completions, rewards) to log `distinct_completions`;
2. `RewardGuardMixin`: wraps the reward calls, so it must sit above everything that scores (the environment's
   `get_reward` that `AgentRLOOTrainer` adds included), and stops or skips on a fault;
3. `SinglePassMixin` (RLOO family only): answers RLOOTrainer's `old_logps` pass with a placeholder where the
   ratio it feeds is exactly 1, so that no layer below runs a forward pass for it; where the pass is needed it
   hands on, and the layers below (REINFORCE's record of the passes for the KL penalty, the agent's tool mask)
   see it;
4. the algorithm: `ReinforceTrainer`'s advantage above `AgentRLOOTrainer`'s tool loop and masking (so the baseline
   and the KL read masked log-probabilities), above TRL's trainer.

`tests/test_trainer_stacks.py` pins each class's method resolution order and which layer answers each hook.
GRPOTrainer runs tools itself (TRL's own agent loop), so GRPO has one class for both kinds of recipe.
"""

from trl import GRPOTrainer, RLOOTrainer

from rl_recipes.trainers.agent_rloo import AgentRLOOTrainer
from rl_recipes.trainers.diagnostics import CollapseDiagnosticsMixin
from rl_recipes.trainers.reinforce import AgentReinforceTrainer, ReinforceTrainer
from rl_recipes.trainers.reward_guard import RewardGuardMixin
from rl_recipes.trainers.single_pass import SinglePassMixin


class RLOORecipeTrainer(CollapseDiagnosticsMixin, RewardGuardMixin, SinglePassMixin, RLOOTrainer):
    """RLOO on single-turn completions: TRL's RLOOTrainer with the recipes' diagnostics, reward guard and single pass."""


class AgentRLOORecipeTrainer(CollapseDiagnosticsMixin, RewardGuardMixin, SinglePassMixin, AgentRLOOTrainer):
    """RLOO over tool-using, multi-turn rollouts (`AgentRLOOTrainer`), with the same layers as `RLOORecipeTrainer`."""


class ReinforceRecipeTrainer(CollapseDiagnosticsMixin, RewardGuardMixin, SinglePassMixin, ReinforceTrainer):
    """REINFORCE on single-turn completions (`ReinforceTrainer`), with the same layers as `RLOORecipeTrainer`."""


class AgentReinforceRecipeTrainer(CollapseDiagnosticsMixin, RewardGuardMixin, SinglePassMixin, AgentReinforceTrainer):
    """REINFORCE over tool-using rollouts (`AgentReinforceTrainer`), with the same layers as `RLOORecipeTrainer`."""


class GRPORecipeTrainer(CollapseDiagnosticsMixin, RewardGuardMixin, GRPOTrainer):
    """TRL's GRPOTrainer (single-turn, or with its own tools and environments) with the diagnostics and reward guard.
    GRPOTrainer already skips its `old_logps` pass where the ratio is 1, so it needs no single-pass layer."""
