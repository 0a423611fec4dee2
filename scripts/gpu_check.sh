#!/bin/bash
# The GPU paths on one GPU, in a few minutes: the recipes at two steps each on stand-in weights
# (float32 weights with bf16 compute: full fine-tuning, LoRA, REINFORCE, GRPO, vLLM colocate) and the
# calculator agent recipe on a briefly trained tiny tool-using model, then the benchmark's GPU mode. The figures go to one file, a Markdown report (default
# outputs/gpu_check/report.md).
#
#   pip install -r requirements-gpu.txt
#   bash scripts/gpu_check.sh [OUTPUT_DIR]
#
# Run from the repository root on a machine with an NVIDIA GPU. Nothing is downloaded: the stand-in
# is a random Qwen2 model (hidden size 256, head size 64, which vLLM's kernels take) with the test
# suite's tokenizer, built in seconds. DRY_RUN=1 prints the commands and runs nothing.

set -uo pipefail

OUTPUT_DIR=${1:-outputs/gpu_check}
REPORT=$OUTPUT_DIR/report.md
STAND_IN=$OUTPUT_DIR/qwen2-stand-in
TOOL_MODEL=$OUTPUT_DIR/tiny-tools  # the agent recipe's own model, trained briefly (it needs a chat template for tools)
LAUNCH=(accelerate launch --config_file accelerate_configs/single_gpu.yaml)
# Weights stay in the recipes' float32 (full fine-tuning needs it to learn at small learning rates) and
# compute runs in bf16, as the recipes run on a GPU; the LoRA recipe's adapter is float32 either way.
COMMON=(--model_name_or_path "$STAND_IN" --max_steps 2 --max_completion_length 32 --bf16 true
        --report_to none --save_strategy no --overwrite_output_dir true)
CONFIGS=recipes/configs/a_words

# name | recipe script | recipe YAML | extra flags
RUNS=(
    "rloo_bf16|rloo.py|$CONFIGS/rloo.yaml|"
    "rloo_lora_bf16|rloo.py|$CONFIGS/rloo_lora.yaml|"
    "reinforce_moving_average_bf16|reinforce.py|$CONFIGS/reinforce_moving_average.yaml|"
    "grpo_bf16|grpo.py|$CONFIGS/grpo.yaml|"
    "rloo_vllm_colocate_bf16|rloo.py|$CONFIGS/rloo.yaml|--use_vllm true --vllm_mode colocate --vllm_gpu_memory_utilization 0.3"
    "agent_calculator_rloo_bf16|rloo.py|recipes/configs/calculator/rloo.yaml|--model_name_or_path $TOOL_MODEL"
)
BENCHMARK=(python scripts/benchmark.py --model_name_or_path "$STAND_IN" --dtype bfloat16 --device cuda --quick true
           --time_to_reward false --json_path "$OUTPUT_DIR/benchmark_gpu.json")

if [[ -n ${DRY_RUN:-} && ${DRY_RUN:-} != 0 ]]; then
    for run in "${RUNS[@]}"; do
        IFS='|' read -r name script config extra <<< "$run"
        # shellcheck disable=SC2086  # extra holds several flags
        echo "${LAUNCH[*]} recipes/$script --config $config ${COMMON[*]} --output_dir $OUTPUT_DIR/$name $extra"
    done
    echo "${BENCHMARK[*]}"
    exit 0
fi

command -v nvidia-smi > /dev/null || { echo "error: no nvidia-smi: this check needs an NVIDIA GPU" >&2; exit 2; }
mkdir -p "$OUTPUT_DIR"
python - "$STAND_IN" <<'PY'
import sys

import torch
from transformers import AutoModelForCausalLM, Qwen2Config

from tests.stand_ins import build_tokenizer

torch.manual_seed(0)
tokenizer = build_tokenizer(chat=True)
config = Qwen2Config(vocab_size=len(tokenizer), hidden_size=256, intermediate_size=768, num_hidden_layers=2,
                     num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                     bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                     pad_token_id=tokenizer.pad_token_id)
model = AutoModelForCausalLM.from_config(config)
model.generation_config.pad_token_id = tokenizer.pad_token_id
model.save_pretrained(sys.argv[1])
tokenizer.save_pretrained(sys.argv[1])
PY
python scripts/build_tool_model.py --output_dir "$TOOL_MODEL" --max_steps 150 --num_transcripts 2000 \
    --skill_transcripts 2000 --min_copy_probability 0 > "$OUTPUT_DIR/tiny-tools.log" 2>&1 || { echo "error: building the tool model failed: see $OUTPUT_DIR/tiny-tools.log" >&2; exit 1; }

{
    echo "# GPU check, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | sed 's/^/GPU: /'
    python -c 'import torch, transformers, trl; print(f"torch {torch.__version__}, transformers {transformers.__version__}, trl {trl.__version__}")'
    python -c 'import vllm; print(f"vllm {vllm.__version__}")' 2> /dev/null || echo "vllm: not installed"
    echo
    echo "| run | exit | seconds | reward first -> last |"
    echo "| --- | --- | --- | --- |"
} > "$REPORT"

FAILED=0
for run in "${RUNS[@]}"; do
    IFS='|' read -r name script config extra <<< "$run"
    log=$OUTPUT_DIR/$name.log
    if [[ $extra == *--use_vllm* ]] && ! python -c 'import vllm' 2> /dev/null; then
        # vLLM is an extra (requirements-gpu.txt): without it the run is reported, not failed.
        echo "| $name | skipped: vLLM not installed | - | - |" >> "$REPORT"
        echo "$name: skipped (vLLM not installed)"
        continue
    fi
    start=$SECONDS
    # shellcheck disable=SC2086  # extra holds several flags
    "${LAUNCH[@]}" "recipes/$script" --config "$config" "${COMMON[@]}" --output_dir "$OUTPUT_DIR/$name" $extra > "$log" 2>&1
    status=$?
    [[ $status -eq 0 ]] || FAILED=1
    rewards=$(python -c 'import json, sys
history = json.load(open(sys.argv[1]))["log_history"]
rewards = [e["reward"] for e in history if "reward" in e]
print(f"{rewards[0]:.3f} -> {rewards[-1]:.3f}" if rewards else "-")' "$OUTPUT_DIR/$name/trainer_state.json" 2> /dev/null || echo "-")
    echo "| $name | $status | $((SECONDS - start)) | $rewards |" >> "$REPORT"
    echo "$name: exit $status (log: $log)"
done

echo >> "$REPORT"
echo "## Benchmark, GPU mode" >> "$REPORT"
"${BENCHMARK[@]}" > "$OUTPUT_DIR/benchmark_gpu.log" 2>&1
status=$?
[[ $status -eq 0 ]] || FAILED=1
{
    echo
    grep -E '^(\||[0-9]+ generations|REINFORCE / RLOO)' "$OUTPUT_DIR/benchmark_gpu.log" || echo "benchmark failed (exit $status): see benchmark_gpu.log"
} >> "$REPORT"

echo "Report: $REPORT"
exit $FAILED
