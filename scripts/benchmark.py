"""How fast the recipes turn compute into reward, against the floor of a plain PyTorch loop.

    python scripts/benchmark.py                                  # tiny model, 10 generations x 100 tokens, CPU
    python scripts/benchmark.py --quick true                     # a few steps, for a smoke test
    python scripts/benchmark.py --model_name_or_path Qwen/Qwen2.5-0.5B --dtype bfloat16 --device cuda --use_peft true
    python scripts/benchmark.py --scale true                     # memory and speed: 1 process, DDP, ZeRO-2, ZeRO-3
    python scripts/benchmark.py --scaling true                   # how cost grows with model size, length, generations
    python scripts/benchmark.py --generation_options true        # TRL's generation settings against the recipe's
    python scripts/benchmark.py --agent true                     # agent rollouts against single-turn generation
    python scripts/benchmark.py --agent true --tool_latency 0.1  # ... and against TRL's loop, with tools that take 0.1 s

In one process, one after another (so the machine's drift cancels in the ratios), on the same model,
prompt, batch and completion length, it times:

- the RLOO recipe's trainer (`recipes/rloo.py`'s settings, TRL's RLOOTrainer with the recipes' mixins),
- stock TRL: `RLOOTrainer` built as `trl rloo` builds it, with the same settings and none of our
  mixins, callbacks or reward guard; the RLOO trainer's generations per second over its is reported,
- the REINFORCE recipe's trainer with as many generations per step (one per prompt),
- the floor: a minimal loop doing the same work with plain PyTorch (the model's `generate`, the
  reward, one advantage-weighted log-likelihood step with AdamW), i.e. what the work costs without
  any framework.

Each step is timed whole, and within it, each on its own clock: generation (the model's `generate`),
scoring (the reward functions) and update (from the batch being ready to the optimizer step's end:
the loss, backward, optimizer). The rest of a step (advantages, logging) counts in its total only.
Warm-up steps are left out.

Then, what a user waits for: the default RLOO recipe (`recipes/configs/a_words/rloo.yaml` as it
is) trained from scratch once per seed in `--time_to_reward_seeds`, stopped when a step's mean reward
first reaches `--reward_target` of the maximum a-word reward; its wall-clock training time and the
generations it took, with the median over seeds. The table goes to standard output, the numbers to
`--json_path` as well.

With `--scale true` it measures instead how the launch setups scale, on a model large enough to tell
them apart: the tiny model's configuration widened and deepened (`--scale_hidden_size`,
`--scale_layers`; about 27M parameters by default) with random weights. Each contender is an
`accelerate launch` of this script as a worker, training the RLOO recipe with the same global batch:
one process, DDP over two CPU processes, DeepSpeed ZeRO-2 and ZeRO-3 over two. Each process reports
its peak resident memory, its seconds per step, and the bytes it holds for the model's weights and
for the optimizer (state and, under DeepSpeed, its fp32 master partition).

With `--scaling true` it times the RLOO trainer and the floor, each in a fresh process (so that each
peak memory is its own), as the work grows:
model size (`--scaling_models`, HIDDENxLAYERS of the tiny model's configuration with random weights:
about 1M, 8M and 30M parameters), completion length (`--scaling_lengths`: 100, 200, 400) and
generations per step (`--scaling_generations`: 10, 40). The first of each list is the base point and
each axis varies from it alone. It writes a table, the JSON and a plot beside the JSON (`.png`).

With `--generation_options true` it times the RLOO recipe as it is, then with each generation setting
TRL offers without vLLM (`GENERATION_OPTIONS`: a static KV cache, transformers' continuous batching,
`torch.compile`), each in the same run, with its speed relative to the recipe's.

With `--agent true` it times agent rollouts as the agent trainer runs them (`recipes/configs/calculator/rloo.yaml`,
`--agent_batch` rollouts a batch, on the tiny tool-using model): the model's tokens per second, and
where the time goes (the model's generation, the tools, parsing the calls, rendering what follows a
call, the rest), against single-turn generation of as many tokens per rollout on the same model and
prompts, in the same run.

With `--tool_latency SECONDS` as well (above 0), it times three contenders on the same model, the same
batches of tasks and the same seed, each through its trainer's `_generate`:

1. our agent trainer's rollouts with the tools as they are (the rollouts above: instant tools),
2. the same trainer with every tool made to take SECONDS a call (`SlowTools`: it sleeps, as a call to
   an HTTP API waits, then calls the tool; its name, signature and docstring are the tool's, so the
   model is shown the same tool),
3. TRL's own `GRPOTrainer` loop (`_generate`, which runs `_tool_call_loop`) with the same slow tools, built
   as `recipes/grpo.py` builds it, from the same YAML (the keys GRPOConfig has: the same generations,
   batch, completion length, tool-calling rounds, sampling settings).

For each: seconds a batch, tool calls a rollout (the trainer's `tools/call_frequency`), and, for the
slow ones, the slow calls a batch and the seconds a batch spent with at least one of them in flight
(calls run one after another wait their sum; calls run together wait about their slowest); then our
slow / instant ratio and TRL's slow / our slow.
"""

import functools
import json
import math
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import torch
from transformers import HfArgumentParser, PrinterCallback, TrainerCallback

from rl_recipes import REPO_ROOT
from rl_recipes.saving import strict_json
from rl_recipes.embedded import ensure_embedded_model
from rl_recipes.tiny_story.model import DEFAULT_TINY_MODEL_DIR

STOCK_TRL = "stock TRL RLOOTrainer"
CONFIG_DIR = REPO_ROOT / "recipes" / "configs" / "a_words"
LAUNCH_CONFIGS = REPO_ROOT / "accelerate_configs"
# Scale contenders: (name, processes, `accelerate launch` flags). All on CPU; the worker picks --use_cpu.
SCALE_CONTENDERS = {
    "single": ("1 process", 1, ["--config_file", str(LAUNCH_CONFIGS / "cpu.yaml")]),
    "ddp": ("DDP x 2", 2, ["--multi_gpu", "--num_processes", "2", "--mixed_precision", "no"]),
    "zero2": ("ZeRO-2 x 2", 2, ["--config_file", str(LAUNCH_CONFIGS / "deepspeed_zero2.yaml"), "--num_processes", "2",
                                "--mixed_precision", "no"]),
    "zero3": ("ZeRO-3 x 2", 2, ["--config_file", str(LAUNCH_CONFIGS / "deepspeed_zero3.yaml"), "--num_processes", "2",
                                "--mixed_precision", "no"]),
}


@dataclass
class BenchmarkArguments:
    model_name_or_path: str = field(default=str(DEFAULT_TINY_MODEL_DIR), metadata={"help": "Model directory or Hub id."})
    batch: int = field(default=10, metadata={"help": "Generations per step (RLOO: one prompt x batch)."})
    completion_length: int = field(default=100, metadata={"help": "Tokens per completion (max_completion_length)."})
    dtype: str = field(default="float32", metadata={"help": "float32 or bfloat16."})
    device: str = field(default="cpu", metadata={"help": "cpu or cuda."})
    steps: int = field(default=10, metadata={"help": "Timed steps per contender."})
    warmup_steps: int = field(default=2, metadata={"help": "Untimed steps first."})
    use_peft: bool = field(default=False, metadata={"help": "Train a LoRA adapter (r=16, all linear layers)."})
    gradient_checkpointing: bool = field(default=False, metadata={"help": "Recompute activations in backward."})
    time_to_reward: bool = field(default=True, metadata={"help": "Also time the default RLOO recipe to the reward target."})
    time_to_reward_seeds: list[int] = field(
        default_factory=lambda: [0, 1, 2],
        metadata={"help": "Seeds of the default RLOO recipe's runs to the reward target; the median is reported."},
    )
    reward_target: float = field(default=0.9, metadata={"help": "Fraction of the maximum a-word reward to reach."})
    quick: bool = field(
        default=False, metadata={"help": "A smoke test: 2 timed steps, 1 warm-up, 20-token completions, one "
                                         "time-to-reward seed, a small scaling grid (QUICK_SETTINGS); flags given win."}
    )
    json_path: str = field(default="outputs/benchmark.json", metadata={"help": "Where to write the numbers."})
    scale: bool = field(default=False, metadata={"help": "Compare 1 process, DDP, ZeRO-2 and ZeRO-3 (see above)."})
    scale_contenders: list[str] = field(
        default_factory=lambda: list(SCALE_CONTENDERS), metadata={"help": f"Of {', '.join(SCALE_CONTENDERS)}."}
    )
    scale_hidden_size: int = field(default=512, metadata={"help": "Hidden size of the scale mode's model."})
    scale_layers: int = field(default=8, metadata={"help": "Decoder layers of the scale mode's model."})
    scale_worker: bool = field(default=False, metadata={"help": "Internal: one launched process of a scale contender."})
    scaling_worker: str = field(default="", metadata={"help": "Internal: one scaling contender (rloo or floor) in a fresh process."})
    scaling: bool = field(default=False, metadata={"help": "How cost grows with model size, length and generations (see above)."})
    scaling_models: list[str] = field(
        default_factory=lambda: ["128x4", "256x9", "384x16"],
        metadata={"help": "Model sizes of the scaling mode, HIDDENxLAYERS (about 1M, 8M and 30M parameters)."},
    )
    scaling_lengths: list[int] = field(default_factory=lambda: [100, 200, 400],
                                       metadata={"help": "Completion lengths of the scaling mode."})
    scaling_generations: list[int] = field(default_factory=lambda: [10, 40],
                                           metadata={"help": "Generations per step of the scaling mode."})
    generation_options: bool = field(
        default=False, metadata={"help": "Time the RLOO recipe with each generation option against its own setting."}
    )
    agent: bool = field(default=False, metadata={"help": "Time agent rollouts against single-turn generation (see above)."})
    agent_model: str = field(default=str(REPO_ROOT / "models" / "tiny-tools"),
                             metadata={"help": "Model of the agent mode (a tool-using one)."})
    agent_batch: int = field(default=64, metadata={"help": "Rollouts per batch in the agent mode (8 tasks x 8)."})
    tool_latency: float = field(
        default=0.0,
        metadata={"help": "Agent mode: seconds every tool call takes (a sleep before the tool runs, as an HTTP API "
                          "waits). Above 0, it also times our agent trainer with tools that slow and TRL's "
                          "GRPOTrainer loop with the same slow tools, on the same tasks and seed (see above); keep it "
                          "under the recipe's tool_call_timeout (10 s). 0: the agent rollouts alone."},
    )
    max_parallel_tool_calls: int = field(
        default=0,
        metadata={"help": "Agent mode: our agent trainer's max_parallel_tool_calls, where its config has that "
                          "setting (TRL's GRPOTrainer has none). 0: the recipe's own."},
    )


PHASES = ("generation", "scoring", "update")


class PhaseTimer:
    """Seconds spent in named phases, per training step. On a GPU each reading of the clock waits for the work
    queued so far (`torch.cuda.synchronize`): kernels run asynchronously, and without it a phase's time would be
    the time to queue its work, the rest landing in whichever phase next waits for a result."""

    def __init__(self, device: str = "cpu"):
        self.steps: list[dict[str, float]] = []
        self.current: dict[str, float] = {}
        self.device = device

    def now(self) -> float:
        if self.device == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter()

    def wrap(self, phase: str, func):
        @functools.wraps(func)  # keeps the name TRL logs a reward under
        def timed(*args, **kwargs):
            start = self.now()
            try:
                return func(*args, **kwargs)
            finally:
                self.current[phase] = self.current.get(phase, 0.0) + self.now() - start

        return timed

    def begin(self):
        self.current = {"start": self.now()}

    def mark_end(self, name: str, func):
        """`func`, noting in the current step when its last call returned."""
        def marked(*args, **kwargs):
            try:
                return func(*args, **kwargs)
            finally:
                self.current[name] = self.now()

        return marked

    def end(self, tokens: int):
        # Each phase is timed on its own; what none of them covers (advantages, logging) is left in the total.
        total = self.now() - self.current.pop("start")
        self.steps.append({"total": total, **{phase: self.current.get(phase, 0.0) for phase in PHASES}, "tokens": tokens})
        self.current = {}


class StepTimes(TrainerCallback):
    """A step lasts from its beginning to the next one's, so the trainer's logging after it counts too."""

    def __init__(self, timer: PhaseTimer, trainer):
        self.timer, self.trainer = timer, trainer
        self.tokens = 0

    def _close_step(self):
        if "start" in self.timer.current:
            self.timer.end(self.tokens)

    def on_step_begin(self, args, state, control, **kwargs):
        self._close_step()
        self.timer.begin()

    def on_step_end(self, args, state, control, **kwargs):
        # The update: from the batch being ready (generated, scored, advantages computed) to the optimizer step's end.
        self.timer.current["update"] = self.timer.now() - self.timer.current["inputs_ready"]
        lengths = self.trainer._metrics["train"].get("completions/mean_length") or [0]
        self.tokens = int(lengths[-1] * self.trainer.args.generation_batch_size)

    def on_train_end(self, args, state, control, **kwargs):
        self._close_step()


class PeakMemory:
    """Peak memory of one contender: CUDA's allocator peak, or the process's resident-set peak on CPU."""

    def __init__(self, device: str):
        self.device = device

    def reset(self):
        if self.device == "cuda":
            torch.cuda.reset_peak_memory_stats()
        else:
            Path("/proc/self/clear_refs").write_text("5")  # Linux: restart the VmHWM high-water mark

    def read_mib(self) -> float:
        if self.device == "cuda":
            return torch.cuda.max_memory_allocated() / 2**20
        status = Path("/proc/self/status").read_text()
        return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM"))) / 1024


def recipe_overrides(args: BenchmarkArguments, output_dir: str) -> list[str]:
    overrides = [
        "--model_name_or_path", args.model_name_or_path, "--output_dir", output_dir, "--overwrite_output_dir", "true",
        "--max_completion_length", str(args.completion_length), "--per_device_train_batch_size", str(args.batch),
        "--max_steps", str(args.warmup_steps + args.steps), "--dtype", args.dtype,
        "--bf16", str(args.dtype == "bfloat16").lower(), "--use_cpu", str(args.device == "cpu").lower(),
        "--activation_checkpointing", str(args.gradient_checkpointing).lower(),
        "--save_strategy", "no", "--logging_steps", "1",
    ]
    if args.use_peft:
        overrides += ["--use_peft", "true", "--lora_target_modules", "all-linear"]
    return overrides


def quiet_recipe_trainer(config_class, trainer_class, config: Path, overrides: list[str]):
    """The trainer a recipe script builds from `config` and `overrides`, reporting nowhere and printing no logs."""
    from rl_recipes.runner import build_trainer, parse_args

    overrides = [*overrides, "--report_to", "none", "--disable_tqdm", "true"]
    trainer = build_trainer(trainer_class, *parse_args(config_class, config, overrides))
    trainer.remove_callback(PrinterCallback)  # without a progress bar the trainer prints every log; keep the table readable
    return trainer


def stock_trl_trainer(config_class, trainer_class, config: Path, overrides: list[str]):
    """TRL's trainer class as `trl rloo` builds it, with the recipe's settings and none of our mixins or callbacks."""
    from trl import get_peft_config

    from rewards import get_reward_funcs
    from rl_recipes.data import load_prompts
    from rl_recipes.runner import model_init_kwargs, parse_args

    script_args, training_args, model_args = parse_args(
        config_class, config, [*overrides, "--report_to", "none", "--disable_tqdm", "true"]
    )
    training_args.model_init_kwargs = model_init_kwargs(model_args, training_args)
    training_args.dataloader_pin_memory = training_args.device.type != "cpu"  # as the recipes: a CPU has no use for it
    trainer = trainer_class(
        model=model_args.model_name_or_path,
        reward_funcs=get_reward_funcs(script_args.reward_funcs, script_args.reward_kwargs),
        args=training_args,
        train_dataset=load_prompts(script_args.dataset_name, script_args.dataset_config,
                                   script_args.dataset_train_split, script_args.prompt_column),
        peft_config=get_peft_config(model_args),  # as `trl rloo` passes it: --use_peft trains LoRA here too
    )
    trainer.remove_callback(PrinterCallback)
    return trainer


def time_recipe(name: str, config_class, trainer_class, config: Path, extra: list[str], args, memory,
                callbacks=(), build=quiet_recipe_trainer) -> dict:
    """Train `build`'s trainer for the benchmark's steps and time it; by default the trainer a recipe builds."""
    from rl_recipes.runner import end_together

    with tempfile.TemporaryDirectory() as output_dir:
        trainer = build(config_class, trainer_class, config, recipe_overrides(args, output_dir) + extra)
        timer = PhaseTimer(args.device)
        trainer._generate = timer.wrap("generation", trainer._generate)
        trainer._prepare_inputs = timer.mark_end("inputs_ready", trainer._prepare_inputs)
        for index, reward in enumerate(trainer.reward_funcs):
            if hasattr(reward, "func"):  # the recipes' guarded reward: time the user's function inside it
                reward.func = timer.wrap("scoring", reward.func)
            else:
                trainer.reward_funcs[index] = timer.wrap("scoring", reward)
        # First of the callbacks, so the last step closes before the others' end-of-training work (the recipes' curves).
        trainer.callback_handler.callbacks.insert(0, StepTimes(timer, trainer))
        for callback in callbacks:
            callback.trainer = trainer
            trainer.add_callback(callback)
        memory.reset()
        trainer.train()
        peak = memory.read_mib()
        rewards = [entry["reward"] for entry in trainer.state.log_history if "reward" in entry]
        end_together(trainer)  # as the recipes end: left to interpreter exit, a gloo group can hang or abort
    return summarise(name, timer.steps[args.warmup_steps :], args.batch, peak, rewards)


def time_rloo(name: str, args: BenchmarkArguments, memory, flags: list[str] = (), **kwargs) -> dict:
    """The RLOO recipe (one prompt, `args.batch` generations of it a step) with `flags` on top, timed."""
    from trl import RLOOConfig, RLOOTrainer

    return time_recipe(name, RLOOConfig, RLOOTrainer, CONFIG_DIR / "rloo.yaml",
                       ["--num_generations", str(args.batch), *flags], args, memory, **kwargs)


class StopAtReward(TrainerCallback):
    """Notes the wall-clock time and step at which a step's mean reward first reaches `target`, and stops there."""

    def __init__(self, target: float):
        self.target = target
        self.reached: dict | None = None

    def on_train_begin(self, args, state, control, **kwargs):
        self.start = time.perf_counter()

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.reached is None and (logs or {}).get("reward", -math.inf) >= self.target:
            self.reached = {"seconds": time.perf_counter() - self.start, "steps": state.global_step,
                            "generations": state.global_step * args.generation_batch_size}
            control.should_training_stop = True


def time_to_reward(args: BenchmarkArguments) -> dict:
    """The default RLOO recipe, once per seed, until its mean reward reaches the target; medians over seeds."""
    from trl import RLOOConfig, RLOOTrainer

    from rewards.a_words import max_a_words

    runs = []
    for seed in args.time_to_reward_seeds:
        with tempfile.TemporaryDirectory() as output_dir:
            overrides = [
                "--model_name_or_path", args.model_name_or_path, "--output_dir", output_dir, "--seed", str(seed),
                "--use_cpu", str(args.device == "cpu").lower(),
            ]
            trainer = quiet_recipe_trainer(RLOOConfig, RLOOTrainer, CONFIG_DIR / "rloo.yaml", overrides)
            maximum = max_a_words(trainer.processing_class, trainer.args.max_completion_length)
            stop = StopAtReward(args.reward_target * maximum)
            trainer.add_callback(stop)
            trainer.train()
        runs.append({"seed": seed, "reached": stop.reached is not None, **(stop.reached or {})})
    reached = [run for run in runs if run["reached"]]
    return {
        "target": args.reward_target * maximum,
        "maximum": maximum,
        "runs": runs,
        "median_seconds": statistics.median(r["seconds"] for r in reached) if reached else math.nan,
        "median_generations": statistics.median(r["generations"] for r in reached) if reached else math.nan,
    }


def time_floor(args: BenchmarkArguments, memory) -> dict:
    """The same work with no framework: generate, score, one REINFORCE/RLOO step with AdamW."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from rewards import a_words

    torch.manual_seed(0)
    dtype = torch.bfloat16 if args.dtype == "bfloat16" else torch.float32
    model = AutoModelForCausalLM.from_pretrained(args.model_name_or_path, dtype=dtype).to(args.device)
    tokenizer = AutoTokenizer.from_pretrained(args.model_name_or_path)
    if args.use_peft:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"))
    if args.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    prompt = tokenizer(["Once upon a time"] * args.batch, return_tensors="pt").to(args.device)
    prompt_length = prompt["input_ids"].shape[1]
    timer = PhaseTimer(args.device)
    memory.reset()
    for _ in range(args.warmup_steps + args.steps):
        timer.begin()
        start = timer.now()
        model.eval()
        with torch.no_grad():
            sequences = model.generate(
                **prompt, do_sample=True, max_new_tokens=args.completion_length, top_k=0, top_p=1.0, temperature=1.0,
                pad_token_id=tokenizer.pad_token_id,
            )
        timer.current["generation"] = timer.now() - start
        completion_ids = sequences[:, prompt_length:]
        # Tokens up to and including the first EOS belong to the completion; the rest is padding.
        is_eos = completion_ids == tokenizer.eos_token_id
        first_eos = torch.where(is_eos.any(1), is_eos.int().argmax(1), completion_ids.shape[1])
        mask = (torch.arange(completion_ids.shape[1], device=args.device)[None] <= first_eos[:, None]).float()

        start = timer.now()
        texts = tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
        rewards = torch.tensor(a_words(completions=texts), device=args.device)
        timer.current["scoring"] = timer.now() - start

        start = timer.now()
        model.train()
        advantages = rewards - (rewards.sum() - rewards) / (len(rewards) - 1)  # leave-one-out
        attention = torch.cat([prompt["attention_mask"], mask.long()], dim=1)
        logits = model(input_ids=sequences, attention_mask=attention).logits[:, prompt_length - 1 : -1].float()
        token_logps = torch.log_softmax(logits, -1).gather(2, completion_ids.unsqueeze(2)).squeeze(2)
        loss = -(advantages * (token_logps * mask).sum(1)).mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        timer.current["update"] = timer.now() - start
        timer.end(tokens=int(mask.sum().item()))
    peak = memory.read_mib()
    return summarise("floor (plain PyTorch)", timer.steps[args.warmup_steps :], args.batch, peak, [])


def summarise(name: str, steps: list[dict], batch: int, peak_mib: float, rewards: list[float]) -> dict:
    total = sum(step["total"] for step in steps)
    return {
        "name": name,
        "seconds_per_step": total / len(steps),
        "generation_s": statistics.fmean(step["generation"] for step in steps),
        "scoring_s": statistics.fmean(step["scoring"] for step in steps),
        "update_s": statistics.fmean(step["update"] for step in steps),
        "generations_per_s": batch * len(steps) / total,
        "tokens_per_s": sum(step["tokens"] for step in steps) / total,
        "peak_memory_mib": peak_mib,
        "final_reward": rewards[-1] if rewards else math.nan,
        "step_rewards": rewards,  # every step's mean reward, warm-up included: the same seed samples the same
    }


def table(results: list[dict], floor: dict) -> str:
    lines = [
        "| contender | s/step | generation | scoring | update | generations/s | tokens/s | peak MiB | vs floor |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in results:
        lines.append(
            f"| {r['name']} | {r['seconds_per_step']:.3f} | {r['generation_s']:.3f} | {r['scoring_s']:.4f} | "
            f"{r['update_s']:.3f} | {r['generations_per_s']:.1f} | {r['tokens_per_s']:.0f} | "
            f"{r['peak_memory_mib']:.0f} | {r['generations_per_s'] / floor['generations_per_s']:.2f} |"
        )
    return "\n".join(lines)


class HeldBytes(TrainerCallback):
    """After the last step: the bytes this process holds for the model's weights (its ZeRO-3 partition, if
    sharded) and for the optimizer (its state, and a master copy of the weights where it keeps one)."""

    trainer = None

    def on_train_end(self, args, state, control, **kwargs):
        weights = {}
        for param in self.trainer.model.parameters():
            held = getattr(param, "ds_tensor", param)  # ZeRO-3 keeps a partition; the full tensor is gathered on use
            weights[held.data_ptr()] = held.numel() * held.element_size()
        optimizer = self.trainer.optimizer
        while hasattr(optimizer, "optimizer"):  # accelerate's and DeepSpeed's wrappers around the torch optimizer
            optimizer = optimizer.optimizer
        tensors = [p for group in optimizer.param_groups for p in group["params"]]
        tensors += [value for per_param in optimizer.state.values() for value in per_param.values() if torch.is_tensor(value)]
        optimizer_bytes = {t.data_ptr(): t.numel() * t.element_size() for t in tensors if t.data_ptr() not in weights}
        self.weights_mib = sum(weights.values()) / 2**20
        self.optimizer_mib = sum(optimizer_bytes.values()) / 2**20


def scaled_model(tiny_model_dir: str, hidden_size: int, layers: int, output_dir: Path) -> int:
    """The tiny model's configuration widened and deepened, with random weights, saved with its tokenizer."""
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    config = AutoConfig.from_pretrained(tiny_model_dir)
    head_dim = config.hidden_size // config.num_attention_heads
    config.hidden_size, config.num_hidden_layers = hidden_size, layers
    config.intermediate_size = 3 * hidden_size
    config.num_attention_heads = config.num_key_value_heads = hidden_size // head_dim
    config.use_cache = True  # the tiny model was trained without a KV cache; generating without one is quadratic
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config)
    model.save_pretrained(output_dir)
    AutoTokenizer.from_pretrained(tiny_model_dir).save_pretrained(output_dir)
    return model.num_parameters()


def scale_worker(args: BenchmarkArguments) -> None:
    """One process of a scale contender: the RLOO recipe's trainer, timed, with its memory; a JSON file per rank."""
    from trl import RLOOConfig, RLOOTrainer

    rank = int(os.environ.get("RANK", "0"))  # set by the launcher; the process group is gone when the file is written
    held = HeldBytes()
    extra = ["--num_generations", str(args.batch * int(os.environ.get("WORLD_SIZE", "1")))]
    if os.environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true":
        extra += ["--use_cpu", "false"]  # on CPU by DeepSpeed's own choice; use_cpu would bypass DeepSpeed
    result = time_recipe("RLOO trainer", RLOOConfig, RLOOTrainer, CONFIG_DIR / "rloo.yaml", extra, args,
                         PeakMemory(args.device), callbacks=[held])
    result.update(weights_mib=held.weights_mib, optimizer_mib=held.optimizer_mib)
    Path(f"{args.json_path}.rank{rank}").write_text(strict_json(result))


def run_scale(args: BenchmarkArguments, json_path: Path) -> None:
    unknown = set(args.scale_contenders) - set(SCALE_CONTENDERS)
    if unknown:
        sys.exit(f"error: --scale_contenders {', '.join(sorted(unknown))}: choose from {', '.join(SCALE_CONTENDERS)}.")
    global_batch = args.batch  # generations per step (of one prompt), the same for every contender
    if global_batch % 2:
        sys.exit("error: --batch must be even in scale mode: two processes share each step's generations.")
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        model_dir = Path(workdir) / "model"
        parameters = scaled_model(args.model_name_or_path, args.scale_hidden_size, args.scale_layers, model_dir)
        for key in args.scale_contenders:
            name, processes, launcher = SCALE_CONTENDERS[key]
            worker_json = Path(workdir) / f"{key}.json"
            command = [
                sys.executable, "-m", "accelerate.commands.launch", *launcher, str(Path(__file__).resolve()),
                "--scale_worker", "true", "--model_name_or_path", str(model_dir), "--json_path", str(worker_json),
                "--batch", str(global_batch // processes), "--completion_length", str(args.completion_length),
                "--steps", str(args.steps), "--warmup_steps", str(args.warmup_steps), "--device", "cpu",
            ]
            result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
            if result.returncode != 0:
                sys.exit(f"error: the {name} contender failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
            ranks = [json.loads(Path(f"{worker_json}.rank{rank}").read_text()) for rank in range(processes)]
            results.append({"name": name, "processes": processes, "ranks": ranks,
                            "seconds_per_step": max(r["seconds_per_step"] for r in ranks),
                            "peak_memory_mib": max(r["peak_memory_mib"] for r in ranks),
                            "weights_mib": max(r["weights_mib"] for r in ranks),
                            "optimizer_mib": max(r["optimizer_mib"] for r in ranks)})
    print(f"\nRLOO, {parameters / 1e6:.1f}M parameters (random), float32, {global_batch} generations x "
          f"{args.completion_length} tokens per step, {args.steps} timed steps after {args.warmup_steps} warm-up, CPU\n")
    print(scale_table(results))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(strict_json({"settings": asdict(args), "parameters": parameters, "results": results}, indent=2))
    print(f"numbers in {json_path}")


def scale_table(results: list[dict]) -> str:
    """Per process (the larger of the processes' figures); the last column against DDP's weights + optimizer."""
    ddp = next((r for r in results if r["name"].startswith("DDP")), None)
    lines = ["| contender | s/step | peak RSS MiB | weights MiB | optimizer MiB | weights + optimizer vs DDP |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        held = r["weights_mib"] + r["optimizer_mib"]
        ratio = f"{held / (ddp['weights_mib'] + ddp['optimizer_mib']):.2f}" if ddp else "-"
        lines.append(f"| {r['name']} | {r['seconds_per_step']:.2f} | {r['peak_memory_mib']:.0f} | {r['weights_mib']:.0f} | "
                     f"{r['optimizer_mib']:.0f} | {ratio} |")
    return "\n".join(lines)


def scaling_base(args: BenchmarkArguments) -> tuple[str, int, int]:
    """The scaling mode's base point (model, length, generations): the first of each list."""
    return args.scaling_models[0], args.scaling_lengths[0], args.scaling_generations[0]


def scaling_points(args: BenchmarkArguments) -> list[tuple[str, int, int]]:
    """(model, length, generations): the base point, and each axis varied from it alone."""
    base_model, base_length, base_generations = scaling_base(args)
    points = [(model, base_length, base_generations) for model in args.scaling_models]
    points += [(base_model, length, base_generations) for length in args.scaling_lengths[1:]]
    points += [(base_model, base_length, generations) for generations in args.scaling_generations[1:]]
    return points


def run_scaling(args: BenchmarkArguments, json_path: Path) -> None:
    """The RLOO trainer and the floor, each in a fresh process, as the model, the completions and the group grow."""
    for model in args.scaling_models:
        if not re.fullmatch(r"\d+x\d+", model):
            sys.exit(f"error: --scaling_models {model}: write each size as HIDDENxLAYERS, e.g. 256x9.")
    if min(args.scaling_generations) < 2:
        sys.exit("error: --scaling_generations must each be at least 2 (RLOO needs two generations per prompt).")
    points = []
    with tempfile.TemporaryDirectory() as workdir:
        parameters = {}
        for model, length, generations in scaling_points(args):
            model_dir = Path(workdir) / model
            if model not in parameters:
                hidden_size, layers = map(int, model.split("x"))
                parameters[model] = scaled_model(args.model_name_or_path, hidden_size, layers, model_dir)
            point = replace(args, model_name_or_path=str(model_dir), completion_length=length, batch=generations)
            rloo, floor = (in_fresh_process(point, contender, Path(workdir) / "contender.json")
                           for contender in ("rloo", "floor"))
            points.append({"model": model, "parameters": parameters[model], "completion_length": length,
                           "generations": generations, "rloo": rloo, "floor": floor,
                           "vs_floor": rloo["tokens_per_s"] / floor["tokens_per_s"]})
            print(f"{model} ({parameters[model] / 1e6:.1f}M), {generations} x {length} tokens: "
                  f"{rloo['seconds_per_step']:.2f} s/step, {rloo['tokens_per_s']:.0f} tokens/s, "
                  f"{points[-1]['vs_floor']:.2f} of the floor", flush=True)
    print(f"\nRLOO trainer and floor, random weights, {args.dtype}, {device_name(args)}, "
          f"{args.steps} timed steps after {args.warmup_steps} warm-up\n")
    print(scaling_table(points))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(strict_json({"settings": asdict(args), "device": device_name(args), "points": points}, indent=2))
    plot_path = json_path.with_suffix(".png")
    draw_scaling(points, args, plot_path)
    print(f"numbers in {json_path}, plot in {plot_path}")


def in_fresh_process(args: BenchmarkArguments, contender: str, json_path: Path) -> dict:
    """One scaling contender in a process of its own: a process's resident-set peak cannot be reset below
    what it already holds, and the allocator keeps what a larger model before it freed."""
    command = [sys.executable, str(Path(__file__).resolve()), "--scaling_worker", contender, "--json_path", str(json_path)]
    for key in ("model_name_or_path", "batch", "completion_length", "dtype", "device", "steps", "warmup_steps",
                "use_peft", "gradient_checkpointing"):
        value = getattr(args, key)
        command += [f"--{key}", str(value).lower() if isinstance(value, bool) else str(value)]
    result = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"error: the scaling contender {contender} failed (exit {result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(json_path.read_text())


def scaling_worker(args: BenchmarkArguments) -> None:
    memory = PeakMemory(args.device)
    result = time_rloo("RLOO trainer", args, memory) if args.scaling_worker == "rloo" else time_floor(args, memory)
    Path(args.json_path).write_text(strict_json(result))


def scaling_table(points: list[dict]) -> str:
    lines = ["| model | parameters | length | generations | contender | s/step | generation | update | tokens/s | "
             "peak MiB | vs floor |", "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for point in points:
        for key in ("rloo", "floor"):
            r = point[key]
            ratio = f"{point['vs_floor']:.2f}" if key == "rloo" else "1.00"
            lines.append(f"| {point['model']} | {point['parameters'] / 1e6:.1f}M | {point['completion_length']} | "
                         f"{point['generations']} | {r['name']} | {r['seconds_per_step']:.3f} | {r['generation_s']:.3f} | "
                         f"{r['update_s']:.3f} | {r['tokens_per_s']:.0f} | {r['peak_memory_mib']:.0f} | {ratio} |")
    return "\n".join(lines)


def draw_scaling(points: list[dict], args: BenchmarkArguments, path: Path) -> None:
    """Tokens per second and peak memory against model size and against completion length, both contenders."""
    from rl_recipes.curves import pyplot, save_figure

    plt = pyplot()
    base_model, base_length, base_generations = scaling_base(args)
    axes_of = {
        "model size (parameters)": ([p for p in points if p["completion_length"] == base_length
                                     and p["generations"] == base_generations], "parameters"),
        "completion length (tokens)": ([p for p in points if p["model"] == base_model
                                        and p["generations"] == base_generations], "completion_length"),
    }
    fig, axes = plt.subplots(2, 2, figsize=(9.5, 7))
    for column, (label, (selected, key)) in enumerate(axes_of.items()):
        selected = sorted(selected, key=lambda p: p[key])
        for row, (metric, title) in enumerate((("tokens_per_s", "tokens per second"), ("peak_memory_mib", "peak MiB"))):
            ax = axes[row][column]
            for contender, style in (("rloo", "o-"), ("floor", "s--")):
                ax.plot([p[key] for p in selected], [p[contender][metric] for p in selected], style,
                        label=selected[0][contender]["name"] if selected else contender)
            ax.set_xscale("log")
            if metric == "tokens_per_s":
                ax.set_yscale("log")
            ax.set_xlabel(label)
            ax.set_title(title)
            ax.grid(alpha=0.3, which="both")
            ax.legend(fontsize="small")
    fig.suptitle(f"RLOO trainer vs floor, one process, {device_name(args)}")
    save_figure(fig, path)


# Generation settings TRL 1.16 exposes without vLLM: (name, recipe flags), each timed against the recipe as it is.
GENERATION_OPTIONS = [
    ("static KV cache", ["--cache_implementation", "static"]),
    ("continuous batching (paged)", ["--use_transformers_continuous_batching", "true"]),
    ("torch.compile", ["--torch_compile", "true"]),
]


def run_generation_options(args: BenchmarkArguments, json_path: Path) -> None:
    memory = PeakMemory(args.device)
    results = [time_rloo("recipe as it is", args, memory)]
    results += [time_rloo(name, args, memory, flags) for name, flags in GENERATION_OPTIONS]
    for r in results:
        r["generation_vs_recipe"] = results[0]["generation_s"] / r["generation_s"]
        r["vs_recipe"] = r["generations_per_s"] / results[0]["generations_per_s"]
    print(f"\nRLOO recipe, {args.batch} generations x {args.completion_length} tokens per step, {args.dtype}, "
          f"{device_name(args)}, {args.steps} timed steps after {args.warmup_steps} warm-up\n")
    lines = ["| generation setting | s/step | generation | generations/s | generation speed vs recipe | "
             "generations/s vs recipe |", "| --- | --- | --- | --- | --- | --- |"]
    for r in results:
        lines.append(f"| {r['name']} | {r['seconds_per_step']:.3f} | {r['generation_s']:.3f} | "
                     f"{r['generations_per_s']:.1f} | {r['generation_vs_recipe']:.2f} | {r['vs_recipe']:.2f} |")
    print("\n".join(lines))
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(strict_json({"settings": asdict(args), "device": device_name(args), "results": results}, indent=2))
    print(f"numbers in {json_path}")


def device_name(args: BenchmarkArguments) -> str:
    return torch.cuda.get_device_name() if args.device == "cuda" else f"CPU ({torch.get_num_threads()} threads)"


# What --quick sets, where the command line left the default.
QUICK_SETTINGS = dict(steps=2, warmup_steps=1, completion_length=20, time_to_reward_seeds=[0],
                      scaling_models=["64x1", "64x2"], scaling_lengths=[10, 20], scaling_generations=[2, 4])


AGENT_RECIPE = REPO_ROOT / "recipes" / "configs" / "calculator" / "rloo.yaml"
# Settings that decide how a batch of rollouts is generated: the contenders of --tool_latency must agree on them.
AGENT_GENERATION_SETTINGS = ("num_generations", "per_device_train_batch_size", "max_completion_length",
                             "max_tool_calling_iterations", "temperature", "top_p", "top_k", "min_p",
                             "repetition_penalty", "generation_kwargs", "chat_template_kwargs", "seed")
# Goals an issue set for slow tools (reported, not asserted): our slow / instant at most, TRL slow / our slow at least.
SLOW_TOOL_GOALS = {"ours_slow_vs_instant_at_most": 1.3, "trl_slow_vs_ours_slow_at_least": 5.0}


class SlowTools:
    """Tools that each take `latency` seconds a call, as an HTTP API does: a sleep, then the tool itself. Each call's
    start and end are noted (from any thread: a trainer may run calls concurrently)."""

    def __init__(self, latency: float):
        self.latency = latency
        self.calls: list[tuple[float, float]] = []
        self._lock = threading.Lock()

    def wrap(self, tool):
        @functools.wraps(tool)  # the same name, signature and docstring: the model is shown the same tool
        def slow(*args, **kwargs):
            start = time.perf_counter()  # not the phase timer's clock: a worker thread has no GPU work to wait for
            try:
                time.sleep(self.latency)
                return tool(*args, **kwargs)
            finally:
                with self._lock:
                    self.calls.append((start, time.perf_counter()))

        return slow

    def take(self) -> tuple[int, float]:
        """The calls since the last take, and the seconds during which at least one of them was running."""
        with self._lock:
            calls, self.calls = sorted(self.calls), []
        waited, end = 0.0, -math.inf
        for start, stop in calls:
            waited += max(0.0, stop - max(start, end))
            end = max(end, stop)
        return len(calls), waited


def agent_overrides(args: BenchmarkArguments, output_dir: str) -> list[str]:
    """The agent mode's flags on top of the calculator recipe, for every trainer it builds: no evaluation."""
    return [
        "--model_name_or_path", args.agent_model, "--output_dir", output_dir, "--dtype", args.dtype,
        "--bf16", str(args.dtype == "bfloat16").lower(), "--use_cpu", str(args.device == "cpu").lower(),
        "--per_device_train_batch_size", str(args.agent_batch), "--eval_strategy", "no", "--eval_on_start", "false",
    ]


def parallel_tool_calls_override(args: BenchmarkArguments) -> list[str]:
    """`--max_parallel_tool_calls` for our agent trainer; none for 0 (the recipe's own)."""
    return ["--max_parallel_tool_calls", str(args.max_parallel_tool_calls)] if args.max_parallel_tool_calls else []


def agent_batches(trainer, args: BenchmarkArguments) -> list[list]:
    """The prompts of each batch (warm-up ones first): `args.agent_batch // k` tasks in the data set's order, each k
    times, as the trainer's sampler repeats them."""
    return [[row["prompt"] for row in rows] for rows in agent_row_batches(trainer, args)]


def agent_row_batches(trainer, args: BenchmarkArguments) -> list[list[dict]]:
    """The rows of each batch, as `agent_batches` orders them: what a training step takes (the rewards read the
    other columns)."""
    rows, k = list(trainer.train_dataset), trainer.num_generations
    tasks = args.agent_batch // k
    return [[row for row in rows[step * tasks:(step + 1) * tasks] for _ in range(k)]
            for step in range(args.warmup_steps + args.steps)]


def time_training_steps(trainer, args: BenchmarkArguments) -> float:
    """Seconds a whole training step takes (the trainer's `training_step`: rollouts, rewards, advantages, the loss and
    its backward pass) on the same batches, from the trainer's seed; the mean over the timed steps. The optimiser's
    update is left out, so every step starts from the same weights."""
    from transformers import set_seed

    set_seed(trainer.args.seed)
    trainer.current_gradient_accumulation_steps = trainer.args.gradient_accumulation_steps  # train() sets it, per epoch
    times = []
    for step, rows in enumerate(agent_row_batches(trainer, args)):
        start = time.perf_counter()
        trainer.training_step(trainer.model, rows, None)
        if args.device == "cuda":
            torch.cuda.synchronize()
        if step >= args.warmup_steps:
            times.append(time.perf_counter() - start)
        trainer.model.zero_grad(set_to_none=True)
    return statistics.fmean(times)


def time_rollouts(trainer, batches: list[list], args: BenchmarkArguments, timer: PhaseTimer,
                  slow: SlowTools | None = None) -> list[dict]:
    """Each timed batch of rollouts through the trainer's own `_generate`, from the trainer's seed: its seconds, the
    phases `timer` noted, model tokens and tool calls a rollout (the trainer's metrics), and the slow calls."""
    from transformers import set_seed

    set_seed(trainer.args.seed)  # every contender samples from the same state
    steps = []
    for step, prompts in enumerate(batches):
        if slow:
            slow.take()
        timer.current = {}
        start = timer.now()
        trainer._generate(prompts)
        total = timer.now() - start
        metrics = trainer._metrics["train"]
        # The trainers' own metrics: completion lengths in the model's tokens (tool results left out), calls a rollout.
        record = {"total": total, "tokens": round(metrics["completions/mean_length"][-1] * len(prompts)),
                  "tool_calls_per_rollout": metrics["tools/call_frequency"][-1], **timer.current}
        if slow:
            record["slow_calls"], record["tool_wait"] = slow.take()
        if step >= args.warmup_steps:
            steps.append(record)
    return steps


def rollout_summary(steps: list[dict]) -> dict:
    """Means over the timed batches: seconds, tool calls a rollout, and with slow tools their calls and waiting."""
    summary = {"seconds_per_batch": statistics.fmean(step["total"] for step in steps),
               "tool_calls_per_rollout": statistics.fmean(step["tool_calls_per_rollout"] for step in steps)}
    if "slow_calls" in steps[0]:
        summary["slow_calls_per_batch"] = statistics.fmean(step["slow_calls"] for step in steps)
        summary["tool_wait_s_per_batch"] = statistics.fmean(step["tool_wait"] for step in steps)
    return summary


def trl_grpo_trainer(args: BenchmarkArguments, output_dir: str):
    """TRL's GRPOTrainer as `recipes/grpo.py` builds it, from the agent recipe's keys that GRPOConfig has (written
    beside `output_dir`), with the agent mode's overrides; and the keys left out."""
    import yaml
    from trl import GRPOConfig, GRPOTrainer, ModelConfig

    from rl_recipes.checks import setting_names
    from rl_recipes.runner import RecipeArguments

    recipe = yaml.safe_load(AGENT_RECIPE.read_text())
    known = setting_names((RecipeArguments, GRPOConfig, ModelConfig)) | {"env"}
    left_out = sorted(set(recipe) - known)
    config = Path(output_dir).with_name(Path(output_dir).name + "-grpo.yaml")
    config.write_text(yaml.safe_dump({key: value for key, value in recipe.items() if key in known}, sort_keys=False))
    try:
        trainer = quiet_recipe_trainer(GRPOConfig, GRPOTrainer, config, agent_overrides(args, output_dir))
    finally:
        config.unlink()
    return trainer, left_out


def use_grpo_tools(trainer, tools: list, rollouts: int) -> None:
    """`tools` as a GRPOTrainer's tools, for batches of `rollouts` through `_generate` alone: the per-rollout tool
    dictionaries are what TRL's `_generate_and_score_completions` builds before it (no environments here)."""
    trainer.tools = trainer._standalone_tools = list(tools)
    trainer._sync_tool_dicts = [{tool.__name__: tool for tool in tools} for _ in range(rollouts)]
    trainer._async_tool_dicts = [{} for _ in range(rollouts)]


def time_slow_tools(args: BenchmarkArguments, trainer, recipe_tools: list, batches: list[list],
                    timer: PhaseTimer) -> dict:
    """Our trainer with every tool taking `args.tool_latency` seconds a call, then TRL's GRPOTrainer loop with the
    same slow tools, on the same batches; each summarised, with the settings they share and the keys GRPOConfig
    left out."""
    from rl_recipes.runner import end_together

    slow = SlowTools(args.tool_latency)
    trainer.tools = recipe_tools
    ours_instant_step = time_training_steps(trainer, args)
    trainer.tools = [slow.wrap(tool) for tool in recipe_tools]
    ours = rollout_summary(time_rollouts(trainer, batches, args, timer, slow))
    ours["seconds_per_step"] = time_training_steps(trainer, args)
    with tempfile.TemporaryDirectory() as output_dir:
        grpo, left_out = trl_grpo_trainer(args, output_dir)
        differing = [name for name in AGENT_GENERATION_SETTINGS
                     if getattr(grpo.args, name, None) != getattr(trainer.args, name, None)]
        if differing:
            sys.exit(f"error: TRL's GRPOTrainer would generate with other settings than ours: {', '.join(differing)}.")
        use_grpo_tools(grpo, [slow.wrap(tool) for tool in grpo.tools], len(batches[0]))
        grpo.model.train()
        trl = rollout_summary(time_rollouts(grpo, batches, args, PhaseTimer(args.device), slow))
        trl["seconds_per_step"] = time_training_steps(grpo, args)
        end_together(grpo)
    return {"ours_slow": ours, "trl_slow": trl, "ours_instant_seconds_per_step": ours_instant_step, "trl_left_out": left_out,
            "shared_settings": {name: getattr(trainer.args, name, None) for name in AGENT_GENERATION_SETTINGS}}


def run_agent(args: BenchmarkArguments, json_path: Path) -> None:
    """Agent rollouts through the agent trainer's own `_generate`, each phase timed, against single-turn generation
    of as many tokens a rollout; with `--tool_latency`, also with slow tools, ours against TRL's GRPOTrainer loop."""
    from trl import RLOOTrainer

    from rl_recipes.agents.rollout import ToolLoop
    from rl_recipes.runner import end_together
    from rl_recipes.trainers.agents import AgentRLOOConfig

    ensure_embedded_model(args.agent_model)
    slow_tools = None
    with tempfile.TemporaryDirectory() as output_dir:
        trainer = quiet_recipe_trainer(AgentRLOOConfig, RLOOTrainer, AGENT_RECIPE,
                                       agent_overrides(args, output_dir) + parallel_tool_calls_override(args))
        timer = PhaseTimer(args.device)
        generate_turn = trainer._generate_single_turn
        trainer._generate_single_turn = timer.wrap("model", generate_turn)
        trainer.model.train()
        recipe_tools = list(trainer.tools)
        trainer.tools = [timer.wrap("tools", tool) for tool in recipe_tools]
        parse, suffix = ToolLoop._parse, ToolLoop.tool_suffix_ids
        ToolLoop._parse = timer.wrap("parsing", parse)
        ToolLoop.tool_suffix_ids = timer.wrap("rendering", suffix)
        batches = agent_batches(trainer, args)
        try:
            agent_steps = time_rollouts(trainer, batches, args, timer)
            lengths = [step["tokens"] / len(batches[0]) for step in agent_steps]
            # Single turn: the same prompts, as many tokens a rollout, in one generation each.
            length = round(statistics.fmean(lengths))
            saved = trainer.generation_config.max_new_tokens, trainer.generation_config.min_new_tokens
            trainer.generation_config.max_new_tokens = trainer.generation_config.min_new_tokens = length
            single_steps = []
            for step, prompts in enumerate(batches):
                prompt_ids, _, _ = trainer._tokenize_prompts(prompts)
                start = timer.now()
                completion_ids = generate_turn(prompt_ids, None, {})
                if step >= args.warmup_steps:
                    single_steps.append({"total": timer.now() - start, "tokens": sum(map(len, completion_ids))})
            trainer.generation_config.max_new_tokens, trainer.generation_config.min_new_tokens = saved
        finally:
            ToolLoop._parse, ToolLoop.tool_suffix_ids = parse, suffix
        if args.tool_latency > 0:
            trainer._generate_single_turn = generate_turn
            slow_tools = time_slow_tools(args, trainer, recipe_tools, batches, timer)
        parallel = getattr(trainer.args, "max_parallel_tool_calls", None)
        end_together(trainer)
    agent_seconds = sum(step["total"] for step in agent_steps)
    agent = {"tokens_per_s": sum(step["tokens"] for step in agent_steps) / agent_seconds,
             "seconds_per_batch": agent_seconds / len(agent_steps), "model_tokens_per_rollout": length,
             "tool_calls_per_rollout": statistics.fmean(step["tool_calls_per_rollout"] for step in agent_steps),
             "shares": {phase: sum(step.get(phase, 0.0) for step in agent_steps) / agent_seconds
                        for phase in ("model", "tools", "parsing", "rendering")}}
    agent["shares"]["other"] = 1 - sum(agent["shares"].values())
    single_seconds = sum(step["total"] for step in single_steps)
    single = {"tokens_per_s": sum(step["tokens"] for step in single_steps) / single_seconds,
              "seconds_per_batch": single_seconds / len(single_steps)}
    ratio = agent["tokens_per_s"] / single["tokens_per_s"]
    print(f"\n{args.agent_batch} rollouts a batch (calculator task, tiny tool model), {args.dtype}, {device_name(args)}, "
          f"{args.steps} timed batches after {args.warmup_steps} warm-up; {length} model tokens a rollout\n")
    print("| generation | s/batch | model tokens/s | model | tools | parsing | rendering | other |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    shares = agent["shares"]
    print(f"| agent rollouts (tool loop) | {agent['seconds_per_batch']:.3f} | {agent['tokens_per_s']:.0f} | "
          + " | ".join(f"{shares[phase]:.0%}" for phase in ("model", "tools", "parsing", "rendering", "other")) + " |")
    print(f"| single turn, same length | {single['seconds_per_batch']:.3f} | {single['tokens_per_s']:.0f} | 100% | | | | |")
    print(f"\nagent rollouts / single turn, model tokens per second: {ratio:.2f}")
    latency = None
    if slow_tools:
        latency = slow_tool_comparison(args, agent, slow_tools, parallel)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(strict_json({"settings": asdict(args), "device": device_name(args), "agent": agent,
                                      "single_turn": single, "agent_vs_single_turn": ratio, "tool_latency": latency},
                                     indent=2))
    print(f"numbers in {json_path}")


def slow_tool_comparison(args: BenchmarkArguments, agent: dict, slow_tools: dict, parallel: int | None) -> dict:
    """The table of the three contenders and their ratios, printed; the same numbers for the JSON."""
    ours_instant = {key: agent[key] for key in ("seconds_per_batch", "tool_calls_per_rollout")}
    ours_instant["seconds_per_step"] = slow_tools["ours_instant_seconds_per_step"]
    ours_slow, trl_slow = slow_tools["ours_slow"], slow_tools["trl_slow"]
    ours_slow_vs_instant = ours_slow["seconds_per_batch"] / ours_instant["seconds_per_batch"]
    trl_slow_vs_ours_slow = trl_slow["seconds_per_batch"] / ours_slow["seconds_per_batch"]
    step_ratios = {"ours_slow_vs_instant": ours_slow["seconds_per_step"] / ours_instant["seconds_per_step"],
                   "trl_slow_vs_ours_slow": trl_slow["seconds_per_step"] / ours_slow["seconds_per_step"]}
    latency = f"{args.tool_latency:g} s"
    calls = (f"max_parallel_tool_calls {parallel}" if parallel is not None
             else "no max_parallel_tool_calls: one call after another")
    print(f"\nTools that take {latency} a call: our agent trainer ({calls}) against TRL's GRPOTrainer loop, the same "
          f"{args.agent_batch} rollouts a batch and seed, {args.steps} timed batches after {args.warmup_steps} warm-up\n")
    print("| contender | s/step | s/batch of rollouts | tool calls/rollout | slow calls/batch | waiting on tools, s/batch |")
    print("| --- | --- | --- | --- | --- | --- |")
    rows = [("ours, instant tools", ours_instant), (f"ours, tools taking {latency}", ours_slow),
            (f"TRL GRPOTrainer, tools taking {latency}", trl_slow)]
    for name, r in rows:
        slow = (f"{r['slow_calls_per_batch']:.1f} | {r['tool_wait_s_per_batch']:.3f}" if "slow_calls_per_batch" in r
                else " | ")
        print(f"| {name} | {r['seconds_per_step']:.3f} | {r['seconds_per_batch']:.3f} | {r['tool_calls_per_rollout']:.2f} | {slow} |")
    goals = SLOW_TOOL_GOALS
    print(f"\nours slow / ours instant: {step_ratios['ours_slow_vs_instant']:.2f} a training step, "
          f"{ours_slow_vs_instant:.2f} a batch of rollouts (goal: at most {goals['ours_slow_vs_instant_at_most']:g})")
    print(f"TRL slow / ours slow: {step_ratios['trl_slow_vs_ours_slow']:.2f} a training step, "
          f"{trl_slow_vs_ours_slow:.2f} a batch of rollouts (goal: at least {goals['trl_slow_vs_ours_slow_at_least']:g})")
    if slow_tools["trl_left_out"]:
        print(f"(keys of the recipe TRL's GRPOConfig does not have, left out of its run: "
              f"{', '.join(slow_tools['trl_left_out'])})")
    return {"latency_s": args.tool_latency, "max_parallel_tool_calls": parallel, "ours_instant": ours_instant,
            "ours_slow": ours_slow, "trl_slow": trl_slow, "ours_slow_vs_instant": ours_slow_vs_instant,
            "trl_slow_vs_ours_slow": trl_slow_vs_ours_slow, "per_step": step_ratios, "goals": goals,
            "trl_left_out": slow_tools["trl_left_out"], "shared_settings": slow_tools["shared_settings"]}


def quick_settings(args: BenchmarkArguments) -> BenchmarkArguments:
    defaults = BenchmarkArguments()
    return replace(args, **{key: value for key, value in QUICK_SETTINGS.items()
                            if getattr(args, key) == getattr(defaults, key)})


def main() -> None:
    (args,) = HfArgumentParser(BenchmarkArguments).parse_args_into_dataclasses()
    if args.scale_worker:
        return scale_worker(args)
    if args.scaling_worker:
        if args.scaling_worker not in ("rloo", "floor"):
            sys.exit(f"error: --scaling_worker {args.scaling_worker}: choose rloo or floor.")
        os.chdir(REPO_ROOT)  # the recipes name their prompts relative to the repository root
        return scaling_worker(args)
    if args.quick:
        args = quick_settings(args)
    if args.batch < 2:
        sys.exit("error: --batch must be at least 2 (RLOO needs two generations per prompt).")
    if args.scale + args.scaling + args.generation_options + args.agent > 1:
        sys.exit("error: --scale, --scaling, --generation_options and --agent are separate runs: set one of them to true.")
    if (args.tool_latency or args.max_parallel_tool_calls) and not args.agent:
        sys.exit("error: --tool_latency and --max_parallel_tool_calls belong to the agent mode: add --agent true.")
    if args.tool_latency < 0 or args.max_parallel_tool_calls < 0:
        sys.exit("error: --tool_latency and --max_parallel_tool_calls cannot be negative (0: the recipe as it is).")
    from rl_recipes.trainers.reinforce import ReinforceConfig, ReinforceTrainer

    if Path(args.model_name_or_path).exists():
        args.model_name_or_path = str(Path(args.model_name_or_path).resolve())
    json_path = Path(args.json_path).resolve()
    os.chdir(REPO_ROOT)  # the recipes name their prompts relative to the repository root
    if args.agent:
        return run_agent(args, json_path)  # on its own model: the story model need not be built
    ensure_embedded_model(args.model_name_or_path)
    if args.scale:
        return run_scale(args, json_path)
    if args.scaling:
        return run_scaling(args, json_path)
    if args.generation_options:
        return run_generation_options(args, json_path)
    memory = PeakMemory(args.device)
    results = [
        time_rloo("RLOO trainer", args, memory),
        time_rloo(STOCK_TRL, args, memory, build=stock_trl_trainer),
        time_recipe("REINFORCE trainer", ReinforceConfig, ReinforceTrainer, CONFIG_DIR / "reinforce.yaml",
                    ["--num_generations", "1"], args, memory),
        time_floor(args, memory),
    ]
    rloo, stock, reinforce, floor = results
    vs_stock = rloo["generations_per_s"] / stock["generations_per_s"]
    device = device_name(args)
    print(f"\n{args.batch} generations x {args.completion_length} tokens per step, {args.dtype}, {device}, "
          f"{args.steps} timed steps after {args.warmup_steps} warm-up\n")
    print(table(results, floor))
    print(f"\nRLOO trainer / {STOCK_TRL} generations per second: {vs_stock:.2f}")
    print(f"REINFORCE / RLOO generations per second: {reinforce['generations_per_s'] / rloo['generations_per_s']:.2f}")
    to_reward = time_to_reward(args) if args.time_to_reward else None
    if to_reward:
        runs = ", ".join(
            f"seed {r['seed']}: {r['seconds']:.1f} s, {r['generations']} generations" if r["reached"]
            else f"seed {r['seed']}: not reached" for r in to_reward["runs"]
        )
        print(f"\nDefault RLOO recipe to a mean reward of {to_reward['target']:g} (of {to_reward['maximum']:g}): "
              f"median {to_reward['median_seconds']:.1f} s, {to_reward['median_generations']:g} generations ({runs})")
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(strict_json(
        {"settings": asdict(args), "device": device, "results": results, "rloo_vs_stock_trl": vs_stock,
         "time_to_reward": to_reward}, indent=2
    ))
    print(f"numbers in {json_path}")


if __name__ == "__main__":
    main()
