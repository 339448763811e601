"""guestfs-performance(1) in one place: every claim lgbench checks is quoted in
harness/analysis/guide.py alone, belongs to one study, and is judged by the one module it
names."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

from harness.analysis import guide
from harness.reporting.studies import STUDIES

HARNESS = Path(guide.__file__).parents[1]
CLAIMS = {name: value for name, value in vars(guide).items() if isinstance(value, guide.Claim)}


def sources() -> dict[Path, str]:
    return {path: path.read_text() for path in HARNESS.rglob("*.py")}


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_a_claim_is_quoted_only_in_the_guide_module(name):
    words = CLAIMS[name].words
    fragment = " ".join(words.split()[:6])  # enough to be the guide's, not ordinary prose
    quoting = [path.relative_to(HARNESS) for path, text in sources().items()
               if fragment in " ".join(text.split())]
    assert quoting == [Path("analysis/guide.py")], quoting


@pytest.mark.parametrize("name", sorted(CLAIMS))
def test_a_claim_belongs_to_one_study_is_judged_where_it_says_and_only_quoted_elsewhere(name):
    claim = CLAIMS[name]
    (study,) = [s for s in STUDIES if claim in s.claims]
    judge = importlib.import_module(claim.judged_in)
    named, quoted = re.compile(rf"guide\.{name}\b"), f"guide.{name}.quote()"
    assert named.search(inspect.getsource(judge))
    allowed = {Path(judge.__file__), Path(inspect.getfile(type(study)))}
    for path, text in sources().items():
        if path.name != "guide.py" and path not in allowed:
            assert len(named.findall(text)) == text.count(quoted), path


def test_a_quote_names_the_guide_and_its_section():
    assert guide.PARALLEL.quote() == [
        "> Provided there is enough free memory, there should be little difference in "
        "launching 1 appliance vs N appliances in parallel.",
        "> (guestfs-performance(1), PARALLEL APPLIANCES)"]
