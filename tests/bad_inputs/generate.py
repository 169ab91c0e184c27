"""Write the bad-input corpus (``bad/``) and the valid edge cases (``good/``) used by test_bad_inputs.py.

Run ``python tests/bad_inputs/generate.py`` after editing the cases below; the
files are committed so the corpus can be read (and run by hand) as it is.

Conventions read by the test:
* a line ending in ``# <-`` is the line the error must name (scenario files);
* ``# expect: TEXT`` on the first lines: TEXT must appear in the error line;
* ``# expect-file: NAME:LINE``: the error names that file and line instead
  (errors inside a trace file name the trace's own line);
* ``# validate-only``: ``run`` accepts the file (a bad sweep point; ``run`` ignores ``sweep:``).
Model files are made by the test itself (they are binary): see test_bad_inputs.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

HERE = Path(__file__).parent
BASE = """name: t
horizon: 60
devices: {count: 1, arrivals: {periodic: {interval: 10}}}
policies: [local, greedy]
"""


def scen(body: str, expect: str, base: bool = True) -> str:
    """A scenario: the base fields not set by ``body``, then ``body``."""
    head = f"# expect: {expect}\n"
    if not base:
        return head + body
    keys = {ln.split(":", 1)[0] for ln in body.splitlines() if ln and not ln.startswith((" ", "#", "-"))}
    kept = "".join(ln + "\n" for ln in BASE.splitlines() if ln.split(":", 1)[0] not in keys)
    return head + kept + body


BAD: dict[str, str] = {}


def bad(name: str, body: str, expect: str, base: bool = True) -> None:
    assert name not in BAD, name
    BAD[name] = scen(body, expect, base)


# ---------------------------------------------------------------- top-level scalars
for tag, v in (("bool", "true"), ("neg", "-1"), ("abc", "abc"), ("float", "1.5"), ("inf", ".inf"), ("list", "[1]"),
               ("map", "{a: 1}")):
    bad(f"seed_{tag}", f"seed: {v}  # <-\n", "seed")
for tag, v in (("zero", "0"), ("neg", "-5"), ("inf", ".inf"), ("nan", ".nan"), ("abc", "abc"), ("bool", "true"),
               ("unit", "10 parsecs"), ("list", "[60]"), ("huge", "1.0e+15"), ("neginf", "-.inf"), ("null", "null"),
               ("big_str", '"1e400"')):
    bad(f"horizon_{tag}", f"horizon: {v}  # <-\n", "horizon")
bad("name_list", "name: [a, b]  # <-\n", "name")
bad("name_date", "name: 2020-01-01  # <-\n", "name")
bad("unknown_top", "colour: blue  # <-\n", "colour")
bad("unknown_long_key", "x" * 200_000 + ": 1  # <-\n", "YAML")
bad("unknown_long_key_quoted", "? " + "x" * 5000 + "\n: 1\n", "unknown field")
bad("long_value", "name: t\nedge:\n  cores: " + "9" * 5000 + "x  # <-\n", "edge.cores", base=False)
bad("limits_zero", "limits: {tasks: 0}  # <-\n", "limits.tasks")
bad("limits_abc", "limits: {tasks: abc}  # <-\n", "limits.tasks")
bad("limits_unknown", "limits: {cpu: 5}  # <-\n", "limits.cpu")
bad("limits_lowered", "limits: {tasks: 5}\ndevices:\n  arrivals: {periodic: {interval: 10}}  # <-\n",
    "limits: {tasks: N}")
bad("limits_bool", "limits: {tasks: true}  # <-\n", "limits.tasks")

# ---------------------------------------------------------------- task
for tag, v in (("zero", "0"), ("big", "65"), ("bool", "true"), ("str", "six"), ("float", "2.5"), ("neg", "-1")):
    bad(f"task_subtasks_{tag}", f"task:\n  subtasks: {v}  # <-\n", "task.subtasks")
bad("task_edges_cycle", "task:\n  subtasks: 3\n  edges: [[0, 1], [1, 2], [2, 0]]  # <-\n", "task.edges")
bad("task_edges_range", "task:\n  subtasks: 3\n  edges: [[0, 9]]  # <-\n", "task.edges")
bad("task_edges_bool", "task:\n  subtasks: 3\n  edges: [[true, 1]]  # <-\n", "task.edges")
bad("task_edges_str", "task:\n  edges: abc  # <-\n", "task.edges")
bad("task_edges_self", "task:\n  subtasks: 3\n  edges: [[1, 1]]  # <-\n", "task.edges")
bad("task_dist_name", "task:\n  distribution: paper-9  # <-\n", "task.distribution")
bad("task_dist_extra", "task:\n  distribution: {cycles: 1e9, bytes: 1e6, x: 1}  # <-\n", "task.distribution")
bad("task_dist_unit", "task:\n  distribution: {cycles: 1 parsec, bytes: 1e6}  # <-\n", "task.distribution")
bad("task_dist_inf", "task:\n  distribution: {cycles: {uniform: [0, .inf]}, bytes: 1e6}  # <-\n", "task.distribution")
bad("task_dist_nan", "task:\n  distribution: {cycles: .nan, bytes: 1e6}  # <-\n", "task.distribution")
bad("task_dist_neg", "task:\n  distribution: {cycles: -5, bytes: 1e6}  # <-\n", "task.distribution")
bad("task_dist_form", "task:\n  distribution: {cycles: {gamma: 2}, bytes: 1e6}  # <-\n", "task.distribution")
bad("task_dist_bool", "task:\n  distribution: {cycles: true, bytes: 1e6}  # <-\n", "task.distribution")

# ---------------------------------------------------------------- devices
for tag, v in (("zero", "0"), ("neg", "-1"), ("big", "100001"), ("bool", "true"), ("str", "many"),
               ("float", "1.5"), ("huge", "1.0e+6")):
    bad(f"devices_count_{tag}", f"devices:\n  count: {v}  # <-\n  arrivals: {{periodic: {{interval: 10}}}}\n",
        "devices.count")
bad("devices_cpu_zero_draw", "devices:\n  cpu: {uniform: [0, 0]}  # <-\n  arrivals: {periodic: {interval: 10}}\n",
    "devices.cpu")
bad("devices_cpu_zero", "devices:\n  cpu: 0  # <-\n  arrivals: {periodic: {interval: 10}}\n", "devices.cpu")
bad("devices_cpu_inf", "devices:\n  cpu: .inf  # <-\n  arrivals: {periodic: {interval: 10}}\n", "devices.cpu")
bad("devices_cpu_abc", "devices:\n  cpu: fast  # <-\n  arrivals: {periodic: {interval: 10}}\n", "devices.cpu")
bad("devices_cpu_neg", "devices:\n  cpu: -1 GHz  # <-\n  arrivals: {periodic: {interval: 10}}\n", "devices.cpu")
bad("devices_max_tasks_zero", "devices:\n  max_tasks: 0  # <-\n  arrivals: {periodic: {interval: 10}}\n",
    "devices.max_tasks")
bad("devices_max_tasks_bool", "devices:\n  max_tasks: true  # <-\n  arrivals: {periodic: {interval: 10}}\n",
    "devices.max_tasks")
bad("arrivals_none", "devices:\n  arrivals: {}  # <-\n", "devices.arrivals")
bad("arrivals_two", "devices:\n  arrivals: {poisson: {rate: 1}, periodic: {interval: 1}}  # <-\n", "devices.arrivals")
for tag, v in (("zero", "0"), ("neg", "-1"), ("inf", ".inf"), ("nan", ".nan"), ("abc", "abc"), ("bool", "true")):
    bad(f"poisson_rate_{tag}", f"devices:\n  arrivals:\n    poisson: {{rate: {v}}}  # <-\n", "devices.arrivals.poisson")
bad("poisson_rate_huge", "horizon: 3600\ndevices:\n  arrivals:\n    poisson: {rate: 1.0e+9}  # <-\n", "tasks")
bad("poisson_horizon_huge", "horizon: 1.0e+15  # <-\ndevices:\n  arrivals:\n    poisson: {rate: 1}\n", "horizon")
bad("periodic_horizon_huge", "horizon: 1.0e+15  # <-\ndevices:\n  arrivals:\n    periodic: {interval: 1}\n",
    "horizon")
bad("periodic_tiny_interval", "devices:\n  arrivals:\n    periodic: {interval: 1.0e-9}  # <-\n", "tasks")
bad("subtasks_limit", "horizon: 3600\ntask: {subtasks: 64}\ndevices:\n  count: 50\n"
    "  arrivals:\n    periodic: {interval: 0.005}  # <-\n", "subtasks")
for tag, v in (("zero", "0"), ("neg", "-1"), ("inf", ".inf"), ("abc", "abc")):
    bad(f"periodic_interval_{tag}", f"devices:\n  arrivals:\n    periodic: {{interval: {v}}}  # <-\n",
        "devices.arrivals.periodic")
bad("periodic_offset_neg", "devices:\n  arrivals:\n    periodic: {interval: 1, offset: -1}  # <-\n",
    "devices.arrivals.periodic")
bad("times_unsorted", "devices:\n  arrivals:\n    times: [3, 1]  # <-\n", "devices.arrivals")
bad("times_neg", "devices:\n  arrivals:\n    times: [-1]  # <-\n", "devices.arrivals")
bad("times_nan", "devices:\n  arrivals:\n    times: [.nan]  # <-\n", "devices.arrivals.times")
bad("times_bool", "devices:\n  arrivals:\n    times: [true]  # <-\n", "devices.arrivals.times")
bad("arrivals_unknown", "devices:\n  arrivals:\n    bursty: {rate: 1}  # <-\n", "devices.arrivals.bursty")

# ---------------------------------------------------------------- edge, cloud
for tag, v in (("zero", "0"), ("big", "5000"), ("str", "two"), ("bool", "true"), ("float", "1.5")):
    bad(f"edge_cores_{tag}", f"edge:\n  cores: {v}  # <-\n", "edge.cores")
for tag, v in (("zero", "0"), ("neg", "-1"), ("inf", ".inf"), ("unit", "1 parsec"), ("bool", "false")):
    bad(f"edge_cpu_{tag}", f"edge:\n  cpu: {v}  # <-\n", "edge.cpu")
for tag, v in (("zero", "0"), ("neg", "-1"), ("nan", ".nan"), ("abc", "abc"), ("bool", "true"), ("neginf", "-.inf")):
    bad(f"cloud_cpu_{tag}", f"cloud:\n  cpu: {v}  # <-\n", "cloud.cpu")

# ---------------------------------------------------------------- network
bad("sharing_bad", "network:\n  sharing: lol  # <-\n", "network.sharing")
bad("shared_cell_bad", "network:\n  shared_cell: 3  # <-\n", "network.shared_cell")
for tag, v in (("neg", "-1"), ("inf", ".inf"), ("abc", "abc"), ("bool", "true"), ("neg_const", "{constant: -1}"),
               ("unit", "5 parsecs"), ("two_kinds", "{constant: 1, piecewise: {times_s: [0, 1], rates: [1]}}"),
               ("unknown_kind", "{foo: 1}"), ("empty", "{}"), ("nan_const", "{constant: .nan}")):
    bad(f"wireless_up_{tag}", f"network:\n  wireless:\n    up: {v}  # <-\n", "network.wireless.up")
PW = "network:\n  wireless:\n    up:\n      piecewise: {body}  # <-\n"
for tag, body in (("start", "{times_s: [1, 2], rates: [1]}"), ("decreasing", "{times_s: [0, 2, 1], rates: [1, 2]}"),
                  ("neg_rate", "{times_s: [0, 1], rates: [-1]}"), ("len", "{times_s: [0, 1, 2, 3], rates: [1]}"),
                  ("inf_rate", "{times_s: [0, 1], rates: [.inf]}"), ("nan_time", "{times_s: [0, .nan], rates: [1]}"),
                  ("after", "{times_s: [0, 1], rates: [1], after: sometimes}"), ("empty", "{times_s: [0], rates: []}"),
                  ("bool_rate", "{times_s: [0, 1], rates: [true]}")):
    bad(f"piecewise_{tag}", PW.format(body=body), "network.wireless.up.piecewise")
GM = "network:\n  wireless:\n    up:\n      gauss_markov: {body}  # <-\n"
for tag, body in (("std_neg", "{mean: 1e6, std: -1, tau_s: 5}"), ("both", "{mean: 1e6, std: 1, tau_s: 5, correlation: 0.5}"),
                  ("corr", "{mean: 1e6, std: 1, correlation: 1.5}"), ("step_zero", "{mean: 1e6, std: 1, tau_s: 5, step_s: 0}"),
                  ("tau_inf", "{mean: 1e6, std: 1, tau_s: .inf}"), ("mean_inf", "{mean: .inf, std: 1, tau_s: 5}"),
                  ("missing", "{std: 1, tau_s: 5}"), ("step_tiny", "{mean: 1e6, std: 1e5, tau_s: 5, step_s: 1.0e-7}")):
    bad(f"gauss_markov_{tag}", GM.format(body=body), "gauss_markov")
GE = "network:\n  wireless:\n    up:\n      gilbert_elliott: {body}  # <-\n"
for tag, body in (("dwell_tiny", "{good: 5e6, bad: 1e5, mean_good_s: 1.0e-7, mean_bad_s: 1.0e-7}"),
                  ("dwell_zero", "{good: 5e6, bad: 1e5, mean_good_s: 0, mean_bad_s: 1}"),
                  ("step_big", "{good: 5e6, bad: 1e5, mean_good_s: 1, mean_bad_s: 1, step_s: 5}"),
                  ("good_neg", "{good: -5, bad: 1e5, mean_good_s: 1, mean_bad_s: 1}"),
                  ("dwell_tiny_step", "{good: 5e6, bad: 1e5, mean_good_s: 1.0e-7, mean_bad_s: 1.0e-7, step_s: 1.0e-7}")):
    bad(f"gilbert_{tag}", GE.format(body=body), "gilbert_elliott")
bad("site_wan_steps", "edge:\n  - {name: a, wan: {up: {gauss_markov: {mean: 1e6, std: 1e5, tau_s: 5, step_s: 1.0e-7}}}}"
    "  # <-\n  - {name: b}\n", "bandwidth steps")
bad("site_wan_missing_trace", "edge:\n  - {name: a, wan: {up: {trace: {file: nope.txt, format: pensieve}}}}  # <-\n"
    "  - {name: b}\n", "edge.0.wan.up.trace.file")
bad("gm_many_devices", "devices:\n  count: 100000\n  max_tasks: 1\n  arrivals: {periodic: {interval: 10}}\n"
    "horizon: 3600\nnetwork:\n  wireless:\n    up:\n      gauss_markov: {mean: 1e6, std: 1e5, tau_s: 5}  # <-\n",
    "bandwidth steps")
TR = "network:\n  wireless:\n    up:\n      trace: {body}  # <-\n"
for tag, body in (("missing_file", "{file: traces/nope.txt, format: pensieve}"),
                  ("directory", "{file: traces, format: pensieve}"),
                  ("format", "{file: traces/ok.pensieve, format: wav}"),
                  ("rate_unit", "{file: traces/ok.csv, format: csv, column: rate, rate_unit: furlongs}"),
                  ("time_unit", "{file: traces/ok.csv, format: csv, column: rate, rate_unit: Mbit/s, time_unit: eons}"),
                  ("start_past_end", "{file: traces/ok.pensieve, format: pensieve, start: 1000, loop: false}"),
                  ("start_neg", "{file: traces/ok.pensieve, format: pensieve, start: -1}"),
                  ("start_word", "{file: traces/ok.pensieve, format: pensieve, start: later}"),
                  ("scale_neg", "{file: traces/ok.pensieve, format: pensieve, scale: -1}"),
                  ("scale_inf", "{file: traces/ok.pensieve, format: pensieve, scale: .inf}"),
                  ("scale_bool", "{file: traces/ok.pensieve, format: pensieve, scale: true}"),
                  ("clip", "{file: traces/ok.pensieve, format: pensieve, clip: [5, 1]}"),
                  ("unknown_key", "{file: traces/ok.pensieve, format: pensieve, speed: 2}"),
                  ("csv_no_column", "{file: traces/ok.csv, format: csv, rate_unit: Mbit/s}"),
                  ("5g_column", "{file: traces/ok.csv, format: 5g, column: rate}"),
                  ("offset_inf", "{file: traces/ok.pensieve, format: pensieve, offset: .inf}"),
                  ("file_list", "{file: [a, b], format: pensieve}")):
    bad(f"trace_{tag}", TR.format(body=body), "network.wireless.up")

# ---------------------------------------------------------------- decision, objective, energy, output
bad("decision_time", "decision:\n  time: sometimes  # <-\n", "decision.time")
for tag, v in (("inf", ".inf"), ("neg", "-1"), ("bool", "true"), ("nan", ".nan"), ("abc", "abc")):
    bad(f"decision_cycles_per_op_{tag}", f"decision:\n  cycles_per_op: {v}  # <-\n", "decision.cycles_per_op")
bad("decision_request_neg", "decision:\n  request: -1  # <-\n", "decision.request")
bad("decision_request_inf", "decision:\n  request: .inf  # <-\n", "decision.request")
bad("decision_priority", "decision:\n  priority: maybe  # <-\n", "decision.priority")
for tag, v in (("name", "magic"), ("alpha0", "{ewma: {alpha: 0}}"), ("alpha2", "{ewma: {alpha: 2}}"),
               ("sample0", "{last: {sample_s: 0}}"), ("oracle_param", "{oracle: {alpha: 0.5}}"),
               ("lookback0", "{ewma: {lookback: 0}}"), ("window_bool", "{harmonic: {window: true}}"),
               ("alpha_nan", "{ewma: {alpha: .nan}}"), ("lookback_huge", "{ewma: {lookback: 1000000}}")):
    bad(f"estimator_{tag}", f"decision:\n  estimator: {v}  # <-\n", "decision.estimator")
for tag, v in (("inf", ".inf"), ("neg", "-1"), ("bool", "true"), ("nan", ".nan")):
    bad(f"objective_latency_{tag}", f"objective:\n  latency_weight: {v}  # <-\n", "objective.latency_weight")
bad("objective_both_zero", "objective:  # <-\n  latency_weight: 0\n  energy_weight: 0\n", "objective")
for tag, v in (("inf", ".inf"), ("neg", "-1"), ("bool", "true"), ("str", "tiny")):
    bad(f"energy_kappa_{tag}", f"energy:\n  kappa: {v}  # <-\n", "energy.kappa")
bad("energy_tx_nan", "energy:\n  tx_power: .nan  # <-\n", "energy.tx_power")
bad("energy_tx_unit", "energy:\n  tx_power: 5 parsecs  # <-\n", "energy.tx_power")
bad("execution_dag", "execution:\n  dag: maybe  # <-\n", "execution.dag")
bad("output_format", "output:\n  format: xlsx  # <-\n", "output.format")
bad("output_record", "output:\n  record: {subtasks: maybe}  # <-\n", "output.record.subtasks")

# ---------------------------------------------------------------- policies
bad("policies_empty", "policies: []  # <-\n", "policies")
bad("policies_unknown", "policies:\n  - telepathy  # <-\n", "policies.0")
bad("policies_dup", "policies:  # <-\n  - local\n  - local\n", "policies")
bad("policies_abstract", "policies:\n  - simoffload.policy:Policy  # <-\n", "policies.0")
bad("policies_not_policy", "policies:\n  - os.path:join  # <-\n", "policies.0")
bad("policies_no_module", "policies:\n  - nonexistent_mod_xyz:Thing  # <-\n", "policies.0")
bad("policies_not_list", "policies: local  # <-\n", "policies")
bad("policies_label_int", "policies:\n  - {name: local, label: [1]}  # <-\n", "policies.0.label")
QA = "policies:\n  - name: queue-aware\n    params:\n      {body}  # <-\n"
for tag, body in (("weight_abc", "weight: abc"), ("weight_neg", "weight: -5"), ("weight_inf", "weight: .inf"),
                  ("weight_bool", "weight: true"), ("job_zero", "job_s: 0"), ("job_nan", "job_s: .nan"),
                  ("unknown", "speed: 2"), ("weight_list", "weight: [1]")):
    bad(f"queue_aware_{tag}", QA.format(body=body), "policies.0.params")
bad("greedy_params", "policies:\n  - name: greedy\n    params: {x: 1}  # <-\n", "policies.0.params.x")
bad("exhaustive_too_big", "task: {subtasks: 15}\npolicies:\n  - exhaustive  # <-\n", "policies.0")
LD = "policies:\n  - name: large-dil\n    params: {{{body}}}  # <-\n"
for tag, body in (("n_zero", "n: 0"), ("hidden_zero", "hidden: [0]"), ("epochs_neg", "epochs: -5"),
                  ("lr_nan", "lr: .nan"), ("samples_str", "samples: lots"), ("val_fraction", "val_fraction: 1.5"),
                  ("weights_missing", "weights: nope.pt"), ("weights_dir", "weights: traces"),
                  ("weights_corrupt", "weights: models/corrupt.pt"), ("weights_random", "weights: models/random.pt"),
                  ("weights_truncated", "weights: models/truncated.pt"), ("weights_nan", "weights: models/nan.pt"),
                  ("weights_shape", "weights: models/shape.pt"), ("weights_empty", "weights: models/empty.pt"),
                  ("weights_other_policy", "weights: models/dqn.pt"), ("dist", "distribution: paper-9")):
    bad(f"large_dil_{tag}", LD.format(body=body), "policies.0")
bad("dqn_n", "policies:\n  - name: dqn\n    params: {n: 11}  # <-\n", "policies.0.params.n")
bad("kd_dil_temperature", "policies:\n  - name: kd-dil\n    params: {temperature: 0.5}  # <-\n",
    "policies.0.params.temperature")
bad("kd_dil_teacher_missing", "policies:\n  - name: kd-dil\n    params: {teacher: nope.pt}  # <-\n",
    "policies.0.params.teacher")
bad("large_dil_n_mismatch", "task: {subtasks: 4}\npolicies:\n  - large-dil  # <-\n", "policies.0")

# ---------------------------------------------------------------- sweep
for tag, body in (("path", "sweep:\n  grid: {devices.colour: [1, 2]}  # <-\n"),
                  ("empty_grid", "sweep:  # <-\n  grid: {}\n"),
                  ("empty_list", "sweep:\n  grid:\n    devices.count: []  # <-\n"),
                  ("replicates_zero", "sweep:\n  grid: {devices.count: [1, 2]}\n  replicates: 0  # <-\n"),
                  ("replicates_bool", "sweep:\n  grid: {devices.count: [1, 2]}\n  replicates: true  # <-\n"),
                  ("replicates_huge", "sweep:\n  grid: {devices.count: [1, 2]}\n  replicates: 100000000  # <-\n"),
                  ("zip_unequal", "sweep:\n  zip:  # <-\n    devices.count: [1, 2]\n    edge.cores: [1, 2, 3]\n"),
                  ("sweep_itself", "sweep:\n  grid: {sweep.replicates: [1, 2]}  # <-\n"),
                  ("zip_empty", "sweep:\n  zip: {devices.count: []}  # <-\n"),
                  ("bad_value_zip", "sweep:\n  zip:\n    devices.count: [1,\n      0]  # <-\n"),
                  ("huge_horizon_value", "sweep:\n  grid:\n    horizon: [1.0e+15]  # <-\n"),
                  ("unknown_key", "sweep:\n  grid: {devices.count: [1]}\n  mode: fast  # <-\n"),
                  ("not_mapping", "sweep: [1, 2]  # <-\n"),
                  ("grid_list", "sweep:\n  grid: [1, 2]  # <-\n"),
                  ("quick_bad", "sweep:\n  grid: {devices.count: [1]}\n  quick: {fast: 1}  # <-\n"),
                  ("both", "sweep:\n  grid: {devices.count: [1]}\n  zip: {devices.count: [2]}  # <-\n"),
                  ("points_huge", "sweep:\n  grid:  # <-\n    devices.count: [" + ", ".join(["1"] * 400) + "]\n"
                   "    edge.cores: [" + ", ".join(["1"] * 400) + "]\n"),
                  ("bad_value", "sweep:\n  grid:\n    horizon: [10, -5]  # <-\n"),
                  ("bad_policy_param", "policies: [local, queue-aware]\nsweep:\n  grid:\n"
                   "    policies.1.params: [{weight: abc}]  # <-\n")):
    # a bad value in one sweep point: validate refuses it, run ignores sweep:, sweep fails that point only
    point_only = tag in ("bad_value", "bad_policy_param", "bad_value_zip", "huge_horizon_value")
    bad(f"sweep_{tag}", ("# validate-only\n" if point_only else "") + body, "sweep")

# ---------------------------------------------------------------- YAML itself
bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi"))
bad("alias_bomb_sweep", "name: t\nsweep:\n  " + bomb.replace("\n", "\n  ").rstrip() + "\n", "YAML", base=False)
bad("alias_bomb_params", "name: t\npolicies:\n  - name: queue-aware\n    params:\n      "
    + bomb.replace("\n", "\n      ").rstrip() + "\n", "YAML", base=False)
bad("alias_bomb_top", bomb.rstrip() + "\n", "YAML", base=False)
bad("recursive_alias", "name: t\nx: &x [1, *x]  # <-\n", "YAML", base=False)
bad("deep_flow", "name: t\nsweep: " + "[" * 600 + "]" * 600 + "  # <-\n", "YAML", base=False)
bad("deep_block", "name: t\nsweep:\n" + "".join("  " * (i + 1) + f"k{i}:\n" for i in range(200))
    + "  " * 201 + "v: 1\n", "YAML", base=False)
bad("deep_mapping_flow", "name: t\nsweep: " + "{a: " * 300 + "1" + "}" * 300 + "  # <-\n", "YAML", base=False)
bad("dup_top", "name: a\nname: b  # <-\n", "duplicate key", base=False)
bad("dup_nested", "name: t\nedge:\n  cores: 1\n  cores: 2  # <-\n", "duplicate key", base=False)
bad("dup_flow", "name: t\nedge: {cores: 1, cores: 2}  # <-\n", "duplicate key", base=False)
bad("dup_params", "name: t\npolicies:\n  - name: queue-aware\n    params:\n      weight: 1\n      weight: 2  # <-\n",
    "duplicate key", base=False)
bad("tab_indent", "name: t\nedge:\n\tcores: 1  # <-\n", "YAML", base=False)
bad("unclosed", "name: t\nedge: {cores: 1\n", "YAML", base=False)
bad("bad_indent", "name: t\nedge:\n  cores: 1\n    cpu: 2  # <-\n", "YAML", base=False)
bad("top_list", "- a  # <-\n- b\n", "top level", base=False)
bad("top_scalar", "hello  # <-\n", "top level", base=False)
bad("python_tag", "name: !!python/object/apply:os.system [echo hi]  # <-\n", "YAML", base=False)
bad("custom_tag", "name: !secret x  # <-\n", "YAML", base=False)
bad("two_documents", "name: t\n---  # <-\nname: u\n", "YAML", base=False)
bad("control_char", "name: t\x07  # <-\n", "YAML", base=False)

BINARY = {
    "nul_byte.yaml": (b"# expect: NUL\nname: t\nhorizon: 6\x000  # <-\n"),
    "bad_utf8.yaml": (b"# expect: UTF-8\nname: t\ndescription: \xff\xfe  # <-\n"),
    "empty.yaml": b"",
    "only_comments.yaml": b"# expect: top level\n# nothing here\n",
}

# ---------------------------------------------------------------- trace files
TRACES = {
    "ok.pensieve": "0 1.0\n10 2.0\n20 0.5\n",
    "ok.csv": "time,rate\n0,1.0\n5,2.0\n10,0.5\n",
    "empty.mahimahi": "",
    "garbage.mahimahi": "10\n20\nhello\n30\n",
    "negative.mahimahi": "10\n-5\n",
    "decreasing.mahimahi": "10\n30\n20\n",
    "float.mahimahi": "10\n20.5\n",
    "zero_period.mahimahi": "0\n0\n",
    "huge_number.mahimahi": "10\n" + "9" * 40 + "\n",
    "empty.pensieve": "",
    "one_sample.pensieve": "0 1.0\n",
    "nan.pensieve": "0 1.0\n1 nan\n2 1.0\n",
    "inf_time.pensieve": "0 1.0\ninf 2.0\n",
    "negative.pensieve": "0 1.0\n1 -2.0\n2 1.0\n",
    "unsorted.pensieve": "0 1.0\n5 2.0\n3 1.0\n",
    "three_columns.pensieve": "0 1.0\n1 2.0 3.0\n",
    "garbage.pensieve": "0 1.0\nfoo bar\n",
    "binary.pensieve": "\x00\x01\x02\x03\n",
    "equal_times.pensieve": "5 1.0\n5 2.0\n",
    "nan.csv": "time,rate\n0,1.0\n1,nan_x\n",
    "neg.csv": "time,rate\n0,1.0\n1,-3\n",
    "short_row.csv": "time,rate,x\n0,1.0,1\n1\n",
    "header_only.csv": "time,rate\n",
    "unsorted.csv": "time,rate\n0,1\n5,1\n2,1\n",
}
TRACE_CASES = {  # scenario name -> (trace file, format extra, expected trace line or None)
    "mahimahi_empty": ("empty.mahimahi", "mahimahi", "", 1),
    "mahimahi_garbage": ("garbage.mahimahi", "mahimahi", "", 3),
    "mahimahi_negative": ("negative.mahimahi", "mahimahi", "", 2),
    "mahimahi_decreasing": ("decreasing.mahimahi", "mahimahi", "", 3),
    "mahimahi_float": ("float.mahimahi", "mahimahi", "", 2),
    "mahimahi_zero_period": ("zero_period.mahimahi", "mahimahi", "", 2),
    "mahimahi_huge_number": ("huge_number.mahimahi", "mahimahi", "", 2),
    "pensieve_empty": ("empty.pensieve", "pensieve", "", 1),
    "pensieve_one_sample": ("one_sample.pensieve", "pensieve", "", 1),
    "pensieve_nan": ("nan.pensieve", "pensieve", "", 2),
    "pensieve_inf_time": ("inf_time.pensieve", "pensieve", "", 2),
    "pensieve_negative": ("negative.pensieve", "pensieve", "", 2),
    "pensieve_unsorted": ("unsorted.pensieve", "pensieve", "", 3),
    "pensieve_three_columns": ("three_columns.pensieve", "pensieve", "", 2),
    "pensieve_garbage": ("garbage.pensieve", "pensieve", "", 2),
    "pensieve_binary": ("binary.pensieve", "pensieve", "", 1),
    "pensieve_equal_times": ("equal_times.pensieve", "pensieve", "", 2),
    "csv_nan": ("nan.csv", "csv", ", column: rate, rate_unit: Mbit/s, time_column: time", 3),
    "csv_neg": ("neg.csv", "csv", ", column: rate, rate_unit: Mbit/s, time_column: time", 3),
    "csv_short_row": ("short_row.csv", "csv", ", column: rate, rate_unit: Mbit/s, time_column: time", 3),
    "csv_wrong_column": ("ok.csv", "csv", ", column: nope, rate_unit: Mbit/s", 1),
    "csv_header_only": ("header_only.csv", "csv", ", column: rate, rate_unit: Mbit/s", 1),
    "csv_unsorted": ("unsorted.csv", "csv", ", column: rate, rate_unit: Mbit/s, time_column: time", 4),
}
for name, (f, fmt, extra, line) in TRACE_CASES.items():
    BAD[f"tracefile_{name}"] = (f"# expect-file: traces/{f}:{line}\n" + BASE
                                + f"network:\n  wireless:\n    up: {{trace: {{file: traces/{f}, format: {fmt}{extra}}}}}\n")

# ---------------------------------------------------------------- mobility, association and decision cost files
# (read by the bounded readers: errors name the file's own line, then the scenario line that named it)
SITES = "edge:\n  - {name: a, position: [0, 0]}\n  - {name: b, position: [1000, 0]}\n"
MOB = BASE + SITES + "topology:\n  association: {nearest: true}\n  mobility: {trace: {file: traces/%s%s}}\n"
ASSOC = BASE + SITES + "topology:\n  association: {trace: traces/%s}\n"
COSTS = BASE + "decision: {time: calibrated, costs: traces/%s}\n"
TRACES.update({
    "mob_header.csv": "t,d\n0,0\n",
    "mob_empty.csv": "",
    "mob_x_word.csv": "time,device,x,y\n0,0,0,0\n5,0,abc,0\n",
    "mob_y_nan.csv": "time,device,x,y\n0,0,0,0\n5,0,1,nan\n",
    "mob_short_row.csv": "time,device,x,y\n0,0,0\n",
    "mob_time_neg.csv": "time,device,x,y\n-1,0,0,0\n",
    "mob_device_float.csv": "time,device,x,y\n0,0.5,0,0\n",
    "mob_no_device0.csv": "time,device,x,y\n0,5,0,0\n10,5,1,1\n",
    "mob_quote.csv": 'time,device,x,y\n0,0,"0,0\n',
    "fcd_malformed.xml": '<fcd-export>\n<timestep time="0">\n<vehicle id="v" x="1" y="1">\n</fcd-export>\n',
    "fcd_doctype.xml": ('<?xml version="1.0"?>\n<!DOCTYPE fcd [<!ENTITY a "aaaaaaaaaa">'
                        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>\n<fcd-export><timestep time="0">'
                        '<vehicle id="&b;" x="1" y="1"/></timestep></fcd-export>\n'),
    "fcd_bad_number.xml": '<fcd-export>\n<timestep time="0">\n<vehicle id="v" x="1" y="east"/>\n</timestep>\n</fcd-export>\n',
    "fcd_no_timestep.xml": '<fcd-export>\n<vehicle id="v" x="1" y="1"/>\n</fcd-export>\n',
    "fcd_time_inf.xml": '<fcd-export>\n<timestep time="inf">\n<vehicle id="v" x="1" y="1"/>\n</timestep>\n</fcd-export>\n',
    "fcd_no_vehicle.xml": '<fcd-export>\n<timestep time="0">\n</timestep>\n</fcd-export>\n',
    "assoc_header.csv": "time,device\n0,0\n",
    "assoc_site.csv": "time,device,site\n0,0,a\n5,0,zz\n",
    "assoc_site_index.csv": "time,device,site\n0,0,7\n",
    "assoc_no_zero.csv": "time,device,site\n5,0,a\n",
    "assoc_time_nan.csv": "time,device,site\nnan,0,a\n",
    "costs_dup.yaml": "format: simoffload-decision-costs\nversion: 1\nversion: 1\n",
    "costs_bomb.yaml": ("a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\nb: &b [" + ", ".join(["*a"] * 10) + "]\n"
                        "c: &c [" + ", ".join(["*b"] * 10) + "]\nd: &d [" + ", ".join(["*c"] * 10) + "]\n"
                        "e: &e [" + ", ".join(["*d"] * 10) + "]\nf: [" + ", ".join(["*e"] * 10) + "]\n"),
    "costs_deep.yaml": "format: " + "[" * 100 + "]" * 100 + "\n",
    "costs_nul.yaml": "format: simoffload-decision-costs\nversion: \x001\n",
    "costs_neg.yaml": "format: simoffload-decision-costs\nversion: 1\npolicies:\n  local: {seconds: -1}\n  greedy: {seconds: 0}\n",
    "costs_inf.yaml": "format: simoffload-decision-costs\nversion: 1\ndefault: {ops_per_s: .inf}\n",
    "costs_bool.yaml": "format: simoffload-decision-costs\nversion: 1\ndefault: {seconds: true}\n",
    "costs_list.yaml": "- 1\n- 2\n",
    "costs_empty.yaml": "",
    "costs_tag.yaml": "format: !!python/object:os.system ls\n",
    "costs_unknown.yaml": "format: simoffload-decision-costs\nversion: 1\ndefault: {seconds: 0}\ncolour: blue\n",
    "costs_subtasks.yaml": "format: simoffload-decision-costs\nversion: 1\nsubtasks: 3\ndefault: {seconds: 0}\n",
    "costs_no_entry.yaml": "format: simoffload-decision-costs\nversion: 1\npolicies:\n  local: {seconds: 0}\n",
})
for name, (f, extra, line) in {
    "mob_header": ("mob_header.csv", "", 1), "mob_empty": ("mob_empty.csv", "", 1),
    "mob_x_word": ("mob_x_word.csv", "", 3), "mob_y_nan": ("mob_y_nan.csv", "", 3),
    "mob_short_row": ("mob_short_row.csv", "", 2), "mob_time_neg": ("mob_time_neg.csv", "", 2),
    "mob_device_float": ("mob_device_float.csv", "", 2), "mob_no_device0": ("mob_no_device0.csv", "", 3),
    "mob_quote": ("mob_quote.csv", "", 2),
    "fcd_malformed": ("fcd_malformed.xml", ", format: sumo-fcd", 4),
    "fcd_doctype": ("fcd_doctype.xml", ", format: sumo-fcd", 2),
    "fcd_bad_number": ("fcd_bad_number.xml", ", format: sumo-fcd", 3),
    "fcd_no_timestep": ("fcd_no_timestep.xml", ", format: sumo-fcd", 2),
    "fcd_time_inf": ("fcd_time_inf.xml", ", format: sumo-fcd", 2),
    "fcd_no_vehicle": ("fcd_no_vehicle.xml", ", format: sumo-fcd", 5),
}.items():
    BAD[f"mobility_{name.removeprefix('mob_')}"] = f"# expect-file: traces/{f}:{line}\n" + MOB % (f, extra)
for name, line in (("assoc_header", 1), ("assoc_site", 3), ("assoc_site_index", 2), ("assoc_no_zero", 2),
                   ("assoc_time_nan", 2)):
    BAD[f"association_{name.removeprefix('assoc_')}"] = f"# expect-file: traces/{name}.csv:{line}\n" + ASSOC % f"{name}.csv"
for name, line in (("dup", 3), ("bomb", 6), ("deep", 1), ("nul", 2), ("neg", 4), ("inf", 3), ("bool", 3),
                   ("list", 1), ("empty", 1), ("tag", 1), ("unknown", 4)):
    BAD[f"costs_{name}"] = f"# expect-file: traces/costs_{name}.yaml:{line}\n" + COSTS % f"costs_{name}.yaml"
bad("costs_subtasks", "decision: {time: calibrated, costs: traces/costs_subtasks.yaml}  # <-\n", "3-subtask")
bad("costs_no_entry", "decision: {time: calibrated, costs: traces/costs_no_entry.yaml}  # <-\n", "no entry for policy")
bad("costs_missing_file", "decision: {time: calibrated, costs: traces/nope.yaml}  # <-\n", "decision cost file")
bad("costs_directory", "decision: {time: calibrated, costs: traces}  # <-\n", "decision.costs")
bad("mobility_missing_file", SITES + "topology:\n  association: {nearest: true}\n"
    "  mobility: {trace: {file: traces/nope.csv}}  # <-\n", "mobility trace")
bad("mobility_directory", SITES + "topology:\n  association: {nearest: true}\n"
    "  mobility: {trace: {file: traces}}  # <-\n", "topology.mobility.trace.file")
bad("mobility_trace_tiny_step", SITES + "topology:\n  association: {nearest: true}\n"
    "  mobility: {trace: {file: traces/ok.csv, step: 1.0e-7}}  # <-\n", "mobility_samples")
bad("mobility_rwp_tiny_step", SITES + "topology:\n  association: {nearest: true}\n  mobility:\n"
    "    random_waypoint: {area: [100, 100], speed: [1, 2], step: 1.0e-7}  # <-\n", "random_waypoint.step")
bad("mobility_rwp_fast", SITES + "topology:\n  association: {nearest: true}\n  mobility:\n"
    "    random_waypoint: {area: [1, 1], speed: [1.0e+6, 1.0e+6]}  # <-\n", "random_waypoint.speed")
bad("association_missing_file", SITES + "topology:\n  association: {trace: traces/nope.csv}  # <-\n",
    "association trace")

# ---------------------------------------------------------------- valid edge cases (must run, exit 0)
GOOD = {
    "zero_bandwidth": BASE + "network:\n  wireless:\n    up: 0\n",
    "tiny_bandwidth": BASE + "network:\n  wireless:\n    up: 1.0e-300\n  wan:\n    up: 5.0e-324\n",
    "zero_trace": BASE + "network:\n  wireless:\n    up: {trace: {file: traces/zeros.pensieve, format: pensieve}}\n",
    "zero_mahimahi_gap": BASE + "network:\n  wireless:\n    up: {trace: {file: traces/gap.mahimahi, format: mahimahi}}\n",
    "sparse_mahimahi": BASE + "network:\n  wireless:\n    up: {trace: {file: traces/sparse.mahimahi, format: mahimahi,"
                              " start: random}}\n",
    "many_devices": "name: many\nhorizon: 1\ndevices: {count: 100000, max_tasks: 1, arrivals: {periodic: {interval: 10}}}\n"
                    "policies: [local]\noutput: {record: {subtasks: false, links: false, queues: false}}\n",
    "unicode": "name: 'scénario ✓ 日本'\ndescription: 'données — 测试 🚀'\nhorizon: 60\n"
               "devices: {count: 1, arrivals: {periodic: {interval: 10}}}\npolicies: [local, {name: greedy, label: 'gréedy ✓'}]\n",
    "cloud_inf": BASE + "cloud:\n  cpu: .inf\n",
    "crlf": BASE.replace("\n", "\r\n"),
    "tiny_horizon": "name: t\nhorizon: 1.0e-9\ndevices: {arrivals: {times: [0]}}\npolicies: [local]\n",
    "huge_horizon_times": "name: t\nhorizon: 1.0e+15\ndevices: {arrivals: {times: [0, 1]}}\npolicies: [local]\n",
    "string_numbers": "name: t\nhorizon: 1e2\ndecision: {cycles_per_op: 2e0}\npolicies:\n  - name: queue-aware\n"
                      "    params: {weight: '2e0', job_s: '1e-3'}\n",
    "limits_section": "name: t\nhorizon: 60\ndevices: {arrivals: {periodic: {interval: 10}}}\nlimits: {tasks: 6}\n"
                      "policies: [local]\nsweep: {grid: {seed: [1, 2]}}\n",
    "trace_huge_times": BASE + "network:\n  wireless:\n    up: {trace: {file: traces/huge_time.pensieve, format: pensieve}}\n",
    "piecewise_tiny_period": "name: t\nhorizon: 3600\ndevices: {arrivals: {periodic: {interval: 600}}}\n"
                             "network:\n  wireless:\n    up: {piecewise: {times_s: [0, 1.0e-6, 2.0e-6], "
                             "rates: [1000000, 0], after: loop}}\npolicies: [local]\n",
    "mahimahi_1ms_loop": "name: t\nhorizon: 3600\ndevices: {arrivals: {periodic: {interval: 600}}}\n"
                         "network:\n  wireless:\n    up: {trace: {file: traces/one.mahimahi, format: mahimahi}}\n"
                         "policies: [local]\n",
    "trace_bom_crlf": BASE + "network:\n  wireless:\n    up: {trace: {file: traces/bom_crlf.pensieve, format: pensieve}}\n",
    "merge_key": "base: &b {count: 1, arrivals: {periodic: {interval: 10}}}\n".replace("base", "description") if False
                 else "name: t\nhorizon: 60\ndevices:\n  <<: {count: 1}\n  arrivals: {periodic: {interval: 10}}\n"
                      "policies: [local]\n",
}
GOOD_BINARY = {"bom.yaml": b"\xef\xbb\xbf" + BASE.encode()}
GOOD_TRACES = {
    "zeros.pensieve": "0 0\n1 0\n2 0\n",
    "gap.mahimahi": "1\n5000\n",
    "sparse.mahimahi": "1\n2000000000\n",
    "bom_crlf.pensieve": "\ufeff0 1.0\r\n1 2.0\r\n2 1.0\r\n",
    "one.mahimahi": "1\n",
    "huge_time.pensieve": "0 1.0\n1e300 2.0\n2e300 1.0\n",
}


def main() -> None:
    for sub in ("bad", "good"):
        if (HERE / sub).exists():
            shutil.rmtree(HERE / sub)
    (HERE / "bad" / "traces").mkdir(parents=True)
    (HERE / "good" / "traces").mkdir(parents=True)
    for name, text in BAD.items():
        (HERE / "bad" / f"{name}.yaml").write_bytes(text.encode("utf-8"))
    for name, data in BINARY.items():
        (HERE / "bad" / name).write_bytes(data)
    for name, text in TRACES.items():
        (HERE / "bad" / "traces" / name).write_bytes(text.encode("utf-8"))
    for name, text in GOOD.items():
        (HERE / "good" / f"{name}.yaml").write_bytes(text.encode("utf-8"))
    for name, data in GOOD_BINARY.items():
        (HERE / "good" / name).write_bytes(data)
    for name, text in GOOD_TRACES.items():
        (HERE / "good" / "traces" / name).write_bytes(text.encode("utf-8"))
    print(f"{len(BAD) + len(BINARY)} bad scenario files, {len(TRACES)} trace files, "
          f"{len(GOOD) + len(GOOD_BINARY)} valid edge cases")


if __name__ == "__main__":
    main()
