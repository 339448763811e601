"""The guide's four sentences about User-Mode Linux (guestfs-performance(1), USING USER-MODE
LINUX) checked against one run's UML comparison: each with what was measured here and a
verdict: it holds, it does not hold, this run does not settle it, or it cannot be checked on
this host (and why). A verdict needs the ratio's interval (harness.analysis.compare: joint
over the report's comparisons) wholly on one side of the guide's bound.
"""

from __future__ import annotations

import pandas as pd

from harness.analysis import guide
from harness.analysis.guide import (
    FAILS,
    HOLDS,
    SAME_OR_SLIGHTLY_SLOWER,
    UML_TRANSFER_FACTOR,
    UNCHECKABLE,
    UNSETTLED,
)

CLAIMS = {"baremetal": guide.UML_BAREMETAL, "virtualized": guide.UML_VIRTUALIZED,
          "transfer": guide.UML_TRANSFER, "qcow2": guide.UML_QCOW2}
COLUMNS = ("claim", "measured", "verdict")


def _ratio(row: pd.Series) -> str:
    bounded = row["ratio_ci_low"] > 0 and row["ratio_ci_high"] < float("inf")
    ci = (f" (interval {row['ratio_ci_low']:.2f}-{row['ratio_ci_high']:.2f})" if bounded
          else " (too few trials for an interval)")
    return f"{row['ratio']:.2f}x{ci}"


def _within(row: pd.Series, low: float, high: float) -> str:
    """HOLDS when the ratio's interval lies within [low, high], FAILS when wholly outside it
    (an interval the sizes leave unbounded does neither)."""
    if low <= row["ratio_ci_low"] and row["ratio_ci_high"] <= high:
        return HOLDS
    if row["ratio_ci_high"] < low or row["ratio_ci_low"] > high:
        return FAILS
    return UNSETTLED


def _baremetal(launch: pd.Series | None, other: str, accel: str, virt: str) -> tuple[str, str]:
    if accel != "kvm":
        return (f"`{other}` ran under {accel}, not KVM (no usable KVM here)", UNCHECKABLE)
    if virt not in ("none", ""):
        return f"this host is itself a virtual machine ({virt})", UNCHECKABLE
    if launch is None:
        return "no launch measured on both sides", UNSETTLED
    return (f"UML launch {_ratio(launch)} KVM's",
            _within(launch, *SAME_OR_SLIGHTLY_SLOWER))


def _virtualized(launch: pd.Series | None, other: str, accel: str,
                 virt: str) -> tuple[str, str]:
    """One host shows one side of it; under virtualization without KVM, UML should beat
    emulation clearly if it keeps its bare-metal speed."""
    if virt in ("none", ""):
        return "this host is bare metal", UNCHECKABLE
    if launch is None:
        return "no launch measured on both sides", UNSETTLED
    measured = (f"on this virtual machine ({virt}) UML's launch takes {_ratio(launch)} "
                f"`{other}`'s (under {accel}); UML on bare metal needs another host "
                "(lgbench-report over both runs)")
    if accel == "kvm":
        return measured, _within(launch, *SAME_OR_SLIGHTLY_SLOWER)
    return measured, _within(launch, 0.0, 1.0)  # faster than emulation: the guide's point


def _transfer(rows: pd.DataFrame, accel: str) -> tuple[str, str]:
    if rows.empty:
        return "no transfer measured on both sides", UNSETTLED
    largest = rows[rows["size_bytes"] == rows["size_bytes"].max()]
    said = "; ".join(f"{row['metric'].removesuffix('_s')} {_ratio(row)}"
                     for _, row in largest.iterrows())
    size = f"{largest['size_bytes'].iloc[0] / 2**20:g} MiB"
    slowest = largest.loc[largest["ratio"].idxmax()]
    beyond = slowest["ratio_ci_low"] > UML_TRANSFER_FACTOR
    if accel == "kvm":
        verdict = FAILS if beyond else _within(slowest, 0.0, UML_TRANSFER_FACTOR)
        return f"UML/KVM at {size}: {said}", verdict
    if beyond:  # KVM moves data no slower than emulation: against it the gap only grows
        return (f"UML/{accel} at {size}: {said}; KVM transfers no slower than {accel}, so "
                "against KVM the factor is larger still", FAILS)
    return f"UML/{accel} at {size}: {said}; the performance guide compares with KVM", UNCHECKABLE


def _qcow2(trials: pd.DataFrame) -> tuple[str, str]:
    uml = trials[trials["backend"] == "uml"]
    refused = uml[uml["error"].fillna("").str.contains("is qcow2", regex=False)]
    if len(refused):
        return f"{len(refused)} UML trial(s) refused a qcow2 drive: {refused['error'].iloc[0]}", \
            HOLDS
    return ("no qcow2 drive under UML in this run; UML's ubd driver reads raw files and its own "
            "COW files only, and lgbench refuses a qcow2 drive under UML with an `unsupported` "
            "row", HOLDS)


def check_claims(comparison: pd.DataFrame, trials: pd.DataFrame,
                 virtualization: str) -> pd.DataFrame:
    """One row per guide claim: the claim, what this run measured, the verdict.
    `comparison` is UML against the run's other backend (judged compare rows); `virtualization`
    the hypervisor the host runs under (systemd-detect-virt --vm: none on bare metal)."""
    other = comparison["baseline"].iloc[0] if len(comparison) else "the other backend"
    accels = trials.loc[(trials["backend"] == other) & (trials["status"] == "ok"),
                        "accel_effective"].dropna().unique()
    accel = accels[0] if len(accels) == 1 else "unknown"
    launches = comparison[comparison["metric"] == "launch_s"]
    launch = (launches.iloc[0] if len(launches) == 1 else
              next((row for _, row in launches.iterrows() if row["workload"] == "launch"),
                   None))
    transfers = comparison[comparison["metric"].isin(["upload_s", "download_s"])]
    found = {"baremetal": _baremetal(launch, other, accel, virtualization),
             "virtualized": _virtualized(launch, other, accel, virtualization),
             "transfer": _transfer(transfers, accel), "qcow2": _qcow2(trials)}
    return pd.DataFrame([(CLAIMS[key].words, measured, verdict)
                         for key, (measured, verdict) in found.items()], columns=list(COLUMNS))
