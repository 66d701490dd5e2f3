"""What a dataset's first N images cost to render, from the runs its manifest records."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scenesmith.pipeline import index_ranges, wall_seconds


def test_runs_below_count_count_whole_and_a_straddling_run_counts_in_part() -> None:
    manifest = {
        "count": 240,
        "wall_runs": [
            {"images": [[0, 100]], "wall_s": 800.0},
            {"images": [[100, 140]], "wall_s": 400.0},  # 20 of its 40 images are below 120
            {"images": [], "wall_s": 2.0},  # rewrote the labels only
            {"images": [[140, 240]], "wall_s": 900.0},
        ],
    }
    assert wall_seconds(manifest, 120) == pytest.approx(800 + 200 + 2)
    assert wall_seconds(manifest, 240) == pytest.approx(2102)
    assert wall_seconds(manifest) == pytest.approx(2102)


def test_a_manifest_with_only_a_total_shares_it_among_its_images() -> None:
    assert wall_seconds({"count": 240, "wall_s": 1200.0}, 120) == pytest.approx(600)
    assert wall_seconds({"count": 240, "wall_s": 1200.0}) == pytest.approx(1200)


def test_a_manifest_without_wall_time_falls_back_to_stage_timings() -> None:
    assert wall_seconds({"count": 3, "timings_s": {"render": 5.0, "write": 1.0}}, 2) == pytest.approx(6)


@given(st.sets(st.integers(0, 300)))
def test_index_ranges_cover_exactly_the_indices(indices: set[int]) -> None:
    ranges = index_ranges(sorted(indices))
    assert [i for start, stop in ranges for i in range(start, stop)] == sorted(indices)
    assert all(earlier[1] < later[0] for earlier, later in itertools.pairwise(ranges))  # maximal runs
