"""The benchmark behind `scripts/benchmark.py`: how fast the recipes turn compute into reward, against the floor of a
plain PyTorch loop. One job per module:

- `arguments`: the flags (`BenchmarkArguments`), `--quick`, the checks, `BenchmarkError`;
- `modes`: which mode a command line asks for, and the run of it (`run_benchmark`);
- `contenders`: the default mode: the RLOO and REINFORCE recipes' trainers, stock TRL and the floor, then time to
  reward;
- `time_to_reward`: the default RLOO recipe trained until its mean reward reaches the target, per seed;
- `launch_memory`: memory and speed per process under 1 process, DDP, ZeRO-2 and ZeRO-3;
- `cost_growth`: how a step's cost grows with model size, completion length and generations per step;
- `generation_options`: TRL's generation settings against the recipe's;
- `agents`: agent rollouts against single-turn generation; `slow_tools`: with slow tools, ours against TRL's loop;
  `rollouts`: the fixed batches and timings both use;
- `workers`: the contenders that run in processes of their own (`python -m rl_recipes.benchmarking.workers`);
- `builders`: the trainers timed, as the recipe scripts build them or as `trl rloo` does;
- `timing`: the phase timer and a recipe's trainer timed step by step; `memory`: peak memory and the bytes held;
- `floor`: the plain PyTorch loop; `models`: the widened and deepened random models;
- `tables`: the printed tables and the JSON.

Results, with dates, commits and hardware: `docs/benchmarks.md`.
"""
