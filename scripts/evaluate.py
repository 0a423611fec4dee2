"""Compare models on held-out prompts: sampled completions, their rewards, diversity and length.

    python scripts/evaluate.py --models models/tiny-story outputs/a_words/rloo outputs/a_words/rloo_lora
    python scripts/evaluate.py --models Qwen/Qwen2.5-0.5B-Instruct outputs/my_run --dataset_name trl-lib/tldr \\
        --dataset_split test --max_prompts 200 --reward_funcs my_rewards.length --device cuda --dtype bfloat16 \\
        --output_json outputs/eval.json --output_completions outputs/eval_completions.jsonl

Each model is a trained model directory, a LoRA run's output directory (it holds
`adapter_config.json`; the adapter is loaded on its base with `PeftModel.from_pretrained`) or a Hub
id. Every model samples `num_samples` completions of every prompt as the trainers do (pure sampling
at `temperature` with RLOOConfig's top-k, top-p, min-p and repetition penalty over the model's own
generation config, left padding, cut at the first end-of-sequence token); chat
prompts (lists of messages) go through the tokenizer's chat template. The rewards are named as in
the recipes (`reward_funcs`, `reward_kwargs`, `reward_weights`), are called through the recipes'
reward guard (async rewards awaited, the same return types accepted) and get the same arguments as
in training: prompts, completions, completion_ids, the data set's other columns and TRL's keywords
(`trainer_state` at step 0, `log_extra` and `log_metric`, whose values are dropped). A reward that
raises or returns bad values stops the evaluation with one line naming the fault.

Per model it reports the weighted total reward (mean and standard deviation over completions, as
the trainers sum it), each reward's mean, the fraction of distinct completions, distinct-2 (distinct
word bigrams / all word bigrams, over all completions) and the mean completion length in tokens.
A reward that returns None for a completion leaves it out of that reward's mean, and the table says
how many; a completion that no reward scores is left out of the total. The table goes to standard
output, the numbers to `--output_json`, every completion to `--output_completions`. Each model's
sampling is seeded with `seed` alone, so its numbers do not depend on the other models listed.
"""

import os
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from transformers import HfArgumentParser

from rewards import UnknownRewardError
from rl_recipes import REPO_ROOT
from rl_recipes.checks import (
    RecipeError,
    check_adapter_base,
    check_model_source,
    check_reward_weights,
    looks_like_local_path,
    parse_reward_kwargs,
)
from rl_recipes.saving import strict_json
from rl_recipes.embedded import embedded_model, ensure_embedded_model

DEFAULT_PROMPTS = REPO_ROOT / "recipes" / "configs" / "a_words" / "prompts.jsonl"


@dataclass
class EvaluateArguments:
    models: list[str] = field(
        metadata={"help": "Models to compare, the baseline first: model directories, LoRA output directories or Hub ids."}
    )
    dataset_name: str = field(
        default=str(DEFAULT_PROMPTS),
        metadata={"help": "Prompts: a Hub data set, a local data set directory or a .jsonl/.json/.csv/.parquet/.txt file."},
    )
    dataset_config: str | None = field(default=None, metadata={"help": "Configuration of a Hub data set."})
    dataset_split: str = field(default="test", metadata={"help": "Split of a Hub data set or of a local data set directory (a local file is read whole)."})
    prompt_column: str = field(default="prompt", metadata={"help": "Column holding the prompts."})
    conversational: bool = field(
        default=False, metadata={"help": "Send text prompts as a user message through the chat template, as in the recipes."}
    )
    system_prompt: str | None = field(
        default=None, metadata={"help": "A system message before every prompt (implies conversational), as in the recipes."}
    )
    max_prompts: int | None = field(default=None, metadata={"help": "Evaluate on the first N prompts only."})
    num_samples: int = field(default=4, metadata={"help": "Completions sampled per prompt and model."})
    max_completion_length: int = field(default=100, metadata={"help": "Most tokens per completion."})
    temperature: float = field(default=1.0, metadata={"help": "Sampling temperature."})
    seed: int = field(default=0, metadata={"help": "Seed of every model's sampling."})
    batch_size: int = field(default=32, metadata={"help": "Completions generated at once."})
    device: str = field(default="auto", metadata={"help": "Where to generate.", "choices": ["auto", "cpu", "cuda"]})
    dtype: str = field(
        default="float32",
        metadata={"help": "dtype to load the models in; 'auto' keeps each checkpoint's.",
                  "choices": ["auto", "float32", "bfloat16", "float16"]},
    )
    reward_funcs: list[str] | None = field(
        default=None,
        metadata={"help": "Rewards: names from the `rewards` registry or dotted paths package.module.function. Default: "
                          "a_words, or none with an environment_factory (its get_reward scores)."},
    )
    reward_kwargs: str | None = field(
        default=None, metadata={"help": 'Settings of the rewards by reward name, as JSON: \'{"format": {"pattern": "^<a>"}}\'.'}
    )
    reward_weights: list[float] | None = field(
        default=None, metadata={"help": "One weight per reward for the total; default: all 1, as in the trainers."}
    )
    output_json: str | None = field(default=None, metadata={"help": "Write the settings and numbers here."})
    output_completions: str | None = field(
        default=None, metadata={"help": "Write every completion with its model, prompt, length and rewards here (jsonl)."}
    )
    overwrite_outputs: bool = field(default=False, metadata={"help": "Allow --output_json/--output_completions to replace files."})
    tools: list[str] = field(
        default_factory=list,
        metadata={"help": "Tools the models may call, as in the recipes: shipped names (add, subtract, multiply) or dotted paths."},
    )
    environment_factory: str | None = field(
        default=None, metadata={"help": "Dotted path of an environment class, as in the recipes (its get_reward scores)."}
    )
    max_tool_calling_iterations: int | None = field(default=None, metadata={"help": "Most rounds of tool calls a rollout makes."})
    tool_call_timeout: float = field(default=10.0, metadata={"help": "Seconds a tool call may take; 0: no limit."})
    max_parallel_tool_calls: int = field(
        default=64, metadata={"help": "Most tool calls running at once, as in the recipes (1 with tool_call_timeout 0: "
                                      "in the main thread, one after another)."})


@dataclass
class Candidate:
    """A model to evaluate: its name as given, what to load, the base under an adapter, its tokenizer."""

    name: str
    path: str
    base: str | None = None
    tokenizer: object = None


def check_candidates(names: list[str], sources: list[str]) -> list[Candidate]:
    """Every model exists (or is a Hub id, cached when offline), and every adapter's base does."""
    candidates = []
    for name, source in zip(names, sources):
        path = Path(source).expanduser()
        check_model_source(source, setting="--models")
        if path.is_dir() and (path / "adapter_config.json").is_file():
            base = check_adapter_base(path, fix="merge it into a base that exists with "
                                      "scripts/merge_lora.py --base_model, and evaluate the merged model.")
            candidates.append(Candidate(name, str(path.resolve()), base=base))
        elif path.is_dir() and not (path / "config.json").is_file() and embedded_model(source) is None:
            raise RecipeError(f"{name} holds neither config.json (a model) nor adapter_config.json (a LoRA adapter).")
        else:
            candidates.append(Candidate(name, source))
    return candidates


def check_arguments(args: EvaluateArguments) -> None:
    if args.reward_funcs is None:
        args.reward_funcs = [] if args.environment_factory else ["a_words"]
    for key in ("num_samples", "max_completion_length", "batch_size", "max_parallel_tool_calls"):
        if getattr(args, key) <= 0:
            raise RecipeError(f"{key} is {getattr(args, key)}: set it to a positive number.")
    if args.max_prompts is not None and args.max_prompts <= 0:
        raise RecipeError(f"max_prompts is {args.max_prompts}: set it to a positive number, or leave it out for all.")
    if args.temperature <= 0:
        raise RecipeError(f"temperature is {args.temperature}: sampling needs a positive temperature.")
    if args.device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise RecipeError("--device cuda, but no CUDA device is available: use --device cpu or auto.")
    args.reward_kwargs = parse_reward_kwargs(args.reward_kwargs)
    check_reward_weights(args.reward_funcs, args.reward_weights)
    for output in (args.output_json, args.output_completions):
        if output and Path(output).exists() and not args.overwrite_outputs:
            raise RecipeError(f"{output} already exists: pass another path, or --overwrite_outputs true to replace it.")


def load_tokenizer(candidate: Candidate):
    """The model's tokenizer; for an adapter, the one its run saved beside it, else the base's."""
    from transformers import AutoTokenizer

    has_own = candidate.base is None or (Path(candidate.path) / "tokenizer_config.json").is_file()
    tokenizer = AutoTokenizer.from_pretrained(candidate.path if has_own else candidate.base)
    if tokenizer.pad_token is None:  # batches need a pad token; the end-of-sequence one is masked out anyway
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(candidate: Candidate, dtype: str, device: str):
    """The model in eval mode; an adapter is applied, unmerged, on its base as in training."""
    from transformers import AutoModelForCausalLM

    if candidate.base is None:
        model = AutoModelForCausalLM.from_pretrained(candidate.path, dtype=dtype)
    else:
        from peft import PeftModel

        model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(candidate.base, dtype=dtype), candidate.path)
    return model.to(device).eval()


def is_chat(prompt) -> bool:
    return isinstance(prompt, list)


def sampling_config(model_config, temperature: float):
    """The model's generation config with the trainers' sampling settings over it, as TRL sets them when it
    generates: RLOOConfig's top_p, top_k, min_p and repetition_penalty, so that no setting of the model's own
    (an instruct model's repetition penalty, say) changes what is sampled."""
    from dataclasses import fields

    from transformers import GenerationConfig
    from trl import RLOOConfig

    trainer_settings = {f.name: f.default for f in fields(RLOOConfig) if f.name in ("top_p", "top_k", "min_p", "repetition_penalty")}
    config = GenerationConfig.from_dict(model_config.to_dict())
    config.update(do_sample=True, temperature=temperature, **trainer_settings)
    return config


class Sampler:
    """Continuations of token-id rows, sampled as the trainers sample (`sampling_config`), in batches, each cut after
    its first end-of-sequence token."""

    def __init__(self, model, tokenizer, args: EvaluateArguments, device: str):
        import torch

        eos_ids = model.generation_config.eos_token_id
        if eos_ids is None:
            eos_ids = tokenizer.eos_token_id
        self.eos_ids = torch.tensor([eos_ids] if isinstance(eos_ids, int) else eos_ids, device=device)
        self.config = sampling_config(model.generation_config, args.temperature)
        self.config.update(pad_token_id=tokenizer.pad_token_id, eos_token_id=self.eos_ids.tolist())
        self.model, self.tokenizer, self.batch_size, self.device = model, tokenizer, args.batch_size, device

    def __call__(self, rows: list[list[int]], max_new_tokens: int) -> list[list[int]]:
        import torch

        self.config.max_new_tokens = max_new_tokens
        continuations = []
        for start in range(0, len(rows), self.batch_size):
            batch = self.tokenizer.pad({"input_ids": rows[start : start + self.batch_size]}, padding_side="left",
                                       return_tensors="pt").to(self.device)
            with torch.no_grad():
                sequences = self.model.generate(**batch, generation_config=self.config)
            for ids in sequences[:, batch["input_ids"].shape[1] :]:
                is_eos = torch.isin(ids, self.eos_ids)
                end = int(is_eos.int().argmax()) + 1 if is_eos.any() else len(ids)
                continuations.append(ids[:end].tolist())
        return continuations


def sample(model, tokenizer, prompt_ids: list[list[int]], args: EvaluateArguments, device: str) -> list[list[int]]:
    """`num_samples` completions of each prompt (prompt-major), each cut after its first end-of-sequence token."""
    import torch

    torch.manual_seed(args.seed)
    return Sampler(model, tokenizer, args, device)([ids for ids in prompt_ids for _ in range(args.num_samples)],
                                                   args.max_completion_length)


def roll_out(model, tokenizer, rows: list[dict], args: EvaluateArguments, device: str):
    """Multi-turn rollouts of `rows` (each already repeated `num_samples` times) with the tools and environment, as
    the trainers run them: (transcripts, their token ids, the model's own tokens in each, the environments, or
    None). Tool results are in the token ids but not in the model's count, as in training's completion lengths."""
    import torch

    from rl_recipes.agents.rollout import (
        ToolLoop, prefix_preserving_template, reset_environments, rollout_tools, tool_call_marker,
    )

    from rl_recipes.agents.execution import ToolExecutor

    factory = args.agent.get("environment_factory")
    several = isinstance(factory, dict)  # by name: each row's `environment` picks, and is not passed to reset
    environments = [(factory[str(row["environment"])] if several else factory)() for row in rows] if factory else None
    prompts = [row["prompt"] for row in rows]
    if environments:
        reset_rows = [{k: v for k, v in row.items() if k != "environment" or not several} for row in rows]
        prompts, faults = reset_environments(environments, reset_rows, prompts)
        if any(faults):
            raise RecipeError(next(fault for fault in faults if fault))
    per_rollout = [rollout_tools(args.agent["tools"], environments[i] if environments else None) for i in range(len(rows))]
    chat_template = prefix_preserving_template(tokenizer)
    prompt_ids = [tokenizer.apply_chat_template(prompt, tools=listed or None, chat_template=chat_template,
                                                add_generation_prompt=True, tokenize=True, return_dict=True)["input_ids"]
                  for prompt, (_, listed) in zip(prompts, per_rollout)]
    torch.manual_seed(args.seed)
    loop = ToolLoop(
        tokenizer=tokenizer, generate=Sampler(model, tokenizer, args, device), max_completion_length=args.max_completion_length,
        max_model_len=getattr(model.config.get_text_config(), "max_position_embeddings", sys.maxsize),
        max_iterations=args.max_tool_calling_iterations, chat_template=chat_template,
        call_marker=tool_call_marker(tokenizer, chat_template),
        executor=ToolExecutor(args.max_parallel_tool_calls, args.agent["tool_call_timeout"]),
    )
    trajectories = loop.run(prompt_ids, [tools for tools, _ in per_rollout], [listed for _, listed in per_rollout])
    return ([t.messages for t in trajectories], [t.completion_ids for t in trajectories],
            [t.model_tokens for t in trajectories], environments)


def score(reward_funcs, reward_names, weights, prompts, completions, completion_ids, columns) -> tuple[dict, list]:
    """(rewards by name, weighted total) per completion; None where a reward, or for the total every reward, gave none.

    The rewards are called as in training, with every keyword TRL passes (`trainer_state` a fresh state, at step
    0; what `log_extra` and `log_metric` are given is dropped), through the recipes' reward guard, async ones
    awaited. A reward that raises or returns bad values (the wrong number, a non-number, NaN) stops the
    evaluation with its fault."""
    from transformers import TrainerState

    from rl_recipes.trainers.reward_guard import guard_rewards, score_outside_trl

    trl_keywords = {"trainer_state": TrainerState(), "log_extra": lambda column, values: None,
                    "log_metric": lambda name, value: None}
    per_reward = {}
    for name, reward in zip(reward_names, guard_rewards(reward_funcs, reward_names)):
        per_reward[name] = score_outside_trl(reward, prompts=prompts, completions=completions,
                                             completion_ids=completion_ids, **trl_keywords, **columns)
        if reward.faults:
            raise RecipeError(f"Reward '{name}' {reward.faults[0]}")
    totals = []
    for i in range(len(completions)):
        scored = [(weight, per_reward[name][i]) for name, weight in zip(reward_names, weights) if per_reward[name][i] is not None]
        # As the trainers sum them: a reward with no value adds nothing; a completion no reward scores has no total.
        totals.append(sum(weight * value for weight, value in scored) if scored else None)
    return per_reward, totals


def distinct_2(texts: list[str]) -> float:
    """Distinct word bigrams over all bigrams, within completions; words, so that tokenizers compare alike."""
    bigrams = [pair for text in texts for pair in zip(text.split(), text.split()[1:])]
    return len(set(bigrams)) / len(bigrams) if bigrams else 0.0


def mean_of(values: list) -> float | None:
    """Mean of the values a reward gave; None (JSON null) when it gave none."""
    given = [value for value in values if value is not None]
    return statistics.fmean(given) if given else None


def summarise(name: str, texts: list[str], lengths: list[int], per_reward: dict, totals: list) -> dict:
    scored = [total for total in totals if total is not None]
    return {
        "model": name,
        "completions": len(texts),
        "reward_mean": mean_of(totals),
        "reward_std": statistics.pstdev(scored) if scored else None,
        "reward_left_out": len(totals) - len(scored),
        "rewards": {reward: {"mean": mean_of(values), "left_out": values.count(None)} for reward, values in per_reward.items()},
        "distinct_completions": len(set(texts)) / len(texts),
        "distinct_2": distinct_2(texts),
        "mean_length": statistics.fmean(lengths),
    }


def evaluate(candidate: Candidate, dataset, reward_funcs, args: EvaluateArguments, device: str) -> tuple[dict, list[dict]]:
    """The model's summary and its completions, each with prompt, length and rewards."""
    tokenizer = candidate.tokenizer
    from rl_recipes.data import tokenize_prompts

    prompts = list(dataset["prompt"])
    model = load_model(candidate, args.dtype, device)
    expanded = [row for row in dataset for _ in range(args.num_samples)]
    columns = {column: [row[column] for row in expanded] for column in dataset.column_names if column != "prompt"}
    names, weights = list(args.reward_funcs), list(args.reward_weights or [1.0] * len(reward_funcs))
    if args.agent:
        completions, completion_ids, lengths, environments = roll_out(model, tokenizer, expanded, args, device)
        texts = tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
        if environments:  # rewards get the rollouts' environments; its get_reward is one more reward, weight 1
            columns["environments"] = environments
            if callable(getattr(environments[0], "get_reward", None)):
                reward_funcs = [*reward_funcs, environment_reward]
                names.append(type(environments[0]).__name__)
                weights.append(1.0)
    else:
        completion_ids = sample(model, tokenizer, tokenize_prompts(prompts, tokenizer), args, device)
        texts = tokenizer.batch_decode(completion_ids, skip_special_tokens=True)
        # Rewards see what they see in training: chat completions as an assistant message, other columns per completion.
        completions = [[{"role": "assistant", "content": text}] for text in texts] if is_chat(prompts[0]) else texts
        lengths = [len(ids) for ids in completion_ids]
    per_reward, totals = score(reward_funcs, names, weights, [row["prompt"] for row in expanded], completions,
                               completion_ids, columns)
    records = [
        {"model": candidate.name, "prompt": row["prompt"], "completion": completions[i], "num_tokens": lengths[i],
         **{reward: values[i] for reward, values in per_reward.items()}, "reward": totals[i]}
        for i, row in enumerate(expanded)
    ]
    return summarise(candidate.name, texts, lengths, per_reward, totals), records


def environment_reward(environments, **kwargs) -> list:
    """An environment's own score of each rollout, as the trainers add it."""
    return [environment.get_reward() for environment in environments]


def number(value: float | None, spec: str = ".2f") -> str:
    return "n/a" if value is None else format(value, spec)


def left_out(count: int) -> str:
    return f" ({count} left out)" if count else ""


def markdown_table(results: list[dict], reward_names: list[str]) -> str:
    lines = [
        "| model | reward (mean ± std) | vs first | " + " | ".join(f"{name} (mean)" for name in reward_names)
        + " | distinct completions | distinct-2 | mean length (tokens) |",
        "| --- " * (6 + len(reward_names)) + "|",
    ]
    baseline = results[0]["reward_mean"]
    for r in results:
        total = f"{number(r['reward_mean'])} ± {number(r['reward_std'])}{left_out(r['reward_left_out'])}"
        versus = None if r["reward_mean"] is None or baseline is None else r["reward_mean"] - baseline
        per_reward = " | ".join(
            number(r["rewards"][name]["mean"]) + left_out(r["rewards"][name]["left_out"]) for name in reward_names
        )
        lines.append(
            f"| {r['model']} | {total} | {number(versus, '+.2f')} | {per_reward} | "
            f"{r['distinct_completions']:.2f} | {r['distinct_2']:.3f} | {r['mean_length']:.1f} |"
        )
    return "\n".join(lines)


def prepare(args: EvaluateArguments, names: list[str]):
    """(reward functions, candidates with their tokenizers, prompts): every check, before any model loads."""
    from rewards import get_reward_funcs
    from rl_recipes.agents.tools import check_tool_chat_template
    from rl_recipes.data import load_prompts, tokenize_prompts
    from trl import RLOOTrainer

    from rl_recipes.runner import check_agent_prompts, resolve_agent

    check_arguments(args)
    # Imported from the working directory, where a user's own reward (or tool) module lives (as in the recipes).
    reward_funcs = get_reward_funcs(args.reward_funcs, args.reward_kwargs)
    args.agent = resolve_agent(args, reward_funcs, RLOOTrainer)  # the tools as the RLOO and REINFORCE recipes run them
    # From the repository root on: the default prompts, and an adapter's relative base path as the
    # recipes record it (models/tiny-story).
    os.chdir(REPO_ROOT)
    candidates = check_candidates(names, args.models)
    dataset = load_prompts(args.dataset_name, args.dataset_config, args.dataset_split, args.prompt_column,
                           conversational=args.conversational, system_prompt=args.system_prompt,
                           environment_prompts=bool(args.environment_factory), split_setting="dataset_split")
    if args.max_prompts is not None:
        dataset = dataset.select(range(min(args.max_prompts, len(dataset))))
    if args.agent:
        check_agent_prompts(dataset, args.environment_factory)
    for candidate in candidates:
        ensure_embedded_model(candidate.base or candidate.path)
        candidate.tokenizer = load_tokenizer(candidate)
        try:
            tokenize_prompts(dataset["prompt"][:1], candidate.tokenizer)  # chat prompts need a chat template
            if args.agent:
                check_tool_chat_template(candidate.tokenizer, candidate.name)
        except RecipeError as error:
            raise RecipeError(f"{candidate.name}: {error}") from None
    return reward_funcs, candidates, dataset


def resolved_if_local(name: str) -> str:
    """A local path made absolute against the working directory; a Hub id as it is."""
    return str(Path(name).expanduser().resolve()) if Path(name).expanduser().exists() or looks_like_local_path(name) else name


def main() -> None:
    (args,) = HfArgumentParser(EvaluateArguments).parse_args_into_dataclasses()
    names = list(args.models)  # as given, for the table
    # Paths are the user's, from their working directory (prepare() moves to the repository root later).
    args.models = [resolved_if_local(m) for m in args.models]
    for key in ("dataset_name", "output_json", "output_completions"):
        if getattr(args, key):
            setattr(args, key, resolved_if_local(getattr(args, key)) if key == "dataset_name" else str(Path(getattr(args, key)).resolve()))
    try:
        reward_funcs, candidates, dataset = prepare(args, names)
    except (RecipeError, UnknownRewardError) as error:
        sys.exit(f"error: {error}")
    except OSError as error:  # what transformers raises for a Hub id it cannot fetch
        sys.exit(f"error: cannot load a tokenizer: {' '.join(str(error).split())[:300]}")
    import torch

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    results, records = [], []
    for candidate in candidates:
        try:
            summary, completions = evaluate(candidate, dataset, reward_funcs, args, device)
        except OSError as error:
            sys.exit(f"error: cannot load {candidate.name}: {' '.join(str(error).split())[:300]}")
        except RecipeError as error:  # a reward that fails: raises, returns the wrong number of values, ...
            sys.exit(f"error: {candidate.name}: {error}")
        results.append(summary)
        records.extend(completions)
        print(f"{candidate.name}: done", file=sys.stderr)

    print(f"\n{len(dataset)} prompts x {args.num_samples} samples, up to {args.max_completion_length} tokens, "
          f"temperature {args.temperature}, seed {args.seed}\n")
    print(markdown_table(results, list(results[0]["rewards"])))
    if args.output_json:
        Path(args.output_json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output_json).write_text(strict_json({"settings": asdict(args), "results": results}, indent=2))
    if args.output_completions:
        Path(args.output_completions).parent.mkdir(parents=True, exist_ok=True)
        with open(args.output_completions, "w") as f:
            for record in records:
                f.write(strict_json(record) + "\n")


if __name__ == "__main__":
    main()
