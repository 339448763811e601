"""Published figures shipped with lgbench: points and comment lines load together."""

import pytest

from harness.analysis.reference import Reference, available, load_reference


def test_the_2013_figure_has_its_20_points():
    reference = load_reference("parallel-appliances-2013")
    assert isinstance(reference, Reference)
    assert reference.name == "parallel-appliances-2013"
    points = reference.frame
    assert list(points.columns) == ["n_parallel", "seconds", "reading_error_s"]
    assert set(points["reading_error_s"]) == {0.13}  # the plot's character grid
    assert list(points["n_parallel"]) == list(range(1, 21))
    assert points["seconds"].iloc[0] == 3.00
    assert points["seconds"].iloc[-1] == 11.74
    assert points["seconds"].is_monotonic_increasing


def test_the_2013_figure_keeps_its_comment_lines():
    notes = load_reference("parallel-appliances-2013").notes
    assert len(notes) == 4
    assert notes[0].startswith("Published figure: guestfs-performance(1), libguestfs 1.24")
    assert notes[2].startswith("Host: 2-core (4-thread) laptop, 16 GB RAM; bare metal")
    assert "precision about +/-0.13 s" in notes[3]
    assert not any(note.startswith("#") for note in notes)


def test_available_lists_the_shipped_figures():
    assert "parallel-appliances-2013" in available()


@pytest.mark.parametrize("name", ["no-such-figure", "../reference/parallel-appliances-2013",
                                  "parallel-appliances-2013.csv"])
def test_an_unknown_name_is_refused_with_the_known_ones(name):
    with pytest.raises(FileNotFoundError, match="parallel-appliances-2013"):
        load_reference(name)
