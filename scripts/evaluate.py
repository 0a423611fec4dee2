"""Compare models on held-out prompts: sampled completions, their rewards, diversity and length.

    python scripts/evaluate.py --models models/tiny-story outputs/a_words/rloo outputs/a_words/rloo_lora
    python scripts/evaluate.py --models Qwen/Qwen2.5-0.5B-Instruct outputs/my_run --dataset_name trl-lib/tldr \\
        --dataset_split test --max_prompts 200 --reward_funcs my_rewards.length --device cuda --dtype bfloat16 \\
        --output_json outputs/eval.json --output_completions outputs/eval_completions.jsonl

Each model is a trained model directory, a LoRA run's output directory (it holds
`adapter_config.json`; the adapter is loaded on its base with `PeftModel.from_pretrained`) or a Hub
id. Every model samples `num_samples` completions of every prompt as the trainers do (with tools and
environments, multi-turn rollouts as the trainers run them), scored with the recipes' rewards
(`reward_funcs`, `reward_kwargs`, `reward_weights`), called as in training. A reward that raises or
returns bad values stops the evaluation with one line naming the fault.

Per model it reports the weighted total reward (mean and standard deviation over completions, as
the trainers sum it), each reward's mean, the fraction of distinct completions (`distinct_fraction`),
distinct-2 and the mean completion length in tokens. The table goes to standard output, the numbers
to `--output_json`, every completion to `--output_completions`. Each model's sampling is seeded with
`seed` alone, so its numbers do not depend on the other models listed. The machinery is in
`rl_recipes.evaluation`; the user's guide is docs/evaluation.md.
"""

import sys

from transformers import HfArgumentParser

from rewards import UnknownRewardError
from rl_recipes.checks import RecipeError
from rl_recipes.evaluation.arguments import EvaluateArguments, resolve_user_paths
from rl_recipes.evaluation.pipeline import evaluate, prepare, resolve_device
from rl_recipes.evaluation.report import print_report, write_outputs


def one_line(error: OSError) -> str:
    return " ".join(str(error).split())[:300]


def main(args: EvaluateArguments, names: list[str]) -> None:
    try:
        reward_funcs, candidates, dataset = prepare(args, names)
    except (RecipeError, UnknownRewardError) as error:
        sys.exit(f"error: {error}")
    except OSError as error:  # what transformers raises for a Hub id it cannot fetch
        sys.exit(f"error: cannot load a tokenizer: {one_line(error)}")
    device = resolve_device(args.device)
    results, records = [], []
    for candidate in candidates:
        try:
            summary, completions = evaluate(candidate, dataset, reward_funcs, args, device)
        except OSError as error:
            sys.exit(f"error: cannot load {candidate.name}: {one_line(error)}")
        except RecipeError as error:  # a reward that fails: raises, returns the wrong number of values, ...
            sys.exit(f"error: {candidate.name}: {error}")
        results.append(summary)
        records.extend(completions)
        print(f"{candidate.name}: done", file=sys.stderr)
    print_report(args, len(dataset), results)
    write_outputs(args, results, records)


if __name__ == "__main__":
    (args,) = HfArgumentParser(EvaluateArguments).parse_args_into_dataclasses()
    main(args, resolve_user_paths(args))
