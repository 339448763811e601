"""report.md leads with the answer: a sentence per cell, and KVM's verdict cut to its cause."""

import numpy as np
import pandas as pd
from helpers.rows import noisy, rows, store_run, sweep, trial

from harness.analysis.summary import summarize
from harness.reporting.build import build_report
from harness.reporting.headline import headline_lines, short_kvm_reason

VERDICT = ("a KVM appliance launch failed: guestfs_launch failed. This usually means the "
           "libguestfs appliance failed to start or crashed. Do: export LIBGUESTFS_DEBUG=1 "
           "LIBGUESTFS_TRACE=1 and run the command again. For further information, read: "
           "http://libguestfs.org/guestfs-faq.1.html#debugging-libguestfs | appliance: "
           "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69 / qemu-system-x86_64: "
           "../../target/i386/kvm/kvm.c:3183: kvm_buf_set_msrs: Assertion failed. "
           "(CPU flags: no vmx/svm)")


def test_the_kvm_reason_is_its_cause():
    assert short_kvm_reason(VERDICT) == ("qemu-system-x86_64: error: failed to set MSR 0x10a "
                                         "to 0x69 (CPU flags: no vmx/svm)")
    assert short_kvm_reason("a KVM appliance hung (no answer within 60 s)") == (
        "a KVM appliance hung (no answer within 60 s)")
    assert len(short_kvm_reason("x" * 1000)) == 160
    assert short_kvm_reason(None) == "not probed"


def headline(trials):
    frame = pd.DataFrame(trials)
    meta = [{"backend": {"accel": "tcg", "kvm_verdict": VERDICT}}]
    return headline_lines(summarize(frame), frame, meta)


def test_a_launch_cell_gets_its_median_ci_and_the_guides_expectation():
    lines = headline(rows("tcg", np.linspace(24.0, 26.0, 7)))
    assert lines[0] == ("- `tcg/cached-hot/launch/p1`: launch+close **25 s** (95% CI 24-26 s) "
                        "under TCG, 4.2x the performance guide's 6 s expectation.")
    assert lines[1] == ("- KVM unusable here: qemu-system-x86_64: error: failed to set MSR "
                        "0x10a to 0x69 (CPU flags: no vmx/svm).")


def test_few_trials_say_there_is_no_ci_and_failures_are_counted():
    values = rows("tcg", [10.0, 11.0, 12.0])
    values[-1]["status"] = "error"
    (line, _) = headline(values)
    assert "no 95% CI from 2 values" in line and "1 of 3 trials failed" in line


def test_a_parallel_cell_is_told_by_its_makespan_and_a_failed_cell_says_so():
    parallel = sweep(lambda n, rep: 10.0 + n, ns=(4,), reps=6)
    failed = [trial(cell="uml/cached-hot/launch/p1", backend="uml", status="error",
                    repetition=r) for r in range(2)]
    lines = headline(parallel + failed)
    assert lines[0].startswith("- `tcg/cached-hot/launch/p4`: makespan **14 s** (95% CI")
    assert lines[1] == "- `uml/cached-hot/launch/p1`: no successful trial of 2."


def test_the_report_opens_with_the_headline(tmp_path):
    run = store_run(tmp_path / "run", rows("tcg", noisy(10, 6, 1)))
    build_report([run], run)
    text = (run / "report.md").read_text()
    assert text.splitlines()[2].startswith("- `tcg/cached-hot/launch/p1`: launch+close **")
    assert "guestfs_launch failed" not in text


def test_a_cell_with_work_is_not_called_launch_and_close():
    lines = headline(rows("tcg", [60.0, 61.0, 62.0], workload="operations"))
    assert lines[0].startswith("- `tcg/cached-hot/launch/p1`: launch, work, close **61 s** (no")
    assert "guide's 6 s" not in lines[0]
