"""The guide's UML sentences checked against a comparison: each verdict needs the ratio's CI
wholly on one side of the performance guide's bound, and says when this host cannot check it."""

from __future__ import annotations

import pandas as pd

from harness.analysis.guide import FAILS, HOLDS, UNCHECKABLE, UNSETTLED
from harness.analysis.uml_claims import check_claims


def comparison(other: str, launch: tuple[float, float, float],
               upload: tuple[float, float, float] | None = None) -> pd.DataFrame:
    rows = [("launch", None, "launch_s", *launch)]
    if upload is not None:
        rows += [("transfer_small", 2**20, "upload_s", 2.0, 1.9, 2.1),
                 ("transfer_small", 64 * 2**20, "upload_s", *upload)]
    frame = pd.DataFrame(rows, columns=["workload", "size_bytes", "metric", "ratio",
                                        "ratio_ci_low", "ratio_ci_high"])
    return frame.assign(baseline=other, candidate="uml")


def trials(other: str, accel: str, uml_error: str | None = None) -> pd.DataFrame:
    return pd.DataFrame({"backend": [other, "uml"], "status": ["ok", "ok"],
                         "accel_effective": [accel, "uml"], "error": [None, uml_error]})


def verdicts(found: pd.DataFrame) -> list[str]:
    return list(found["verdict"])


def test_on_a_virtual_machine_without_kvm_only_what_it_can_show_is_judged():
    """These machines: UML 0.46x TCG's launch, uploads 17.6x slower than TCG's."""
    found = check_claims(comparison("auto", (0.46, 0.44, 0.48), (17.6, 16.0, 19.0)),
                         trials("auto", "tcg"), "kvm")
    assert verdicts(found) == [UNCHECKABLE, HOLDS, FAILS, HOLDS]
    assert "`auto` ran under tcg, not KVM" in found["measured"][0]
    assert "on this virtual machine (kvm) UML's launch takes 0.46x (interval 0.44-0.48)" in \
        found["measured"][1]
    assert "upload 17.60x (interval 16.00-19.00)" in found["measured"][2]
    assert "at 64 MiB" in found["measured"][2] and "larger still" in found["measured"][2]


def test_on_bare_metal_against_kvm_the_bounds_decide():
    same = check_claims(comparison("kvm", (1.1, 1.02, 1.2), (6.0, 5.0, 7.0)),
                        trials("kvm", "kvm"), "none")
    assert verdicts(same) == [HOLDS, UNCHECKABLE, HOLDS, HOLDS]
    slower = check_claims(comparison("kvm", (1.5, 1.4, 1.6), (12.0, 11.0, 13.0)),
                          trials("kvm", "kvm"), "none")
    assert verdicts(slower)[0] == FAILS and verdicts(slower)[2] == FAILS
    straddling = check_claims(comparison("kvm", (1.2, 1.1, 1.4)), trials("kvm", "kvm"), "none")
    assert verdicts(straddling)[0] == UNSETTLED
    assert straddling["measured"][2] == "no transfer measured on both sides"


def test_too_few_trials_settle_nothing_and_tcg_transfers_within_10x_say_why_not():
    found = check_claims(comparison("tcg", (0.9, 0.0, float("inf")),  # too few: unbounded
                                    (5.0, 4.0, 6.0)), trials("tcg", "tcg"), "kvm")
    assert verdicts(found) == [UNCHECKABLE, UNSETTLED, UNCHECKABLE, HOLDS]
    assert "the performance guide compares with KVM" in found["measured"][2]


def test_a_refused_qcow2_drive_is_the_measurement_of_the_last_claim():
    said = "drive /x.img is qcow2: User-Mode Linux can only use raw images"
    found = check_claims(comparison("tcg", (0.9, 0.8, 1.0)), trials("tcg", "tcg", said), "kvm")
    assert found["measured"][3] == f"1 UML trial(s) refused a qcow2 drive: {said}"
    assert verdicts(found)[3] == HOLDS
