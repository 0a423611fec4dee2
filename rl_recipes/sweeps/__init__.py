"""The sweeps of `scripts/compare.py`: several recipes, several seeds each, the same budget of generations, one
plot and one table. One job per module:

- `plan`: the command line (`CompareArguments`), the named studies, the arms (one recipe each) and their checks,
  the runs to make;
- `scheduler`: the runs as child processes side by side, the cores shared among them, finished runs kept on resume;
- `analysis`: each run's figures from its logs (reward, held-out success, tool use, strategies and fixation), and
  each arm's over its seeds;
- `report`: the plots, `results.md` and `results.json`;
- `sweep`: one sweep from its arguments to its outputs (`run_sweep`, which the script calls).
"""
