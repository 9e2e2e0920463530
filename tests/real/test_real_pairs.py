"""AstrID's subtraction on the real pairs of ../shared/data/real/pairs (skipped without them)."""

import numpy as np
import pytest
import real_pairs  # benchmarks/real_pairs.py (benchmarks/ is on the test path)

pytestmark = pytest.mark.real_data


def test_decam_bright_star_dipole_is_flagged(real_data):
    result = real_pairs.decam(real_data.parents[1])
    assert len(result["dipole"]) >= 1, "no candidate at the known dipole star"
    assert result["dipole"]["is_dipole"].all()
    assert result["dipole"]["dipole_min"].min() <= -5
    # Apart from that star, few candidates: sfft's own difference has 5 peaks ≥ 5σ here.
    assert len(result["table"]) - len(result["dipole"]) <= 10
    assert 0.8 < result["pair"].flux_ratio < 1.3


def test_jwst_pair_subtracts_cleanly(real_data):
    result = real_pairs.jwst(real_data.parents[1])
    assert np.isfinite(result["pair"].result.score_noise)
    assert len(result["table"]) <= 20
