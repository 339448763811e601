"""The studies a report is made of, in the order report.md shows them and analyses them (a
study may read the results of those before it: UML's stage table reads the boot stages).
Adding a study is one module here and one line below."""

from harness.reporting.studies.appliances import ApplianceStudy
from harness.reporting.studies.base import Study
from harness.reporting.studies.boot import BootStudy
from harness.reporting.studies.client_limit import ClientLimitStudy
from harness.reporting.studies.comparison import ComparisonStudy
from harness.reporting.studies.inspection import InspectionStudy
from harness.reporting.studies.launch import LaunchBaseline
from harness.reporting.studies.multi_guest import MultiGuestStudy
from harness.reporting.studies.operations import OperationsStudy
from harness.reporting.studies.parallel import ParallelStudy
from harness.reporting.studies.shim import ShimStudy
from harness.reporting.studies.transfer import TransferStudy
from harness.reporting.studies.uml import UmlStudy

STUDIES: tuple[Study, ...] = (
    LaunchBaseline(),
    TransferStudy(),
    ParallelStudy(),
    ClientLimitStudy(),
    BootStudy(),
    UmlStudy(),
    ShimStudy(),
    InspectionStudy(),
    MultiGuestStudy(),
    OperationsStudy(),
    ApplianceStudy(),
    ComparisonStudy(),
)
