"""Entity id ranges: parsing, uniform draws, files, and one-line errors."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from load.errors import LoadPlanError
from load.ids import IdRanges, read_id_file


def test_ranges_are_parsed_merged_and_counted() -> None:
    ids = IdRanges.parse("1-10000")
    assert ids.count == 10_000
    assert ids.spec == "1-10000"
    merged = IdRanges.parse("20-30, 7, 1-5, 6, 25-40")
    assert merged.ranges == ((1, 7), (20, 40))
    assert merged.spec == "1-7,20-40"
    assert [merged.at(i) for i in (0, 6, 7, 27)] == [1, 7, 20, 40]


@pytest.mark.parametrize("spec", ["", "a-b", "5-1", "0-3", "1-", ",", "1-3,,5", "-4"])
def test_a_bad_spec_is_one_line_naming_it(spec: str) -> None:
    with pytest.raises(LoadPlanError) as caught:
        IdRanges.parse(spec)
    message = str(caught.value)
    assert message.startswith(f"entity ids {spec!r}")
    assert "\n" not in message


def test_draws_are_uniform_over_the_union() -> None:
    ids = IdRanges.parse("1-2,100-101")
    rng = random.Random(1)  # noqa: S311 - test data
    counts = Counter(ids.pick(rng) for _ in range(8000))
    assert set(counts) == {1, 2, 100, 101}
    assert all(1800 < count < 2200 for count in counts.values())
    sample = ids.sample(10, rng)
    assert sorted(sample) == [1, 2, 100, 101], "distinct, and all of them when fewer"


def test_an_id_file_is_folded_into_ranges(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("# ids that exist\n5\n3\n4\n\n900  # the last one\n")
    assert read_id_file(path).spec == "3-5,900"
    path.write_text("5\nsix\n")
    with pytest.raises(LoadPlanError, match=r"line 2: 'six' is not a positive integer id"):
        read_id_file(path)
    path.write_text("# nothing\n")
    with pytest.raises(LoadPlanError, match="lists no id"):
        read_id_file(path)
