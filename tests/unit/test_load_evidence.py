"""Evidence files: two PNGs and a percentile table."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from load.evidence import percentile_table, write_evidence
from tests.unit.load_samples import make_result

PNG = b"\x89PNG\r\n\x1a\n"


def test_plots_and_table_are_written(tmp_path: Path) -> None:
    result = make_result([0.01 + 0.001 * i for i in range(300)], errors=3, directory=tmp_path)
    result = replace(result, samples=tuple((0, 10_000 + i) for i in range(300)))
    evidence = write_evidence(result, tmp_path / "evidence", bound=1.5)
    for png in (evidence.histogram_png, evidence.timeline_png):
        assert png.read_bytes().startswith(PNG)
        assert png.stat().st_size > 10_000
    table = evidence.percentile_table.read_text()
    assert table == percentile_table(result)
    assert "| all | 300 | 3 |" in table
    assert "| HTTP 500 | 3 |" in table
    assert "intended send time" in table
    log = evidence.interval_log.read_text()
    assert log.startswith("#[Histogram log format version 1.2]")
    assert len(log.splitlines()) == 4 + 1, "one histogram per second of intended time"


def test_an_empty_result_still_draws(tmp_path: Path) -> None:
    evidence = write_evidence(make_result([], directory=tmp_path), tmp_path)
    assert evidence.histogram_png.read_bytes().startswith(PNG)
    assert "| all | 0 | 0 | - |" in evidence.percentile_table.read_text()
