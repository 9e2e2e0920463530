"""The starter model: its randomised training triplets, the one normalisation of survey
cutouts, the scorer's answers to bad input, and its registration as the champion of an
empty MLflow store that a site's model replaces only through the gate."""

import gzip
import io

import numpy as np
import pytest

# The tiny synthetic training set and fast settings of the lifecycle tests.
import test_lifecycle
from astropy.io import fits
from test_lifecycle import FAST, NAME

from astrid.realbogus import classifier, lifecycle, randomised, registry, scoring, starter
from astrid.realbogus.survey_cutouts import CutoutError, to_size, triplet

dataset = test_lifecycle.dataset  # its fixture, used here too


def centre_excess(plane, radius=2):
    """Sum of the central (2r+1)² pixels over the noise of such a sum, both from the finite
    pixels farther than 12 px from the centre (median and robust spread)."""
    c = plane.shape[-1] // 2
    yy, xx = np.indices(plane.shape)
    far = plane[(np.hypot(xx - c, yy - c) > 12) & np.isfinite(plane)]
    sky = np.median(far)
    sigma = 1.4826 * np.median(np.abs(far - sky))
    core = plane[c - radius : c + radius + 1, c - radius : c + radius + 1]
    return (np.nansum(core - sky)) / (sigma * (2 * radius + 1))


def kind_samples(kind, n=60, seed=0):
    rng = np.random.default_rng(seed)
    return np.stack([randomised.triplet(kind, rng) for _ in range(n)])


def test_the_same_seed_gives_the_same_triplets_and_both_classes_in_shares():
    a, labels, kinds = randomised.simulate(400, 5)
    b, _, _ = randomised.simulate(400, 5)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (400, 3, 63, 63) and a.dtype == np.float32
    assert 0.4 < labels.mean() < 0.6
    assert set(kinds[labels == 1]) <= set(randomised.REAL_KINDS)
    assert set(kinds[labels == 0]) <= set(randomised.BOGUS_KINDS)


def test_a_new_source_is_in_science_and_difference_and_not_in_the_reference():
    cubes = kind_samples("new_source")
    science = np.array([centre_excess(c[0]) for c in cubes])
    reference = np.array([centre_excess(c[1]) for c in cubes])
    difference = np.array([centre_excess(c[2]) for c in cubes])
    # Drawn at S/N 5-200 in the difference: a clear positive excess at the centre.
    assert np.mean(difference > 3) > 0.9
    assert np.mean(science > 3) > 0.9
    # The reference has nothing there but, now and then, a field star's wing.
    assert np.median(np.abs(reference)) < 2


def test_a_fading_variable_is_a_star_of_the_reference_with_a_negative_difference():
    cubes = kind_samples("variable_fainter")
    assert np.mean([centre_excess(c[1]) > 5 for c in cubes]) > 0.9
    assert np.mean([centre_excess(c[2]) < -2 for c in cubes]) > 0.85


def test_a_cosmic_ray_is_sharp_and_absent_from_the_reference():
    cubes = kind_samples("cosmic_ray")
    c = 63 // 2
    for cube in cubes:
        sigma = 1.4826 * np.nanmedian(np.abs(cube[2] - np.nanmedian(cube[2])))
        peak = cube[2, c - 1 : c + 2, c - 1 : c + 2].max()
        # Drawn at ≥ 8σ of the sky; the difference's spread adds the reference's noise.
        assert peak > 4 * sigma
    assert np.median([abs(centre_excess(cube[1], 1)) for cube in cubes]) < 2


def test_a_misregistered_star_leaves_a_dipole():
    cubes = kind_samples("dipole")
    c = 63 // 2
    both = 0
    for cube in cubes:
        sigma = 1.4826 * np.nanmedian(np.abs(cube[2] - np.nanmedian(cube[2])))
        near = cube[2, c - 6 : c + 7, c - 6 : c + 7]
        both += np.nanmax(near) > 4 * sigma and np.nanmin(near) < -4 * sigma
    # A faint star moved by a fifth of a pixel leaves lobes below 4σ now and then.
    assert both / len(cubes) > 0.7


def test_noise_stamps_have_nothing_at_the_centre():
    cubes = kind_samples("noise")
    # A sum over 25 pixels of pure noise: |excess| beyond 3σ in well under 5 % of stamps
    # (field stars are kept off the centre by two FWHM).
    assert np.mean([abs(centre_excess(c[2])) > 3 for c in cubes]) < 0.1


def test_best_f1_threshold_separates_two_clean_classes():
    labels = np.r_[np.zeros(50), np.ones(50)]
    scores = np.r_[np.linspace(0.0, 0.4, 50), np.linspace(0.6, 1.0, 50)]
    threshold = classifier.best_f1_threshold(labels, scores)
    assert 0.4 < threshold <= 0.6
    assert classifier.evaluate(labels, scores, np.zeros(100), threshold)["f1"] == 1.0


def fits_bytes(image, gzipped=False):
    buffer = io.BytesIO()
    fits.PrimaryHDU(np.asarray(image, np.float32)).writeto(buffer)
    return gzip.compress(buffer.getvalue()) if gzipped else buffer.getvalue()


def test_ztf_differences_are_made_science_minus_template_and_rubin_stamps_padded():
    blob = np.zeros((63, 63))
    blob[31, 31] = 10.0
    ztf = {
        "candidate": {"isdiffpos": "f"},
        "cutoutScience": {"stampData": fits_bytes(blob, True)},
        "cutoutTemplate": {"stampData": fits_bytes(blob, True)},
        "cutoutDifference": {"stampData": fits_bytes(blob, True)},
    }
    cube = triplet(ztf, "ztf packet")
    assert cube.shape == (3, 63, 63) and cube[2, 31, 31] == -10 and cube[0, 31, 31] == 10
    small = np.arange(30 * 30, dtype=float).reshape(30, 30)
    rubin = {key: fits_bytes(small) for key in ("cutoutScience", "cutoutTemplate", "cutoutDifference")}
    cube = triplet(rubin, "rubin packet")
    assert np.isnan(cube[:, 0, 0]).all() and np.isfinite(cube[:, 16:46, 16:46]).all()
    assert cube[0, 16, 16] == small[0, 0] and cube[0, 45, 45] == small[-1, -1]
    assert to_size(np.ones((2, 3, 71, 71))).shape == (2, 3, 63, 63)


def test_a_packet_without_cutouts_or_with_a_broken_one_is_named():
    ok = fits_bytes(np.zeros((63, 63)))
    with pytest.raises(CutoutError, match="ZTF21x.avro 42: the packet has no cutoutTemplate"):
        triplet({"cutoutScience": ok, "cutoutDifference": ok}, "ZTF21x.avro 42")
    broken = {"cutoutScience": ok, "cutoutTemplate": b"not fits", "cutoutDifference": ok}
    with pytest.raises(CutoutError, match="p.avro cutoutTemplate: the cutout is not a readable FITS"):
        triplet(broken, "p.avro")
    empty = {"cutoutScience": ok, "cutoutTemplate": {"stampData": b""}, "cutoutDifference": ok}
    with pytest.raises(CutoutError, match="the cutout is empty"):
        triplet(empty, "p.avro")


@pytest.fixture(scope="module")
def tiny_starter(tmp_path_factory):
    """A starter bundle trained in seconds (few samples, one epoch): enough for the plumbing."""
    import torch

    settings = starter.StarterSettings(n_train=600, n_validation=200, n_test=200, epochs=1, seed=3)
    net, bundle = starter.train_starter(settings, "test", threads=1)
    path = tmp_path_factory.mktemp("starter") / "realbogus-starter.pt"
    torch.save(bundle, path)
    return path


def test_the_scorer_answers_bad_input_with_an_error_or_a_documented_score(tiny_starter):
    net, _ = scoring.load_bundle(tiny_starter)
    cubes, _, _ = randomised.simulate(4, 9)
    with pytest.raises(ValueError, match=r"\(n, 3, h, w\) triplets .* got shape \(4, 2, 63, 63\)"):
        scoring.score_cutouts(net, cubes[:, :2])
    # Another size is cropped or padded with blanks about the centre, as survey stamps are.
    small = cubes[:, :, 16:47, 16:47]
    np.testing.assert_allclose(
        scoring.score_cutouts(net, small), scoring.score_cutouts(net, to_size(small)), rtol=1e-5
    )
    # A blank difference has nothing to call real; a blank science plane is still scored.
    blank = cubes.copy()
    blank[:2, 2] = np.nan
    blank[2:, 0] = np.nan
    scores = scoring.score_cutouts(net, blank)
    assert list(scores[:2]) == [0.0, 0.0] and np.all(np.isfinite(scores[2:]))
    assert scoring.score_cutouts(net, np.zeros((0, 3, 63, 63))).shape == (0,)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    return registry.tracking_uri()


def test_the_starter_becomes_champion_of_an_empty_store_only(tiny_starter, store, tmp_path):
    assert registry.champion_version(store, NAME) is None
    assert starter.register_starter(tiny_starter, NAME, "test") == 1
    version, _ = registry.champion(store, NAME, scoring.ARCHITECTURE)
    assert version == 1
    tags = registry.client(store).get_model_version(NAME, "1").tags
    assert tags["trigger"] == "starter" and tags["gate"] == "promoted"
    # A store with a champion keeps it.
    assert starter.register_starter(tiny_starter, NAME, "test") is None
    assert [row["version"] for row in registry.status(store, NAME)] == [1]
    # What the workflow exports scores as the shipped file does.
    bundle = registry.export_version(store, NAME, 1, tmp_path / "v1.pt")
    net, shipped = scoring.load_bundle(tiny_starter)
    assert bundle["threshold"] == shipped["threshold"] and bundle["model_version"] == 1
    cubes, _, _ = randomised.simulate(8, 1)
    exported, _ = scoring.load_bundle(tmp_path / "v1.pt")
    np.testing.assert_array_equal(scoring.score_cutouts(exported, cubes), scoring.score_cutouts(net, cubes))


def test_a_site_model_replaces_the_starter_only_through_the_gate(tiny_starter, dataset, store):
    starter.register_starter(tiny_starter, NAME, "test")
    strict = lifecycle.LifecycleSettings(model_name=NAME, experiment="test", min_f1_score=1.01)
    rejected = lifecycle.train_and_gate(dataset, FAST, strict, "test")
    assert not rejected["promoted"] and rejected["champion_after"] == 1
    starter_run = registry.champion(store, NAME)[1]
    assert rejected["champion_run_id"] == starter_run != rejected["run_id"]

    settings = lifecycle.LifecycleSettings(model_name=NAME, experiment="test", min_f1_score=0.85)
    site = lifecycle.train_and_gate(dataset, FAST, settings, "test")
    # Compared with the starter on the site's own test split, and better there.
    assert site["champion_before"] == 1 and site["champion_metrics"] is not None
    assert site["metrics"]["f1"] >= max(0.85, site["champion_metrics"]["f1"])
    assert site["promoted"] and site["champion_after"] == site["version"] == 3
    assert site["champion_run_id"] == site["run_id"]
    assert registry.champion_version(store, NAME) == 3


def test_drift_figures_a_starter_cannot_measure_do_not_decide():
    """A starter champion has no pipeline features: its KS figures are NaN, read back from
    JSON as None; the decision judges what was measured and nothing else."""
    from astrid.realbogus.drift import DRIFT_FEATURES, DriftSettings, retraining_decision

    figures = {
        "samples": 500,
        "score_psi": 0.4,
        "fake_recall": None,
        **{f"ks_{n}": None for n in DRIFT_FEATURES},
    }
    retrain, reasons = retraining_decision({"20261127": figures}, ["20261127"], DriftSettings())
    assert retrain and reasons == ["20261127: score PSI 0.400 > 0.25"]
