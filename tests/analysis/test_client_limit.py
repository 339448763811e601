"""libvirt's client limit from hand-built rows: queued and refused appliances told apart,
the behaviour named, and the report section and figure drawn from the same table."""

import numpy as np
import pandas as pd
import pytest
from helpers.rows import store_run, trial

from harness.analysis.client_limit import behaviour, client_limit_table
from harness.plotting.client_limit import connection_waits
from harness.reporting.build import build_report


def limited(n: int, limit: int, reps: int = 2, refuse: bool = False) -> list[dict]:
    """One libvirt cell of N appliances under max_clients=limit: the first `limit` connect at
    once, launch in 28 + i s and close at 30 + i s; the others connect while the first
    closes (or fail)."""
    rows = []
    for r in range(reps):
        for i in range(n):
            fields = dict(cell=f"libvirt/p{n}", backend="libvirt", parallel=n, repetition=r,
                          instance=i, run_id=f"p{n}", libvirt_max_clients=limit,
                          makespan_s=30.0 + n)
            if i < limit:
                rows.append(trial(**fields, connected_s=0.2 + 0.01 * i, launch_s=28.0 + i,
                                  total_s=30.0 + i))
            elif refuse:
                rows.append(trial(**fields, status="error", launch_s=np.nan, total_s=np.nan,
                                  error="libvirt: could not connect to libvirt (code 38)"))
            else:
                rows.append(trial(**fields, connected_s=29.5 + 0.5 * (i - limit),
                                  launch_s=58.0 + i, total_s=60.0 + i))
    return rows


def test_appliances_past_the_limit_are_queued():
    table = client_limit_table(pd.DataFrame(limited(4, 4) + limited(6, 4)))
    at_limit, past = table.iloc[0], table.iloc[1]
    assert (at_limit["n_queued"], past["n_queued"], past["queued_per_rep"]) == (0, 4, 2)
    assert past["queued_wait_median_s"] == pytest.approx(29.75)
    assert at_limit["connect_median_s"] == pytest.approx(0.215)
    assert behaviour(table) == "queued"


def test_refused_appliances_are_counted_and_named():
    table = client_limit_table(pd.DataFrame(limited(4, 4) + limited(6, 4, refuse=True)))
    assert (table.iloc[1]["n_refused"], table.iloc[1]["n_ok"]) == (4, 8)
    assert behaviour(table) == "refused"


def test_below_the_limit_it_is_not_reached_and_without_times_unknown():
    assert behaviour(client_limit_table(pd.DataFrame(limited(4, 4)))) == "not reached"
    rows = [{**r, "connected_s": np.nan} for r in limited(6, 4)]
    assert behaviour(client_limit_table(pd.DataFrame(rows))) == "unknown"


def test_the_report_states_the_behaviour_beside_the_guide(tmp_path):
    run = store_run(tmp_path / "run", limited(4, 4) + limited(6, 4))
    build_report([run], run)
    report = (run / "report.md").read_text()
    assert "out of the box libvirt limits the number of client connections to 20" in report
    assert "With max_clients = 4, this libvirt **queues** connections past the limit" in report
    assert "N = 6: 2 of 6 queued per repetition (median wait 29.8 s), 0 refused" in report
    assert (run / "plots" / "client_limit.png").exists()
    assert len(pd.read_csv(run / "client_limit.csv")) == 2


def test_the_figure_marks_the_limit_and_plots_every_instance():
    rows = pd.DataFrame(limited(4, 4) + limited(6, 4))
    fig = connection_waits(rows, client_limit_table(rows))
    waits, makespan = fig.axes
    assert len(waits.collections[0].get_offsets()) == 20
    assert [line.get_xdata()[0] for line in waits.get_lines()] == [4]
    assert list(makespan.get_lines()[0].get_ydata()) == [34.0, 36.0]
