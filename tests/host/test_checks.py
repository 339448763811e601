"""lgbench-doctor's checks that need no appliance."""

from __future__ import annotations

from types import SimpleNamespace

from harness.cli import doctor
from harness.host import checks, feasibility


def test_parallel_estimate_divides_available_memory(monkeypatch, tmp_path):
    monkeypatch.setattr(checks.psutil, "virtual_memory",
                        lambda: SimpleNamespace(available=10_000 * 2**20))
    check = checks.check_memory(1000, tmp_path)
    per = 1000 + feasibility.OVERHEAD_MIB
    assert f"at most {10_000 // per} at once" in check.evidence
    assert check.verdict == "info"
    assert checks.check_memory(20_000, tmp_path).verdict == "warn"


def test_parallel_estimate_follows_what_appliances_here_were_measured_to_cost(monkeypatch,
                                                                             tmp_path):
    monkeypatch.setattr(checks.psutil, "virtual_memory",
                        lambda: SimpleNamespace(available=10_000 * 2**20))
    feasibility.record_footprint(tmp_path, "tcg/cached/launch/m1000", 350.0)
    feasibility.record_footprint(tmp_path, "libvirt/cached/launch/m1000", 400.0)
    feasibility.record_footprint(tmp_path, "tcg/cached/launch/m512", 900.0)
    check = checks.check_memory(1000, tmp_path)
    assert "500 MiB per appliance at memsize 1000 (measured 400 + 25% margin)" in check.evidence
    assert "at most 20 at once" in check.evidence


def test_missing_cpu_flags_are_a_warning_with_advice(monkeypatch):
    monkeypatch.setattr(checks.accelerator, "cpu_virt_flags", lambda: [])
    check = checks.check_cpu_flags()
    assert check.verdict == "warn" and "bare metal" in check.advice
    monkeypatch.setattr(checks.accelerator, "cpu_virt_flags", lambda: ["vmx"])
    assert checks.check_cpu_flags().verdict == "ok"


def test_missing_uml_is_reported(monkeypatch):
    monkeypatch.setattr(checks.shutil, "which", lambda name: None)
    check = checks.check_uml()
    assert check.verdict == "fail" and "user-mode-linux" in check.advice


def test_render_shows_verdict_evidence_and_advice():
    text = doctor.render([checks.Check("x", "warn", "seen", "do this"),
                          checks.Check("y", "ok", "fine")])
    assert "[WARN] x: seen" in text and "-> do this" in text and "[OK  ] y: fine" in text
