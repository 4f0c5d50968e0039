"""Interval HDR histograms: recorded per second, route and outcome, sent as text, merged
exactly (the merged view is the histogram of the union of every worker's samples)."""

from __future__ import annotations

import random

import pytest

from load.histograms import (
    FAILURE,
    SUCCESS,
    IntervalRecorder,
    MergedHistograms,
    decode,
    encode,
    merge,
    new_histogram,
    summarize,
)
from load.result import to_us


def samples(seed: int, count: int) -> list[float]:
    draws = random.Random(seed)  # noqa: S311 - test data
    return [draws.lognormvariate(-4.0, 1.0) for _ in range(count)]


def test_encode_then_decode_gives_the_same_histogram() -> None:
    histogram = new_histogram()
    for latency in samples(1, 500):
        histogram.record_value(to_us(latency))
    again = decode(encode(histogram))
    assert again.get_total_count() == 500
    assert again.equals(histogram)
    for percentile in (50.0, 95.0, 99.0, 100.0):
        assert again.get_value_at_percentile(percentile) == histogram.get_value_at_percentile(
            percentile
        )


def test_a_histogram_of_another_precision_is_refused() -> None:
    from hdrh.histogram import HdrHistogram  # type: ignore[import-untyped]  # noqa: PLC0415

    other = HdrHistogram(1, 60_000_000, 2)
    other.record_value(1000)
    with pytest.raises(ValueError, match="another precision"):
        decode(other.encode().decode("ascii"))


def test_merged_percentiles_equal_those_of_the_union_of_the_samples() -> None:
    workers = [samples(seed, 700 + 100 * seed) for seed in range(3)]
    merged = MergedHistograms()
    for index, latencies in enumerate(workers):
        recorder = IntervalRecorder()
        for position, latency in enumerate(latencies):
            recorder.record(position // 100, "GET /a", position % 10 != 0, latency)
            if position % 250 == 0:  # deltas, in several reports
                merged.add_all(recorder.drain())
        merged.add_all(reversed(recorder.drain()))  # any order
        assert index >= 0
    union = new_histogram()
    for latencies in workers:
        for latency in latencies:
            union.record_value(to_us(latency))
    everything = merged.histogram()
    assert everything.get_total_count() == sum(map(len, workers))
    for percentile in (50.0, 90.0, 95.0, 99.0, 99.9, 100.0):
        assert everything.get_value_at_percentile(percentile) == union.get_value_at_percentile(
            percentile
        )
    failures = merged.histogram(outcome=FAILURE).get_total_count()
    assert failures == sum(len(latencies[::10]) for latencies in workers)
    assert merged.histogram(outcome=SUCCESS).get_total_count() + failures == len(
        [x for w in workers for x in w]
    )


def test_routes_and_windows_select_their_intervals() -> None:
    recorder = IntervalRecorder()
    for second in range(5):
        recorder.record(second, "GET /a", True, 0.010)
        recorder.record(second, "GET /b", True, 0.500)
    merged = MergedHistograms.from_json([list(row) for row in recorder.drain()])
    assert merged.routes() == ["GET /a", "GET /b"]
    assert merged.seconds() == [0, 1, 2, 3, 4]
    assert merged.histogram(route="GET /b", since=1, until=3).get_total_count() == 2
    summary = summarize(merged.histogram(route="GET /a"))
    assert summary.count == 5
    assert summary.p95 == pytest.approx(0.010, rel=1e-3)
    assert summarize(new_histogram()).count == 0
    assert merge([]).get_total_count() == 0


def test_a_drained_recorder_starts_empty() -> None:
    recorder = IntervalRecorder()
    recorder.record(0, "GET /a", True, 0.001)
    assert len(recorder.drain()) == 1
    assert recorder.drain() == []


def test_an_unknown_outcome_is_refused() -> None:
    with pytest.raises(ValueError, match="outcome"):
        MergedHistograms().add(0, "GET /a", "maybe", encode(new_histogram()))
