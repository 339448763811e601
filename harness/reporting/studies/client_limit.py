"""libvirt's client limit: what happened to appliances past libvirtd's max_clients (queued or
refused), next to the guide's sentence about it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from harness.analysis import guide
from harness.analysis.client_limit import (
    CLIENT_LIMIT_COLUMNS,
    behaviour,
    client_limit_table,
    has_client_limit,
)
from harness.plotting.client_limit import connection_waits
from harness.reporting.studies.base import Rows, Study
from harness.reporting.text import distinct, markdown_table
from harness.results import store


@dataclass(frozen=True)
class ClientLimit:
    trials: pd.DataFrame
    table: pd.DataFrame  # per cell and N (harness.analysis.client_limit)
    found: str  # queued, refused, both, neither, not reached or unknown
    libvirt: str  # the libvirt versions the runs ran on


class ClientLimitStudy(Study[ClientLimit]):
    name = "client_limit"
    claims = (guide.CLIENT_LIMIT,)

    def applies(self, rows: Rows) -> bool:
        return has_client_limit(rows.trials)

    def analyse(self, rows: Rows, earlier: Mapping[str, Any]) -> ClientLimit:
        table = client_limit_table(rows.trials)
        versions = distinct(m.get("host", {}).get("versions", {}).get("libvirt")
                            for m in rows.metadata if m.get("host"))
        return ClientLimit(rows.trials, table, behaviour(table), versions)

    def files(self, result: ClientLimit) -> dict[str, pd.DataFrame]:
        return {store.CLIENT_LIMIT_FILE: result.table}

    def figures(self, result: ClientLimit) -> dict[str, Any]:
        return {"client_limit.png": connection_waits(result.trials, result.table)}

    def section(self, result: ClientLimit) -> list[str]:
        """The performance guide's sentence, the behaviour found, the table."""
        return ["## libvirt's client limit", "",
                *guide.CLIENT_LIMIT.quote(), "",
                f"libvirt here: {result.libvirt}. {_finding(result.table, result.found)}", "",
                "An appliance counts as queued when libvirtd accepted its connection no earlier "
                "than the first appliance of its repetition had launched (`connected_s`, "
                "seconds from release; only a client that leaves, by closing after its launch, "
                "frees a slot). Times in seconds.", "",
                markdown_table(result.table[list(CLIENT_LIMIT_COLUMNS)], floatfmt=".2f")]


def _finding(table: pd.DataFrame, found: str) -> str:
    past = table[table["parallel"] > table["max_clients"]]
    below = table[table["parallel"] <= table["max_clients"]]
    limit = distinct(table["max_clients"])
    prompt = (f" Up to the limit every connection was accepted within a median "
              f"{below['connect_median_s'].max():.2f} s of release." if len(below) else "")
    if found == "not reached":
        return f"No N above max_clients = {limit} was measured: the limit was never reached."
    if found == "unknown":
        return ("Past the limit, no connection times were recorded (run with timeline=true): "
                "queued and refused appliances cannot be told apart.")
    per_n = "; ".join(
        f"N = {r['parallel']}: {r['queued_per_rep']:g} of {r['parallel']} queued per "
        f"repetition (median wait {r['queued_wait_median_s']:.1f} s), {r['n_refused']} refused, "
        f"{r['n_ok']} of {r['n_instances']} ok" for _, r in past.iterrows())
    verdict = {
        "queued": "**queues** connections past the limit: they wait until an appliance "
                  "closes, none is refused",
        "refused": "**refuses** connections past the limit",
        "both": "**queues some and refuses some** connections past the limit",
        "neither": "neither queued nor refused any connection past the limit: the limit did "
                   "not bind",
    }[found]
    return f"With max_clients = {limit}, this libvirt {verdict}. {per_n}.{prompt}"
