"""Bad input refused before Hydra makes a folder: one line naming the key, the value and what
is allowed, for every key a user sets (harness.cli.precheck), and exit 2 from the command."""

import pytest
from helpers.lgbench import run_lgbench_in
from helpers.matrix import record_bad_input

from harness.cli.precheck import problem

# (command line, words the one-line answer must hold): every group, every checked key.
BAD_INPUT = [
    ("backend=nosuch", ["backend=nosuch: no such choice; choices: auto, fake, kvm"]),
    ("appliance=nosuch", ["appliance=nosuch: no such choice", "cached, cached_cold, fixed"]),
    ("workload=nosuch", ["workload=nosuch: no such choice", "launch", "operations"]),
    ("experiment=nosuch", ["experiment=nosuch: no such choice", "parallel_scaling"]),
    ("hydra/launcher=nosuch", ["hydra/launcher=nosuch: no such choice", "submitit_slurm"]),
    ("nosuchkey=3", ["nosuchkey: no such key"]),
    ("rnus=3", ["rnus: no such key (did you mean runs?)"]),
    ("backend=kmv", ["backend=kmv: no such choice (did you mean kvm?); choices: auto, fake"]),
    ("backend=direct_schema", ["backend=direct_schema: no such choice; choices: auto, fake"]),
    ("-m backend=tcg,direct_schema", ["backend=direct_schema: no such choice"]),
    ("workload.sizes=[1]", ["workload.sizes: no such key of workload=launch; "
                            "workload=transfer or transfer_small has it; its keys: name"]),
    ("workload=transfer workload.size=[1]",
     ["workload.size: no such key of workload=transfer (did you mean workload.sizes?)"]),
    ("runs=[1", ["runs=[1: "]),
    ("runs=-1", ["runs must be a whole number from 1, or auto (got -1)"]),
    ("runs=2.5", ["runs must be a whole number from 1, or auto (got 2.5)"]),
    ("runs=many", ["runs", "many"]),
    ("runs=auto precision=0", ["precision is a fraction of the median"]),
    ("runs=auto min_runs=5", ["min_runs must be at least 6", "(got 5)"]),
    ("runs=auto min_runs=8 max_runs=7", ["max_runs (7) must be at least min_runs (8)"]),
    ("runs=auto budget_s=0", ["budget_s must be positive"]),
    ("warmup=-2", ["warmup must be 0 or more (got -2)"]),
    ("warmup=x", ["warmup=x: ", "Integer"]),
    ("parallel=0", ["parallel must be at least 1 (got 0)"]),
    ("parallel_max=-1", ["parallel_max must be 0 (no search) or more (got -1)"]),
    ("timeout_s=0", ["timeout_s must be positive (got 0"]),
    ("memsize=64", ["memsize is in MiB and must be at least 128 (got 64)"]),
    ("memsize=abc", ["memsize=abc: ", "Integer"]),
    ("smp=0", ["smp must be at least 1 (got 0)"]),
    ("page_cache=warm", ["page_cache must be hot or cold (got warm)"]),
    ("backend.accel=hvf", ["backend.accel must be auto, kvm, tcg or uml (got hvf)"]),
    ("appliance.cache_state=warm", ["appliance.cache_state must be hot or cold (got warm)"]),
    ("backend=libvirt backend.max_clients=0", ["backend.max_clients must be from 1", "(got 0)"]),
    ("workload=transfer workload.sizes=[0]", ["workload.sizes must be positive byte counts"]),
    ("workload=transfer workload.sizes=[big]", ["workload.sizes=[big]: ", "Integer"]),
    ("workload=transfer workload.sizes=[1024,1024,4096,4096]",
     ["workload.sizes lists 1024, 4096 more than once"]),
    ("workload=inspect workload.image=linux-lvn",
     ["workload.image: no recipe named 'linux-lvn' (recipes: debian, linux-lvm, no-os, two-os)"]),
    ("workload=inspect workload.domain=g workload.image=linux-lvm", ["both set"]),
    ("workload=operations workload.strategy=x", ["workload.strategy must be one of", "(got x)"]),
    ("workload=operations workload.count=0", ["workload.count must be at least 1 (got 0)"]),
    ("workload=operations workload.image=nosuch", ["workload.image: no recipe named"]),
    ("workload=calls workload.count=0", ["workload.count must be at least 1 (got 0)"]),
    ("workload=multi_guest workload.mode=mixed", ["workload.mode must be one of", "(got mixed)"]),
    ("workload=multi_guest workload.guests=0", ["workload.guests must be at least 1"]),
    ("workload=multi_guest workload.images=[linux-lvm,nosuch]",
     ["workload.images: no recipe named 'nosuch'"]),
    ("backend=tcg backend.hv_wrapper=/nonexistent",
     ["backend.hv_wrapper: will not run /nonexistent: it does not exist"]),
    ("objective=speed", ["objective must be a timed column", "total_s", "(got speed)"]),
    ("objective=upload_s", ["objective=upload_s: workload launch does not record it; it records "
                            "launch_s, total_s, makespan_s"]),
    ("experiment=tune_launch +hydra.sweeper.params.memsze='choice(256,512)'",  # a search space
     ["memsze: no such key (did you mean memsize?)"]),
    ("experiment=tune_launch hydra.sweeper.params.smp='choice(1,0)'",
     ["smp must be at least 1 (got 0)"]),
    ("-m backend=fake,nosuch", ["backend=nosuch: no such choice"]),  # every swept value
    ("-m workload=operations workload.count=1,0", ["workload.count must be at least 1"]),
    ("experiment=tune_launch memsize=int(interval(64,4096))",  # a search's range: both ends
     ["memsize is in MiB and must be at least 128 (got 64)"]),
    ("experiment=tune_launch memsize=interval(256,4096)",  # a float suggested for an int
     ["memsize=256.0: ", "Integer"]),
]


@pytest.mark.parametrize(("line", "words"), BAD_INPUT, ids=[line for line, _ in BAD_INPUT])
def test_every_bad_key_gets_one_line_naming_it(line, words):
    args = line.split()
    backend = [] if any(a.startswith(("backend=", "-m")) for a in args) else ["backend=fake"]
    found = problem([*backend, *args])
    record_bad_input(line, str(found))
    assert found is not None and "\n" not in found, found
    assert "Conf'" not in found, found  # lgbench's words, not its schema classes' names
    for word in words:
        assert word in found, found


@pytest.mark.parametrize("good", ["backend=fake", "-m backend=fake workload.count=1,4 "
                                  "workload=operations", "experiment=fewer_launches",
                                  "experiment=tune_launch memsize=int(interval(256,8192))",
                                  "--help", "backend=fake --cfg job"])
def test_good_input_and_hydras_own_flags_pass(good):
    assert problem(good.split()) is None


@pytest.mark.parametrize("line", ["workload=nosuch", "memsize=64", "-m runs=1,0"])
def test_the_command_exits_2_with_one_line_and_leaves_no_folder(tmp_path, line):
    result = run_lgbench_in(tmp_path, "backend=fake", *line.split(),
                            "hydra.sweep.dir=" + str(tmp_path / "sweep"))
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lgbench: error: "), result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == []


def test_a_slurm_launcher_without_a_controller_is_refused_naming_what_was_tried(monkeypatch,
                                                                               tmp_path):
    """A cluster configuration whose controller port has no one listening."""
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=nobody\nSlurmctldHost=localhost\nSlurmctldPort=9\n"
                    "NodeName=localhost CPUs=1 State=UNKNOWN\nPartitionName=p Nodes=localhost\n")
    monkeypatch.setenv("SLURM_CONF", str(conf))
    found = problem(["-m", "hydra/launcher=submitit_slurm", "backend=fake"])
    record_bad_input("hydra/launcher=submitit_slurm (no controller)", str(found))
    assert found is not None and found.startswith(
        "hydra/launcher=submitit_slurm: no SLURM controller answers `scontrol ping` "
        "(Slurmctld(primary) at "), found
    assert found.endswith(" is DOWN); start one (make cluster-up) or point SLURM_CONF at your "
                          "cluster's slurm.conf") and "\n" not in found
