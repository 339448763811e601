"""Every capability of lgbench keeps a test that boots a real appliance (issue 29): the map from
capability to that test, in one place. A test renamed, deleted or no longer marked `appliance`
fails here, so making the suite faster can never quietly drop a capability's real proof; logic
is proven beside it on the fake backend and on stored real runs (tests/data/runs/)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

# capability: (test file, the test that proves it on a real appliance)
CAPABILITIES = {
    "launch baseline (TCG, summary, plots)": (
        "test_appliance.py",
        "test_tcg_baseline_writes_rows_summary_and_plots"),
    "KVM detected and reported where it is not usable": (
        "test_appliance.py",
        "test_kvm_probe_gives_a_reasoned_verdict"),
    "backend contract (tcg, libvirt, uml)": (
        "backends/test_contract.py",
        "test_launch_runs_on_the_promised_accel_and_leaves_no_process_behind"),
    "libvirt backend in an interleaved sweep": (
        "test_appliance.py",
        "test_sweep_over_direct_and_libvirt_writes_the_aggregate"),
    "UML launch": (
        "backends/test_uml.py",
        "test_uml_launch_rows_and_nothing_left"),
    "UML transfer": (
        "backends/test_uml.py",
        "test_uml_transfer_workload_uploads_and_downloads_verified"),
    "transfer (upload, download, checksums)": (
        "faults/test_appliance_faults.py",
        "test_a_hypervisor_killed_during_launch_or_transfer_fails_only_its_instance"),
    "appliance types (fixed, fixed_shm, cached_cold)": (
        "test_appliance.py",
        "test_appliance_types_launch"),
    "inspection baseline": (
        "workloads/test_inspect_appliance.py",
        "test_the_inspection_baseline_times_each_step_and_caches"),
    "guests by name (-d domain, direct and libvirt)": (
        "workloads/test_domains_appliance.py",
        "test_domains_are_inspected_by_name_on_direct_and_libvirt"),
    "guest images (synthetic and debootstrapped)": (
        "workloads/test_guests.py",
        "test_the_debootstrapped_debian_is_inspected_with_its_packages"),
    "multi-guest (shared and separate appliances)": (
        "workloads/test_inspect_appliance.py",
        "test_two_cloned_guests_in_one_appliance_or_one_each"),
    "fewer launches (operations strategies)": (
        "workloads/test_operations_appliance.py",
        "test_every_strategy_does_m_operations_with_its_own_launches"),
    "parallel appliances (and the N search)": (
        "test_appliance.py",
        "test_a_sweep_searching_n_adds_a_larger_n_whose_appliances_overlap"),
    "libvirt client limit": (
        "test_appliance.py",
        "test_libvirt_past_its_client_limit_queues_and_tells_instances_apart"),
    "boot timeline": (
        "execution/test_timeline_appliance.py",
        "test_timeline_run_writes_boot_stages"),
    "page cache dropped": (
        "execution/test_page_cache_appliance.py",
        "test_a_cold_page_cache_launch_reads_the_appliance_from_disk"),
    "faults (a hypervisor killed)": (
        "faults/test_appliance_faults.py",
        "test_a_hypervisor_killed_during_launch_or_transfer_fails_only_its_instance"),
    "timeout and Ctrl-C end the appliance": (
        "test_appliance.py",
        "test_ctrl_c_ends_the_running_appliance_and_keeps_rows"),
    "resume": (
        "cli/test_resume.py",
        "test_resume_with_real_appliances_measures_only_the_missing_cell"),
    "search (Optuna)": (
        "backends/test_uml.py",
        "test_a_tiny_search_over_uml_settings_measures_what_it_returns"),
    "submitit_local sweeps": (
        "cli/test_launchers.py",
        "test_submitit_local_sweeps_real_appliances"),
    "SLURM (submitit_slurm on a one-node cluster)": (
        "cli/test_slurm.py",
        "test_a_sweep_of_a_fake_and_a_real_tcg_cell_runs_as_slurm_jobs"),
    "doctor": (
        "test_appliance.py",
        "test_doctor_reports_accelerators_and_parallel_estimate"),
}


@pytest.fixture(scope="module")
def appliance_tests() -> set[str]:
    """The ids of the tests marked `appliance`, parameters dropped, as pytest collects them."""
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q",
                                "-m", "appliance", "-p", "no:cacheprovider", "tests"],
                               cwd=ROOT, capture_output=True, text=True, timeout=120,
                               env={k: v for k, v in os.environ.items()
                                    if k != "PYTEST_ADDOPTS"})  # its -v would change the lines
    return {line.split("[")[0] for line in collected.stdout.splitlines() if "::" in line}


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_every_capability_keeps_a_test_on_a_real_appliance(capability, appliance_tests):
    path, test = CAPABILITIES[capability]
    assert f"tests/{path}::{test}" in appliance_tests, (
        f"{capability}: {path}::{test} is gone or no longer marked appliance")
