"""guestfs-performance(1) in one place: each expectation and claim lgbench measures, in the
guide's words (quoted here and nowhere else), the section that says it, the bound lgbench holds
measurements to, and the one module that judges it. Reports quote a claim with `quote`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Claim:
    section: str  # the guide's heading the words are under
    words: str  # quoted from the guide
    judged_in: str  # the one module that holds measurements against it

    def quote(self) -> list[str]:
        """The claim as report.md quotes it: the words, then where the guide says them."""
        return [f"> {self.words}", f"> (guestfs-performance(1), {self.section})"]

    def short(self) -> str:
        """The claim's first words, for a one-line list."""
        return self.words if len(self.words) <= 72 else self.words[:69].rstrip() + "..."


# What a run says of a claim: the one wording of every verdict on the guide.
HOLDS, FAILS, UNSETTLED, UNCHECKABLE = ("holds", "does not hold", "not settled by this run",
                                        "cannot be checked here")


@dataclass(frozen=True)
class Expectation:
    """A claim held against one run: its verdict (HOLDS, FAILS, UNSETTLED, UNCHECKABLE) and
    what was measured, or why it cannot be."""

    claim: Claim
    verdict: str
    measured: str

    def line(self) -> str:
        return f'"{self.claim.short()}": {self.verdict}: {self.measured}'


LAUNCH = Claim("BASELINE: STARTING THE APPLIANCE",
               "You should expect to be getting times under 6 seconds.",
               "harness.reporting.studies.launch")
LAUNCH_UNDER_S = 6.0

INSPECTION = Claim("BASELINE: PERFORMING INSPECTION OF A GUEST",
                   "You should expect times which are ≤ 5 seconds greater than measured in the "
                   "first baseline test above.",
                   "harness.reporting.studies.inspection")
INSPECTION_EXTRA_S = 5.0

FIXED_APPLIANCE = Claim("USING A FIXED APPLIANCE",
                        "In our testing we did not find that using a fixed appliance gave any "
                        "measurable performance benefit, even when the appliance was located in "
                        'memory (ie. on "/dev/shm").',
                        "harness.reporting.studies.appliances")

FEWER_LAUNCHES = Claim("REDUCING THE NUMBER OF TIMES THE APPLIANCE IS LAUNCHED",
                       "By far the most effective, though not always the simplest way to get "
                       "good performance is to ensure that the appliance is launched the minimum "
                       "number of times.",
                       "harness.reporting.studies.operations")

PARALLEL = Claim("PARALLEL APPLIANCES",
                 "Provided there is enough free memory, there should be little difference in "
                 "launching 1 appliance vs N appliances in parallel.",
                 "harness.reporting.studies.parallel")
# The guide gives no number for "little difference": lgbench reads it as a makespan of N
# appliances at most 1.25 times one appliance's (efficiency T(1)/T(N) of at least 0.8).
LITTLE_DIFFERENCE = 1.25

CLIENT_LIMIT = Claim("PARALLEL APPLIANCES",
                     "It is possible to run many more than 20 appliances in parallel, but if you "
                     "are using the libvirt backend then you should be aware that out of the box "
                     "libvirt limits the number of client connections to 20.",
                     "harness.reporting.studies.client_limit")

UML = "USING USER-MODE LINUX"
UML_BAREMETAL = Claim(UML, "UML usually performs the same or slightly slower than KVM, on "
                      "baremetal.", "harness.analysis.uml_claims")
UML_VIRTUALIZED = Claim(UML, "UML often performs the same under virtualization as it does on "
                        "baremetal, whereas KVM can run much slower under virtualization.",
                        "harness.analysis.uml_claims")
UML_TRANSFER = Claim(UML, "Upload and download is as much as 10 times slower on UML than KVM.  "
                     "Libguestfs sends this data over the UML emulated serial port, which is far "
                     "less efficient than KVM's virtio-serial.", "harness.analysis.uml_claims")
UML_QCOW2 = Claim(UML, "UML lacks some features (eg. qcow2 support).",
                  "harness.analysis.uml_claims")
# "the same or slightly slower": UML's launch within 0.8x..1.25x of KVM's.
SAME_OR_SLIGHTLY_SLOWER = (0.8, 1.25)
UML_TRANSFER_FACTOR = 10.0  # "as much as 10 times slower"
