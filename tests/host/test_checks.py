"""lgbench-doctor's checks that need no appliance."""

from __future__ import annotations

from types import SimpleNamespace

from harness.cli import doctor
from harness.host import checks, feasibility


def test_parallel_estimate_divides_available_memory(monkeypatch):
    monkeypatch.setattr(checks.psutil, "virtual_memory",
                        lambda: SimpleNamespace(available=10_000 * 2**20))
    check = checks.check_memory(1000)
    per = 1000 + feasibility.OVERHEAD_MIB
    assert f"at most {10_000 // per} at once" in check.evidence
    assert check.verdict == "info"
    assert checks.check_memory(20_000).verdict == "warn"


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
