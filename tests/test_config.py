"""Every config choice and experiment composes and instantiates; validation; sweep counting."""

from __future__ import annotations

import itertools
from importlib import resources
from pathlib import Path

import pytest
from hydra import compose, initialize_config_module
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.utils import instantiate
from omegaconf import OmegaConf

import harness.cli.run as cli  # registers the structured configs
from harness.appliances.base import Appliance
from harness.backends.base import Backend
from harness.cli.sweep import count_jobs
from harness.config import validate
from harness.plan import cell_label
from harness.workloads.base import Workload

ROOT = Path(__file__).resolve().parent.parent
CONF = ROOT / "conf"
EXPERIMENTS = ROOT / "experiments"


def choices(group: str) -> list[str]:
    return sorted(p.stem for p in (CONF / group).glob("*.yaml"))


@pytest.fixture(autouse=True)
def cache_env(tmp_path, monkeypatch):
    monkeypatch.setenv("LGBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("LGBENCH_RESULTS", str(tmp_path / "results"))


def composed(overrides: list[str], hydra_config: bool = False):
    with initialize_config_module(config_module="harness.conf", version_base="1.3"):
        return compose(config_name="config", overrides=overrides,
                       return_hydra_config=hydra_config)


def fully_resolved(cfg) -> dict:
    """The config as plain data; fails on a missing value or an unresolvable interpolation."""
    node = {k: v for k, v in cfg.items() if k != "hydra"}
    return OmegaConf.to_container(OmegaConf.create(node), resolve=True, throw_on_missing=True)


def test_the_cli_reads_the_packaged_configs_which_are_this_checkouts():
    assert cli.CONF_DIR == "pkg://harness.conf"
    assert Path(str(resources.files("harness.conf"))) == CONF
    assert Path(str(resources.files("harness.experiments"))) == EXPERIMENTS


@pytest.mark.parametrize("group", ["backend", "appliance", "workload"])
def test_every_group_has_choices(group):
    assert choices(group), f"conf/{group}/ has no YAML choice"


@pytest.mark.parametrize("name", choices("backend"))
def test_backend_choice_composes_and_instantiates(name, tmp_path):
    cfg = composed([f"backend={name}"])
    assert validate(cfg) == []
    fully_resolved(cfg)
    backend = instantiate(cfg.backend)  # constructors only record settings
    assert isinstance(backend, Backend)
    assert backend.name == cfg.backend.name == name
    assert backend.accel_requested == cfg.backend.accel
    assert not list(tmp_path.glob("cache/*")), "instantiating a backend touched the cache"


@pytest.mark.parametrize("name", choices("appliance"))
def test_appliance_choice_composes(name, tmp_path):
    cfg = composed(["backend=fake", f"appliance={name}"])
    assert validate(cfg) == []
    resolved = fully_resolved(cfg)
    appliance = instantiate(cfg.appliance)
    assert isinstance(appliance, Appliance) and resolved["appliance"]["dir"] == str(appliance.dir)
    assert appliance.type == cfg.appliance.type
    if appliance.type != "fixed_shm":  # the tmpfs copy lives in /dev/shm by design
        assert str(appliance.dir).startswith(str(tmp_path / "cache")), appliance.dir


def test_cached_cold_is_the_cold_cached_appliance_in_a_folder_of_its_own():
    """Emptying the cold cache must never pull the hot one from under another run."""
    cold, hot = (fully_resolved(composed([f"appliance={name}"]))["appliance"]
                 for name in ("cached_cold", "cached"))
    assert (cold["type"], cold["cache_state"]) == ("cached", "cold")
    assert Path(cold["dir"]).parent == Path(hot["dir"]).parent and cold["dir"] != hot["dir"]


@pytest.mark.parametrize("name", choices("workload"))
def test_workload_choice_composes_and_instantiates(name):
    cfg = composed(["backend=fake", f"workload={name}"])
    assert validate(cfg) == []
    workload = instantiate(cfg.workload)
    assert isinstance(workload, Workload)
    # A preset of a workload (transfer_small) records the workload's own name.
    assert workload.name == cfg.workload.name and name.startswith(workload.name)


def test_default_config_is_the_guide_baseline():
    cfg = composed([])
    assert cfg.backend.name == "auto"
    assert cfg.appliance.type == "cached"
    assert cfg.workload.name == "launch"
    assert validate(cfg) == []


def test_a_typo_in_a_key_fails_at_compose_time():
    with pytest.raises(Exception, match="runz"):
        composed(["backend=fake", "runz=3"])


EXPERIMENT_NAMES = sorted(p.stem for p in EXPERIMENTS.glob("*.yaml"))


def test_there_are_experiments():
    assert EXPERIMENT_NAMES


@pytest.mark.parametrize("name", EXPERIMENT_NAMES)
def test_experiment_composes_with_every_point_of_its_sweep(name):
    cfg = composed([f"experiment={name}"], hydra_config=True)
    assert cfg.experiment_name == name, "results would land in another experiment's folder"
    assert validate(cfg) == []
    fully_resolved(cfg)
    instantiate(cfg.backend)
    params = cfg.hydra.sweeper.params
    params = OmegaConf.to_container(params) if params is not None else {}
    parser = OverridesParser.create()
    axes = [[f"{key}={value}" for value in
             parser.parse_override(f"{key}={values}").sweep_string_iterator()]
            for key, values in params.items()]
    points = list(itertools.product(*axes))
    assert len(points) == count_jobs([f"{k}={v}" for k, v in params.items()])
    for point in points:
        job = composed([f"experiment={name}", *point])
        assert validate(job) == [], point
        fully_resolved(job)
        instantiate(job.backend)
        instantiate(job.workload)


def test_appliance_types_sweeps_all_four_appliances():
    cfg = composed(["experiment=appliance_types"], hydra_config=True)
    swept = cfg.hydra.sweeper.params.appliance.split(",")
    assert sorted(swept) == sorted(choices("appliance"))
    labels = {cell_label(composed(["experiment=appliance_types", f"appliance={a}"]))
              for a in swept}
    assert len(labels) == len(swept), labels


@pytest.mark.parametrize(("override", "names"), [
    ("runs=-1", "runs"),
    ("runs=0", "runs"),
    ("timeout_s=0", "timeout_s"),
    ("timeout_s=-3", "timeout_s"),
    ("warmup=-1", "warmup"),
    ("parallel=0", "parallel"),
    ("parallel_max=-1", "parallel_max"),
    ("memsize=64", "memsize"),
    ("smp=0", "smp"),
    ("backend.accel=hvf", "backend.accel"),
    ("appliance.cache_state=warm", "appliance.cache_state"),
    ("appliance.type=iso", "appliance.type"),
])
def test_validate_names_each_problem(override, names):
    problems = validate(composed(["backend=fake", override]))
    assert len(problems) == 1, problems
    assert problems[0].startswith(names), problems
    assert override.split("=")[1] in problems[0], "the message should quote the bad value"


@pytest.mark.parametrize("override", ["backend.max_clients=0", "backend.max_clients=4294967296",
                                      "backend.max_workers=-1"])
def test_libvirtd_limits_must_be_what_libvirtd_accepts(override):
    problems = validate(composed(["backend=libvirt", override]))
    assert len(problems) == 1 and problems[0].startswith(override.split("=")[0]), problems
    assert "from 1 to 4294967295" in problems[0] and override.split("=")[1] in problems[0]


def test_validate_reports_every_problem_at_once():
    problems = validate(composed(["backend=fake", "runs=-1", "timeout_s=0", "warmup=-1",
                                  "parallel=0"]))
    assert sorted(p.split()[0] for p in problems) == ["parallel", "runs", "timeout_s", "warmup"]


@pytest.mark.parametrize("good", ["runs=1", "warmup=0", "parallel=25", "memsize=128",
                                  "timeout_s=0.5", "backend.accel=kvm"])
def test_validate_accepts_the_boundaries(good):
    assert validate(composed(["backend=fake", good])) == []


@pytest.mark.parametrize(("overrides", "jobs"), [
    ([], 1),
    (["runs=1"], 1),
    (["backend=tcg,libvirt", "runs=1"], 2),
    (["backend=tcg,libvirt", "parallel=1,2,4"], 6),
    (["backend=tcg,libvirt", "backend=tcg"], 1),  # the later override of a key wins
    (["backend=tcg", "backend=tcg,libvirt,uml"], 3),
    (["appliance=cached,cached_cold,fixed,fixed_shm", "runs=3"], 4),
    (["parallel=range(1,5)"], 4),
    (["parallel=choice(1,2)", "memsize=512,1024"], 4),
])
def test_count_jobs(overrides, jobs):
    assert count_jobs(overrides) == jobs


@pytest.mark.parametrize(("overrides", "label"), [
    (["backend=tcg"], "tcg/cached-hot/launch/p1"),
    (["backend=kvm", "appliance=cached_cold"], "kvm/cached-cold/launch/p1"),
    (["backend=libvirt", "appliance=fixed", "parallel=20"], "libvirt/fixed/launch/p20"),
    (["backend=uml", "appliance=fixed_shm"], "uml/fixed_shm/launch/p1"),
    (["backend=tcg", "memsize=512"], "tcg/cached-hot/launch/p1/m512"),
    (["backend=tcg", "smp=2"], "tcg/cached-hot/launch/p1/smp2"),
    (["backend=fake", "parallel=4", "memsize=1024", "smp=2"],
     "fake/cached-hot/launch/p4/m1024/smp2"),
])
def test_cell_label(overrides, label):
    assert cell_label(composed(overrides)) == label


def test_cell_labels_tell_every_backend_and_appliance_apart():
    pairs = list(itertools.product(choices("backend"), choices("appliance")))
    labels = {cell_label(composed([f"backend={b}", f"appliance={a}"])) for b, a in pairs}
    assert len(labels) == len(pairs)


def test_a_cell_label_names_the_words_added_to_the_kernel():
    plain = cell_label(composed(["backend=uml"]))
    lean = cell_label(composed(["backend=uml", "append='pty.legacy_count=0 con=none'"]))
    assert lean == plain + "/append[pty.legacy_count=0,con=none]"


@pytest.mark.parametrize("overrides", [[], ["experiment=baseline_launch"],
                                       ["experiment=inspection_baseline"]])
def test_the_default_run_and_the_baselines_measure_enough_for_a_95_percent_ci(overrides):
    """`make run` ended with "ci_low none" from 5 runs: the median's 95% CI needs 6."""
    from harness.analysis.summary import median_ci

    runs = composed(overrides).runs
    low, high, level = median_ci(list(range(runs)), 0.95)
    assert low == low and high == high and level >= 0.95, (runs, low, high, level)


@pytest.mark.parametrize("name", choices("step"))
def test_every_step_of_assess_composes_into_a_valid_cell(name):
    cfg = composed(["experiment=assess", f"step={name}"])
    assert validate(cfg) == []
    fully_resolved(cfg)


def test_the_parallel_steps_of_assess_follow_the_hosts_cpus():
    import os

    assert composed(["experiment=assess", "step=parallel_cpus"]).parallel == os.cpu_count()
    assert composed(["experiment=assess",
                     "step=parallel_past_cpus"]).parallel == os.cpu_count() + 1
    assert composed(["experiment=assess"]).parallel_max == 4 * os.cpu_count()
