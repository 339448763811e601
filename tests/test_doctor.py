"""lgbench-doctor's checks that need no appliance."""

from __future__ import annotations

from types import SimpleNamespace

from harness import doctor, feasibility


def test_parallel_estimate_divides_available_memory(monkeypatch):
    monkeypatch.setattr(doctor.psutil, "virtual_memory",
                        lambda: SimpleNamespace(available=10_000 * 2**20))
    check = doctor.check_memory(1000)
    per = 1000 + feasibility.OVERHEAD_MIB
    assert f"at most {10_000 // per} at once" in check.evidence
    assert check.verdict == "info"
    assert doctor.check_memory(20_000).verdict == "warn"


def test_missing_cpu_flags_are_a_warning_with_advice(monkeypatch):
    monkeypatch.setattr(doctor.kvm, "cpu_virt_flags", lambda: [])
    check = doctor.check_cpu_flags()
    assert check.verdict == "warn" and "bare metal" in check.advice
    monkeypatch.setattr(doctor.kvm, "cpu_virt_flags", lambda: ["vmx"])
    assert doctor.check_cpu_flags().verdict == "ok"


def test_missing_uml_is_reported(monkeypatch):
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    check = doctor.check_uml()
    assert check.verdict == "fail" and "user-mode-linux" in check.advice


def test_render_shows_verdict_evidence_and_advice():
    text = doctor.render([doctor.Check("x", "warn", "seen", "do this"),
                          doctor.Check("y", "ok", "fine")])
    assert "[WARN] x: seen" in text and "-> do this" in text and "[OK  ] y: fine" in text
