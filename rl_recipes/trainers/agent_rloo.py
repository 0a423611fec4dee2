"""RLOO and REINFORCE for tool-using, multi-turn models, with TRL's interface for tools and environments.

TRL 1.16 runs tools for `GRPOTrainer` only (`tools`, `environment_factory`, `max_tool_calling_iterations`).
`AgentRLOOTrainer` gives `RLOOTrainer` the same interface, with the same meaning (GRPOTrainer's code is
the reference for each behaviour):

- `tools`: functions (sync or async) the model may call, described to it by the chat template from
  their type hints and docstrings;
- `environment_factory`: a class (or function) making one environment per rollout, or a dict of them
  by name, where each row's `environment` column picks one (only its tools are shown in that row's
  prompt); `reset(**row)` starts each task (a returned string is appended to the prompt's last
  message, so an environment may supply the whole prompt), its public methods are tools (it may have
  none), and an optional `get_reward()` scores the rollout from the environment's final state, as an
  extra reward named after the class (weight 1). Rewards receive the rollouts' `environments`;
- `max_tool_calling_iterations` (`AgentRLOOConfig`): the most rounds of calls a rollout makes.

A rollout loops (`rl_recipes.agents.rollout`): generate, parse the calls, run them (concurrently
across rollouts: `rl_recipes.agents.execution`), append the results, generate again, the whole batch
together, token in and token out. The objective is over whole trajectories: the advantage is RLOO's
leave-one-out over the k rollouts of one task (or REINFORCE's baseline), and the k rollouts of a task
start from the same environment state, since `reset` reads the task from the row. Tool-result tokens
stay in every forward pass, where attention sees them, but their log-probabilities are set to zero
where they come out of the model (`_get_per_token_logps_and_entropies`), so they count nowhere: not
in the policy-gradient term, the importance ratio, the KL penalty or REINFORCE's sequence
log-probability. (RLOOTrainer's `completion_mask` is both the attention mask and the mask of those
sums, so masking it would hide the results from attention too; this class sits below
`ReinforceTrainer` and the recipes' mixins in the method order, so they read the masked values.) The
per-token means that are logged, `entropy` and `kl`, are over the model's tokens, as in GRPOTrainer.

Logged besides RLOOTrainer's metrics: `tools/call_frequency` (calls per rollout) and
`tools/failure_frequency` (failed calls per call), as GRPOTrainer logs them, and `tools/turns`
(assistant turns per rollout). Completion lengths count the model's tokens only, as in GRPOTrainer.
A rollout cut with a call unanswered (by the budget or the round limit) counts as truncated, in
`completions/clipped_ratio` and for `mask_truncated_completions` (GRPOTrainer counts it as finished).
The completions that rewards, logs and `samples.jsonl` see are whole transcripts: assistant turns
(with their `tool_calls`) and tool results, as the tools returned them.

An environment whose `reset` raises does not stop the batch: the rollout's reward is None, and the
fault is noted in `environment_faults` for the recipes' fault policy (`reward_faults`). A tool that
fails because it needs the main thread (signals) stops the run with `ToolFault`, on every process.
"""

import copy
import sys
from dataclasses import dataclass, field

import torch
from accelerate.utils import gather
from trl import RLOOConfig, RLOOTrainer
from trl.trainer.utils import pad

from rl_recipes.agents.environment_reward import environment_reward_func
from rl_recipes.agents.execution import ToolExecutor
from rl_recipes.agents.rollout import (
    ERROR_MESSAGES,
    ToolLoop,
    prefix_preserving_template,
    reset_environments,
    rollout_tools,
    tool_call_marker,
)
from rl_recipes.agents.tools import environment_tool_names
from rl_recipes.checks import RecipeError
from rl_recipes.data import EMPTY_PROMPT

MALFORMED_TOOL_CALLS = ("error", "end")  # the settings of `malformed_tool_calls`


class ToolFault(RecipeError):
    """A tool that cannot work as the run is set up; the run stops, on every process, naming the fix."""


@dataclass
class ToolCallSettings:
    """GRPOConfig's limit on tool-calling rounds, and how tool calls run and fail: the settings every config of an
    agent trainer adds to its algorithm's (`AgentRLOOConfig`, `ReinforceConfig`). `check_tool_call_settings` is the
    check its `__post_init__` runs."""

    max_tool_calling_iterations: int | None = field(
        default=None,
        metadata={
            "help": "Most rounds of tool calls a rollout makes (each round: run the calls, generate again); "
            "None: no limit but max_completion_length."
        },
    )
    max_parallel_tool_calls: int = field(
        default=64,
        metadata={
            "help": "Most tool calls running at once, across the batch's rollouts (a rollout's own calls run in "
            "order). 1 runs them one after another; with tool_call_timeout 0 as well, in the main thread, "
            "as TRL's GRPOTrainer does (what a tool that uses signals needs)."
        },
    )
    malformed_tool_calls: str = field(
        default="error",
        metadata={
            "help": "A turn that writes the call marker but parses to no call: 'error' answers it with an error "
            "result and the rollout goes on; 'end' reads it as text, which ends the rollout (TRL's "
            "GRPOTrainer).",
            "choices": list(MALFORMED_TOOL_CALLS),
        },
    )
    tool_error_messages: str = field(
        default="detailed",
        metadata={
            "help": "The text of a failed call's {'error': ...} result: 'detailed' names the exception type and, "
            "for an unknown tool, the tools there are; 'trl' is TRL's GRPOTrainer's text.",
            "choices": list(ERROR_MESSAGES),
        },
    )
    check_tool_arguments: bool = field(
        default=True,
        metadata={
            "help": "Refuse a call whose arguments the tool's JSON schema does not allow, with an error result, "
            "before the tool runs; false calls the tool with them, as TRL's GRPOTrainer does."
        },
    )

    def check_tool_call_settings(self) -> None:
        """Raises ValueError, naming the setting and the fix, for a value out of range."""
        if self.max_parallel_tool_calls < 1:
            raise ValueError(
                f"max_parallel_tool_calls is {self.max_parallel_tool_calls}: give at least 1 (1 runs "
                "tool calls one after another)."
            )
        for name, choices in (("malformed_tool_calls", MALFORMED_TOOL_CALLS), ("tool_error_messages", ERROR_MESSAGES)):
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}, not '{getattr(self, name)}'.")


@dataclass
class AgentRLOOConfig(ToolCallSettings, RLOOConfig):
    """RLOOConfig with the settings of tool calls (`ToolCallSettings`): the config of every RLOO recipe."""

    def __post_init__(self):
        super().__post_init__()
        self.check_tool_call_settings()


class AgentRLOOTrainer(RLOOTrainer):
    """RLOOTrainer that trains tool-using, multi-turn models; see the module docstring.

    `tool_call_timeout`: seconds a tool call may take (0: no limit); past them the model gets an error result."""

    def __init__(self, *args, tools=None, environment_factory=None, tool_call_timeout: float = 0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.tools = list(tools or [])
        # As GRPOTrainer: one factory is the case of one unnamed environment; a dict names them, rows pick by name.
        self._multi_environment = isinstance(environment_factory, dict)
        self.environment_factories = (
            None
            if environment_factory is None
            else environment_factory
            if self._multi_environment
            else {None: environment_factory}
        )
        self._environment_pool = {}  # environment name -> instances, reused batch after batch (reset each time)
        self._environment_tools = {}  # environment name -> the names of its tool methods
        self.environments = None
        self._batch_environments = None  # the environment name of each row of the batch
        if self.environment_factories is not None:
            self.environment_faults: list[str | None] = []  # per local rollout of the batch: why its reset failed
            scored_classes = []
            for name, factory in self.environment_factories.items():
                probe = factory()  # as GRPOTrainer does: read the tools off one instance, then pool it
                self._environment_pool[name] = [probe]
                self._environment_tools[name] = environment_tool_names(type(probe))
                if callable(getattr(probe, "get_reward", None)) and type(probe) not in scored_classes:
                    scored_classes.append(type(probe))
                    self._add_environment_reward(type(probe))
        self._start_async_loop_if_needed()
        self.tool_executor = ToolExecutor(
            self.args.max_parallel_tool_calls, tool_call_timeout, getattr(self, "async_loop", None)
        )
        self.chat_template = self._training_chat_template()
        self._call_marker = (
            tool_call_marker(self.processing_class, self.chat_template)
            if self.args.malformed_tool_calls == "error"
            else None
        )
        self._active_tool_mask = None
        self._cut_rollouts = None

    # --- set-up, as GRPOTrainer's ----------------------------------------------------------------------

    def _add_environment_reward(self, environment_class) -> None:
        """The environment's `get_reward` as one more reward, named after its class, weight 1 (GRPOTrainer's rule). A
        rollout whose environment is of another class gets None from it (left out), as in GRPOTrainer."""
        get_reward = environment_reward_func(environment_class)
        self.reward_funcs.append(get_reward)
        self.reward_func_names.append(environment_class.__name__)
        self.reward_processing_classes.append(None)
        self.reward_weights = torch.cat([self.reward_weights, torch.ones(1)])

    def _all_tools(self) -> list:
        """Every tool a rollout may be offered: the standalone ones and each environment's methods (of its probe)."""
        methods = [
            getattr(pool[0], name)
            for environment, pool in self._environment_pool.items()
            for name in self._environment_tools[environment]
        ]
        return self.tools + methods

    def _start_async_loop_if_needed(self) -> None:
        """The event loop RLOOTrainer starts for async rewards, also for async tools and an async `get_reward`."""
        import atexit

        from trl.trainer.utils import is_async_callable, shutdown_event_loop_in_daemon, start_event_loop_in_daemon

        if getattr(self, "async_loop", None) or not any(
            map(is_async_callable, [*self.reward_funcs, *self._all_tools()])
        ):
            return
        self._has_async_funcs = True
        self.async_loop_thread, self.async_loop, ready = start_event_loop_in_daemon(name="AgentRLOOTrainer-AsyncLoop")
        ready.wait()
        atexit.register(shutdown_event_loop_in_daemon, self.async_loop_thread, self.async_loop)

    def _training_chat_template(self) -> str | None:
        """TRL's rules: a response template to parse the calls with (for chat templates TRL knows), and a
        prefix-preserving chat template (TRL's training template where the model's own is not)."""
        from trl.chat_template_utils import add_response_schema

        if (
            getattr(self._tokenizer, "response_template", None) is None
            and getattr(self._tokenizer, "response_schema", None) is None
        ):
            add_response_schema(self.processing_class)
        return prefix_preserving_template(self.processing_class)

    # --- a batch of rollouts -----------------------------------------------------------------------------

    def _generate_and_score_completions(self, inputs):
        if self.environment_factories is not None:
            inputs = self._reset_environments(inputs)
        output = super()._generate_and_score_completions(inputs)
        width = output["completion_ids"].size(1)
        # The tool masks of this process's rows, as wide as the completions: the loss reads them per micro-batch
        # (TRL shuffles and splits the batch's tensors together). Padding is masked out by completion_mask anyway.
        output["tool_mask"] = self._fit(self._active_tool_mask, width)
        self._active_tool_mask = None
        if self.beta != 0.0 and self._metrics[self._mode()].get("kl"):
            # RLOOTrainer averages the KL over completion_mask; tool tokens add 0 to its sum, so rescale to model tokens.
            self._rescale_to_model_tokens("kl", output["completion_mask"], output["tool_mask"])
        if self.mask_truncated_completions:  # RLOOTrainer's rule reads the last token; a cut rollout ends on a call
            output["completion_mask"] = output["completion_mask"] * (~self._cut_rollouts).unsqueeze(1).int()
        return output

    def _mode(self) -> str:
        return "train" if self.model.training else "eval"

    def _rescale_to_model_tokens(self, metric: str, completion_mask, tool_mask) -> None:
        """The last logged per-token mean of `metric`, taken over completion_mask with tool tokens counted as 0, made a
        mean over the model's tokens (all processes' tokens, as RLOOTrainer reduces them)."""
        counts = self.accelerator.reduce(
            torch.stack([completion_mask.sum(), (completion_mask * tool_mask).sum()]).float(), reduction="sum"
        )
        values = self._metrics[self._mode()][metric]
        values[-1] = values[-1] * (counts[0] / counts[1].clamp(min=1.0)).item()

    @staticmethod
    def _fit(mask: torch.Tensor, width: int) -> torch.Tensor:
        return torch.nn.functional.pad(mask, (0, max(0, width - mask.size(1))), value=1)[:, :width]

    def _reset_environments(self, inputs: list[dict]) -> list[dict]:
        """One environment per rollout, drawn from its pool, reset with its row; the observation joins the prompt, and
        the rows carry their environments to the rewards. A reset that raises is noted, and its rollout left
        unscored."""
        self._batch_environments = [row.get("environment") if self._multi_environment else None for row in inputs]
        unknown = sorted({str(name) for name in self._batch_environments} - set(map(str, self.environment_factories)))
        if unknown:
            raise ValueError(
                f"Rows name environment {', '.join(unknown)}, which environment_factory does not have "
                f"(it has {', '.join(map(str, self.environment_factories))})."
            )
        self.environments, handed_out = [], {}
        for name in self._batch_environments:
            pool, index = self._environment_pool[name], handed_out.get(name, 0)
            if index == len(pool):
                pool.append(self.environment_factories[name]())
            handed_out[name] = index + 1
            self.environments.append(pool[index])
        # The `environment` column picks the environment and is not passed to reset, as in GRPOTrainer.
        rows = [
            {key: value for key, value in row.items() if key != "environment" or not self._multi_environment}
            for row in inputs
        ]
        prompts, self.environment_faults = reset_environments(
            self.environments, rows, [row.get("prompt", EMPTY_PROMPT) for row in inputs]
        )
        return [
            {**row, "prompt": prompt, "environments": environment}
            for row, prompt, environment in zip(inputs, prompts, self.environments)
        ]

    def _calculate_rewards(self, inputs, prompts, completions, completion_ids_list):
        rewards_per_func = super()._calculate_rewards(inputs, prompts, completions, completion_ids_list)
        if self.environment_factories is not None:
            faulted = torch.tensor(
                [fault is not None for fault in self.environment_faults], device=rewards_per_func.device
            )
            rewards_per_func[gather(faulted)] = torch.nan  # the rows of every process, as the rewards are gathered
        return rewards_per_func

    def _tokenize_prompts(self, prompts: list):
        """The prompts rendered with their tools listed, as GRPOTrainer renders them (chat prompts only): together
        where every row has the same tools, one by one where rows have different environments."""
        render = dict(
            chat_template=self.chat_template,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            **self.chat_template_kwargs,
        )
        if not self._multi_environment:
            schemas = self._rollout_tools(0)[1] or None  # `or None`: some templates write tool boilerplate for []
            return (
                self.processing_class.apply_chat_template(conversation=prompts, tools=schemas, **render)["input_ids"],
                None,
                {},
            )
        prompt_ids = [
            self.processing_class.apply_chat_template(
                conversation=[prompt], tools=self._rollout_tools(i)[1] or None, **render
            )["input_ids"][0]
            for i, prompt in enumerate(prompts)
        ]
        return prompt_ids, None, {}

    def _rollout_tools(self, index: int) -> tuple[dict, list]:
        """Rollout `index`'s tools by name, and in order (for the chat template and the parser)."""
        if self.environment_factories is None:
            return rollout_tools(self.tools)
        if self.environments:
            return rollout_tools(self.tools, self.environments[index])
        return rollout_tools(self.tools, next(iter(self._environment_pool.values()))[0])

    def _generate(self, prompts: list):
        device = self.accelerator.device
        mode = self._mode()
        prompts = copy.deepcopy(prompts)
        prompt_ids, images, multimodal_fields = self._tokenize_prompts(prompts)
        self._check_prompts_fit(prompt_ids)
        per_rollout = [self._rollout_tools(i) for i in range(len(prompts))]
        loop = ToolLoop(
            tokenizer=self.processing_class,
            generate=self._continue_rollouts,
            max_completion_length=self.max_completion_length,
            max_model_len=self._max_model_len(),
            max_iterations=self.args.max_tool_calling_iterations,
            chat_template=self.chat_template,
            chat_template_kwargs=self.chat_template_kwargs,
            executor=self.tool_executor,
            call_marker=self._call_marker,
            error_messages=self.args.tool_error_messages,
            check_arguments=self.args.check_tool_arguments,
        )
        # The first turn is the trainer's own generation of the prompts (with vLLM, its k completions a prompt).
        first_turn = self._generate_single_turn(prompt_ids, images, multimodal_fields)
        trajectories = loop.run(
            prompt_ids,
            [tools for tools, _ in per_rollout],
            [schemas for _, schemas in per_rollout],
            first_turn=first_turn,
        )
        completion_ids = [t.completion_ids for t in trajectories]
        # Read by the passes that follow generation (old and reference log-probabilities), for the whole batch.
        self._active_tool_mask = pad(
            [torch.tensor(t.tool_mask) for t in trajectories], padding_value=1, padding_side="right"
        ).to(device)
        self._cut_rollouts = torch.tensor([t.cut for t in trajectories], device=device)
        self._log_rollouts(trajectories, prompt_ids, completion_ids, mode, device)
        return prompt_ids, completion_ids, [t.messages for t in trajectories]

    def _check_prompts_fit(self, prompt_ids: list[list[int]]) -> None:
        """A prompt that leaves no room to generate (an environment's observation can make it so) stops the run with one
        line, rather than an indexing error inside the model."""
        longest = int(
            self.accelerator.gather(torch.tensor([max(map(len, prompt_ids))], device=self.accelerator.device)).max()
        )
        if longest >= self._max_model_len():  # decided on every process alike, so all stop together
            raise ToolFault(
                f"A prompt is {longest} tokens with its tools and the environment's reset observation, and "
                f"the model has {self._max_model_len()} positions: shorten the prompts, the tool "
                "descriptions or what reset returns, or use a model with a longer context."
            )

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

    def _log_rollouts(self, trajectories, prompt_ids, completion_ids, mode: str, device) -> None:
        """RLOOTrainer's generation metrics, with lengths in the model's own tokens and cut rollouts truncated, and the
        tool metrics; a tool that needed the main thread stops the run on every process."""
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
        truncated = gather_(
            torch.tensor(
                [t.cut or not ids or ids[-1] not in ends for t, ids in zip(trajectories, completion_ids)], device=device
            )
        )
        self._metrics[mode]["completions/clipped_ratio"].append(truncated.float().mean().item())
        terminated = lengths[~truncated] if (~truncated).any() else torch.zeros(1, device=device)
        self._metrics[mode]["completions/mean_terminated_length"].append(terminated.float().mean().item())
        self._metrics[mode]["completions/min_terminated_length"].append(terminated.float().min().item())
        self._metrics[mode]["completions/max_terminated_length"].append(terminated.float().max().item())
        counts = gather_(
            torch.tensor(
                [[t.tool_calls, t.tool_failures, t.turns, t.main_thread_tool is not None] for t in trajectories],
                device=device,
            )
        )
        calls, failures, turns, needing_main_thread = counts.sum(dim=0).tolist()
        self._metrics[mode]["tools/call_frequency"].append(calls / len(counts))
        self._metrics[mode]["tools/failure_frequency"].append(failures / calls if calls else 0.0)
        self._metrics[mode]["tools/turns"].append(turns / len(counts))
        if needing_main_thread:
            name = next((t.main_thread_tool for t in trajectories if t.main_thread_tool), None)
            raise ToolFault(
                f"Tool {name or '(on another process)'} uses signals, which work only in the main thread, and tool calls "
                "run in worker threads (concurrently, under tool_call_timeout): set max_parallel_tool_calls: 1 and "
                "tool_call_timeout: 0 to run them in the main thread, one after another."
            )

    # --- the objective: tool-result tokens count nowhere ----------------------------------------------

    def _get_per_token_logps_and_entropies(self, model, input_ids, attention_mask, logits_to_keep, *args, **kwargs):
        logps, entropies, aux_loss = super()._get_per_token_logps_and_entropies(
            model, input_ids, attention_mask, logits_to_keep, *args, **kwargs
        )
        if self._active_tool_mask is not None:
            if self._active_tool_mask.size(0) != input_ids.size(0):
                raise ValueError(
                    f"tool mask for {self._active_tool_mask.size(0)} rows, log-probabilities of "
                    f"{input_ids.size(0)}: the batch was split in a way this trainer does not know"
                )
            mask = self._fit(self._active_tool_mask, logits_to_keep).to(logps.dtype)
            logps = logps * mask  # not in place: the loss backpropagates through logps
            entropies = entropies * mask if entropies is not None else None  # tool text is not the model's
        return logps, entropies, aux_loss

    def _compute_loss(self, model, inputs):
        self._active_tool_mask = inputs["tool_mask"]
        try:
            loss = super()._compute_loss(model, inputs)
        finally:
            self._active_tool_mask = None
        # RLOOTrainer's entropy is a mean over completion_mask, where tool tokens (zeroed above) would count as 0.
        self._rescale_to_model_tokens("entropy", inputs["completion_mask"], inputs["tool_mask"])
        return loss
