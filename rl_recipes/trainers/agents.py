"""RLOO and REINFORCE for tool-using, multi-turn models, with TRL's interface for tools and environments.

TRL 1.16 runs tools for `GRPOTrainer` only (`tools`, `environment_factory`, `max_tool_calling_iterations`).
`AgentRLOOTrainer` gives `RLOOTrainer` the same interface, with the same meaning:

- `tools`: functions the model may call, described to it by the chat template from their type hints
  and docstrings;
- `environment_factory`: a class (or function) making one environment per rollout; `reset(**row)`
  starts each task (a returned string is appended to the prompt), its public methods are tools, and
  an optional `get_reward()` scores the rollout from the environment's final state, as an extra
  reward named after the class (weight 1). Rewards receive the rollouts' `environments`, as in TRL;
- `max_tool_calling_iterations` (`AgentRLOOConfig`): the most rounds of calls a rollout makes.

A rollout loops (`rl_recipes.agents.rollout`): generate, parse the calls, run them, append the
results, generate again, the whole batch together, token in and token out. The objective is over
whole trajectories: the advantage is RLOO's leave-one-out over the k rollouts of one task (or
REINFORCE's baseline), and the k rollouts of a task start from the same environment state, since
`reset` reads the task from the row. Tool-result tokens stay in every forward pass, where attention
sees them, but their log-probabilities are set to zero where they come out of the model
(`_get_per_token_logps_and_entropies`), so they count nowhere: not in the policy-gradient term, the
importance ratio, the KL penalty or REINFORCE's sequence log-probability. (RLOOTrainer's
`completion_mask` is both the attention mask and the mask of those sums, so masking it would hide the
results from attention too; this class sits below `ReinforceTrainer` and the recipes' mixins in the
method order, so they read the masked values.)

Logged besides RLOOTrainer's metrics: `tools/call_frequency` (calls per rollout) and
`tools/failure_frequency` (failed calls per call), as GRPOTrainer logs them, and `tools/turns`
(assistant turns per rollout). Completion lengths count the model's tokens only, as in GRPOTrainer.
The completions that rewards, logs and `samples.jsonl` see are whole transcripts: assistant turns
(with their `tool_calls`) and tool results.

An environment whose `reset` raises does not stop the batch: the rollout's reward is None, and the
fault is noted in `environment_faults` for the recipes' fault policy (`reward_faults`).
"""

import copy
import inspect
import sys
from dataclasses import dataclass, field

import torch
from accelerate.utils import gather
from trl import RLOOConfig, RLOOTrainer
from trl.trainer.utils import pad

from rl_recipes.agents.rollout import (
    ToolLoop, prefix_preserving_template, reset_environments, rollout_tools, tool_call_marker,
)
from rl_recipes.agents.tools import environment_tools


@dataclass
class AgentRLOOConfig(RLOOConfig):
    """RLOOConfig with GRPOConfig's limit on tool-calling rounds."""

    max_tool_calling_iterations: int | None = field(
        default=None,
        metadata={"help": "Most rounds of tool calls a rollout makes (each round: run the calls, generate again); "
                          "None: no limit but max_completion_length."},
    )


class AgentRLOOTrainer(RLOOTrainer):
    """RLOOTrainer that trains tool-using, multi-turn models; see the module docstring."""

    def __init__(self, *args, tools=None, environment_factory=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.tools = list(tools or [])
        self.environment_factory = environment_factory
        self._environment_pool = []
        self.environments = None
        if environment_factory is not None:
            self.environment_faults: list[str | None] = []  # per local rollout of the batch: why its reset failed
            probe = environment_factory()  # as GRPOTrainer does: read the tools off one instance, then pool it
            self._environment_pool.append(probe)
            if callable(getattr(probe, "get_reward", None)):
                self._add_environment_reward(type(probe))
        self._start_async_loop_if_needed()
        self.chat_template = self._training_chat_template()
        self._call_marker = tool_call_marker(self.processing_class, self.chat_template)
        self._active_tool_mask = None

    # --- set-up, as GRPOTrainer's ----------------------------------------------------------------------

    def _add_environment_reward(self, environment_class) -> None:
        """The environment's `get_reward` as one more reward, named after its class, weight 1 (GRPOTrainer's rule)."""
        if inspect.iscoroutinefunction(environment_class.get_reward):

            async def get_reward(environments, **kwargs):
                return [await environment.get_reward() for environment in environments]
        else:

            def get_reward(environments, **kwargs):
                return [environment.get_reward() for environment in environments]

        get_reward.__name__ = environment_class.__name__
        self.reward_funcs.append(get_reward)
        self.reward_func_names.append(environment_class.__name__)
        self.reward_processing_classes.append(None)
        self.reward_weights = torch.cat([self.reward_weights, torch.ones(1)])

    def _start_async_loop_if_needed(self) -> None:
        """The event loop RLOOTrainer starts for async rewards, also for async tools and an async `get_reward`."""
        import atexit

        from trl.trainer.utils import is_async_callable, shutdown_event_loop_in_daemon, start_event_loop_in_daemon

        tools = self.tools + (environment_tools(self._environment_pool[0]) if self._environment_pool else [])
        if getattr(self, "async_loop", None) or not any(map(is_async_callable, [*self.reward_funcs, *tools])):
            return
        self._has_async_funcs = True
        self.async_loop_thread, self.async_loop, ready = start_event_loop_in_daemon(name="AgentRLOOTrainer-AsyncLoop")
        ready.wait()
        atexit.register(shutdown_event_loop_in_daemon, self.async_loop_thread, self.async_loop)

    def _training_chat_template(self) -> str | None:
        """TRL's rules: a response template to parse the calls with (for chat templates TRL knows), and a
        prefix-preserving chat template (TRL's training template where the model's own is not)."""
        from trl.chat_template_utils import add_response_schema

        if getattr(self._tokenizer, "response_template", None) is None and getattr(self._tokenizer, "response_schema", None) is None:
            add_response_schema(self.processing_class)
        return prefix_preserving_template(self.processing_class)

    # --- a batch of rollouts -----------------------------------------------------------------------------

    def _generate_and_score_completions(self, inputs):
        if self.environment_factory is not None:
            inputs = self._reset_environments(inputs)
        output = super()._generate_and_score_completions(inputs)
        # The tool masks of this process's rows, as wide as the completions: the loss reads them per micro-batch
        # (TRL shuffles and splits the batch's tensors together). Padding is masked out by completion_mask anyway.
        output["tool_mask"] = self._fit(self._active_tool_mask, output["completion_ids"].size(1))
        self._active_tool_mask = None
        return output

    @staticmethod
    def _fit(mask: torch.Tensor, width: int) -> torch.Tensor:
        return torch.nn.functional.pad(mask, (0, max(0, width - mask.size(1))), value=1)[:, :width]

    def _reset_environments(self, inputs: list[dict]) -> list[dict]:
        """One environment per rollout, from the pool, reset with its row; the observation joins the prompt, and the
        rows carry their environments to the rewards. A reset that raises is noted, and its rollout left unscored."""
        while len(self._environment_pool) < len(inputs):
            self._environment_pool.append(self.environment_factory())
        self.environments = self._environment_pool[: len(inputs)]
        prompts, self.environment_faults = reset_environments(self.environments, inputs)
        return [{**row, "prompt": prompt, "environments": environment}
                for row, prompt, environment in zip(inputs, prompts, self.environments)]

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self.environment_factory is not None:
            faulted = torch.tensor([fault is not None for fault in self.environment_faults],
                                   device=rewards_per_func.device)
            rewards_per_func[gather(faulted)] = torch.nan  # the rows of every process, as the rewards are gathered
        return rewards_per_func

    def _tokenize_prompts(self, prompts: list):
        """The prompts rendered with the tools listed, as GRPOTrainer renders them (chat prompts only)."""
        schema_tools = self._rollout_tools(0)[1] or None  # the same tools for every row of one environment class
        tokenized = self.processing_class.apply_chat_template(
            conversation=prompts, tools=schema_tools, chat_template=self.chat_template, add_generation_prompt=True,
            tokenize=True, return_dict=True, **self.chat_template_kwargs,
        )
        return tokenized["input_ids"], None, {}

    def _rollout_tools(self, index: int) -> tuple[dict, list]:
        """Rollout `index`'s tools by name, and in order (for the chat template and the parser)."""
        if self.environment_factory is None:
            return rollout_tools(self.tools)
        return rollout_tools(self.tools, self.environments[index] if self.environments else self._environment_pool[0])

    def _generate(self, prompts: list):
        device = self.accelerator.device
        mode = "train" if self.model.training else "eval"
        prompts = copy.deepcopy(prompts)
        prompt_ids, images, multimodal_fields = self._tokenize_prompts(prompts)
        per_rollout = [self._rollout_tools(i) for i in range(len(prompts))]
        loop = ToolLoop(
            tokenizer=self.processing_class, generate=self._continue_rollouts,
            max_completion_length=self.max_completion_length, max_model_len=self._max_model_len(),
            max_iterations=self.args.max_tool_calling_iterations, chat_template=self.chat_template,
            chat_template_kwargs=self.chat_template_kwargs, run_async=self._run_async, call_marker=self._call_marker,
        )
        # The first turn is the trainer's own generation of the prompts (with vLLM, its k completions a prompt).
        first_turn = self._generate_single_turn(prompt_ids, images, multimodal_fields)
        trajectories = loop.run(prompt_ids, [tools for tools, _ in per_rollout], [schemas for _, schemas in per_rollout],
                                first_turn=first_turn)
        completion_ids = [t.completion_ids for t in trajectories]
        # Read by the passes that follow generation (old and reference log-probabilities), for the whole batch.
        self._active_tool_mask = pad([torch.tensor(t.tool_mask) for t in trajectories], padding_value=1,
                                     padding_side="right").to(device)
        self._log_rollouts(trajectories, prompt_ids, completion_ids, mode, device)
        return prompt_ids, completion_ids, [t.messages for t in trajectories]

    def _continue_rollouts(self, batch_ids: list[list[int]], max_new_tokens: int) -> list[list[int]]:
        """One continuation of each row (a rollout after its tool results), at most `max_new_tokens` long (the loop
        cuts what a backend generates past that), with the trainer's sampling settings."""
        if self.use_vllm:
            _, completion_ids, _, _ = self.vllm_generation.generate(prompts=batch_ids, images=None, num_generations=1)
            return completion_ids
        saved = self.generation_config.max_new_tokens
        self.generation_config.max_new_tokens = max_new_tokens
        try:
            return self._generate_single_turn(batch_ids, None, {})
        finally:
            self.generation_config.max_new_tokens = saved

    def _max_model_len(self) -> int:
        if self.use_vllm and self.vllm_mode == "colocate":
            return self.vllm_generation.llm.llm_engine.model_config.max_model_len
        config = self.accelerator.unwrap_model(self.model).config
        return getattr(config.get_text_config(), "max_position_embeddings", sys.maxsize)

    def _run_async(self, coroutine):
        import asyncio

        return asyncio.run_coroutine_threadsafe(coroutine, self.async_loop).result()

    def _log_rollouts(self, trajectories, prompt_ids, completion_ids, mode: str, device) -> None:
        """RLOOTrainer's generation metrics, with lengths in the model's own tokens, and the tool metrics."""
        gather_ = self.accelerator.gather
        prompt_lengths = gather_(torch.tensor([len(ids) for ids in prompt_ids], device=device))
        lengths = gather_(torch.tensor([t.model_tokens for t in trajectories], device=device))
        if mode == "train":
            self.state.num_input_tokens_seen += (prompt_lengths.sum() + lengths.sum()).item()
        self._metrics[mode]["num_tokens"] = [self.state.num_input_tokens_seen]
        self._metrics[mode]["completions/mean_length"].append(lengths.float().mean().item())
        self._metrics[mode]["completions/min_length"].append(lengths.float().min().item())
        self._metrics[mode]["completions/max_length"].append(lengths.float().max().item())
        ends = [*self.eos_token_ids, self._tokenizer.pad_token_id]
        truncated = gather_(torch.tensor([not ids or ids[-1] not in ends for ids in completion_ids], device=device))
        self._metrics[mode]["completions/clipped_ratio"].append(truncated.float().mean().item())
        terminated = lengths[~truncated] if (~truncated).any() else torch.zeros(1, device=device)
        self._metrics[mode]["completions/mean_terminated_length"].append(terminated.float().mean().item())
        self._metrics[mode]["completions/min_terminated_length"].append(terminated.float().min().item())
        self._metrics[mode]["completions/max_terminated_length"].append(terminated.float().max().item())
        counts = gather_(torch.tensor([[t.tool_calls, t.tool_failures, t.turns] for t in trajectories], device=device))
        calls, failures, turns = counts.sum(dim=0).tolist()
        self._metrics[mode]["tools/call_frequency"].append(calls / len(counts))
        self._metrics[mode]["tools/failure_frequency"].append(failures / calls if calls else 0.0)
        self._metrics[mode]["tools/turns"].append(turns / len(counts))

    # --- the objective: tool-result tokens count nowhere ----------------------------------------------

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        logps, entropies, aux_loss = super()._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
        )
        if self._active_tool_mask is not None:
            if self._active_tool_mask.size(0) != input_ids.size(0):
                raise ValueError(f"tool mask for {self._active_tool_mask.size(0)} rows, log-probabilities of "
                                 f"{input_ids.size(0)}: the batch was split in a way this trainer does not know")
            mask = self._fit(self._active_tool_mask, logits_to_keep).to(logps.dtype)
            logps = logps * mask  # not in place: the loss backpropagates through logps
            entropies = entropies * mask if entropies is not None else None  # tool text is not the model's
        return logps, entropies, aux_loss

    def _compute_loss(self, model, inputs):
        self._active_tool_mask = inputs["tool_mask"]
        try:
            return super()._compute_loss(model, inputs)
        finally:
            self._active_tool_mask = None

