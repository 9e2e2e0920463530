"""Real/bogus training data, the CNN's inputs and its figures of merit.

The injections are checked the way production pipelines check them: a fake put into the
science frame before subtraction is detected where it was put, with the flux it was given
within its error. The labelled samples of a frame are made from a seeded aligned pair.
"""

from dataclasses import replace

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from astrid.imaging.detect import DetectSettings, find_candidates
from astrid.imaging.difference import subtract_images
from astrid.imaging.psf import psf_fwhm
from astrid.imaging.reference import Reference
from astrid.io.fitsio import ImageProduct
from astrid.realbogus import classifier, training_set
from astrid.realbogus.inject import InjectionSettings, add_point_sources, fake_fluxes, injection_sites
from astrid.realbogus.training_set import SampleSettings, frame_samples

SIZE = 512


@pytest.fixture(scope="module")
def aligned_pair():
    """A seeded aligned frame and its reference, as the workflow hands them to the stage."""
    from test_difference import render, star_field

    from astrid.imaging.difference import difference_aligned_pair

    rng = np.random.default_rng(7)
    stars = star_field(SIZE, rng)
    ref, ref_var, ref_mask = render(SIZE, stars, 3.0, rng, sky=300.0)
    new, new_var, new_mask = render(SIZE, stars, 3.8, rng, sky=600.0, scale=0.9)
    pair = difference_aligned_pair(ImageProduct(new, new_var, new_mask), ImageProduct(ref, ref_var, ref_mask))
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.0, 2.0]
    wcs.wcs.crpix = [SIZE / 2, SIZE / 2]
    wcs.wcs.cdelt = [-0.5 / 3600, 0.5 / 3600]
    reference = Reference(ref, ref_var, ref_mask, pair.psf_ref, wcs, pair.stars_ref, 25.0, np.sqrt(300.0))
    header = fits.Header(
        {
            "EXPOSURE": "20261127-0001",
            "FWHM": psf_fwhm(pair.psf_new),
            "FLXRATIO": pair.flux_ratio,
            "BKGRMS": np.sqrt(600.0),
            "ALNRMS": 0.02,
        }
    )
    return ImageProduct(new, new_var, new_mask, header), pair.psf_new, reference


def subtract(product, psf, reference):
    h = product.header
    return subtract_images(
        replace(product, psf=psf, background_rms=h["BKGRMS"]),
        reference,
        flux_ratio=h["FLXRATIO"],
        astrometric_sigma=(0.02, 0.02),
        flux_sigma=0.01,
    )


def test_injected_fakes_are_found_where_put_with_the_flux_given(aligned_pair):
    product, psf, reference = aligned_pair
    base = subtract(product, psf, reference)
    rng = np.random.default_rng(3)
    settings = InjectionSettings(per_megapixel=150, snr_min=20, snr_max=20, galaxy_fraction=0)
    sites, _ = injection_sites(base.bad.shape, ~base.bad, Table(), settings, rng)
    flux, snr = fake_fluxes(
        sites,
        base.subtraction.score_std,
        base.subtraction.flux_scale,
        product.header["FLXRATIO"],
        settings,
        rng,
    )
    assert len(sites) >= 25
    data, variance = product.data.copy(), product.variance.copy()
    add_point_sources(data, variance, psf, sites[:, 0], sites[:, 1], flux, rng)
    injected = subtract(ImageProduct(data, variance, product.mask, product.header), psf, reference)
    table, _ = find_candidates(injected, data, reference, fwhm=product.header["FWHM"], exposure="x")
    xy = np.column_stack([table["x"], table["y"]])
    pulls = []
    for (x, y), f in zip(sites, flux / product.header["FLXRATIO"], strict=True):
        distance = np.hypot(*(xy - (x, y)).T)
        best = int(np.argmin(distance))
        assert distance[best] < 1.0, f"fake at ({x:.1f}, {y:.1f}) not found within 1 px"
        pulls.append((table["flux"][best] - f) / table["flux_err"][best])
    pulls = np.asarray(pulls)
    assert np.all(np.abs(pulls) < 4), pulls
    # The mean pull of n fakes is unbiased within 3/sqrt(n); its spread is about one.
    assert abs(pulls.mean()) < 3 / np.sqrt(len(pulls)) + 0.1
    assert 0.5 < pulls.std() < 1.6


def samples_of(aligned_pair, injection, known_xy=()):
    """The labelled samples of the aligned pair: two injection passes, one spoiled pair."""
    product, psf, reference = aligned_pair
    return frame_samples(
        replace(product, psf=psf),
        product.header,
        reference,
        detect_settings=DetectSettings(),
        flux_error=0.01,
        rng=np.random.default_rng(5),
        injection=injection,
        samples=SampleSettings(passes=2, spoiled_passes=1),
        known_xy=known_xy,
    )


def test_a_frame_yields_labelled_samples_of_every_kind(aligned_pair):
    reference = aligned_pair[2]
    table, cutouts = samples_of(
        aligned_pair, InjectionSettings(per_megapixel=120), np.array([[100.0, 100.0]])
    )
    kinds = set(table["kind"])
    assert {"fake", "cosmic_ray", "hot_pixel"} <= kinds
    assert kinds & {"misaligned", "psf_mismatch"}
    assert cutouts.shape == (len(table), 3, 63, 63) and np.isfinite(cutouts).all()
    assert set(table["label"][table["kind"] == "fake"]) == {1}
    assert set(table["label"][table["kind"] != "fake"]) == {0}
    fakes = table[table["kind"] == "fake"]
    assert len(fakes) > 40
    # The measured S/N follows the S/N the fakes were given (their own Poisson noise
    # lowers the bright ones a little).
    ratio = np.median(fakes["snr"] / fakes["injected_snr"])
    assert 0.75 < ratio < 1.15, ratio
    # Nothing is labelled at a known transient.
    assert np.min(np.hypot(table["x"] - 100, table["y"] - 100)) > 3
    # Some fakes brighten a star of the reference (a variable), and are found on it.
    on_star = fakes[fakes["on_star"]]
    assert len(on_star) >= 3 and not (fakes["on_star"] & fakes["on_galaxy"]).any()
    stars = np.column_stack([reference.stars["x"], reference.stars["y"]])
    for row in on_star:
        assert np.min(np.hypot(*(stars - (row["x"], row["y"])).T)) < 1.0


def test_a_frame_too_small_for_artefacts_still_yields_its_fakes(aligned_pair):
    # Injections 1000 px apart: one fake a pass, and no room left for an artefact.
    table, _ = samples_of(aligned_pair, InjectionSettings(min_separation=1000.0, snr_min=30, snr_max=30))
    assert (table["kind"] == "fake").sum() == 2
    assert not set(table["kind"]) & {"cosmic_ray", "hot_pixel", "bad_column"}


def test_splits_hold_whole_frames_and_do_not_depend_on_listing_order():
    frames = [f"2026112{n % 3}-{n:04d}" for n in range(20)]
    splits = training_set.assign_splits(frames, 0.2, 0.2, seed=1)
    again = training_set.assign_splits(frames[::-1], 0.2, 0.2, seed=1)
    assert splits == again
    counts = {name: sum(v == name for v in splits.values()) for name in training_set.SPLITS}
    assert counts == {"train": 12, "validation": 4, "test": 4}
    assert training_set.assign_splits(frames, 0.2, 0.2, seed=2) != splits


def test_normalisation_is_independent_of_flux_scale_and_zero_point():
    rng = np.random.default_rng(0)
    triplets = rng.normal(100, 5, (4, 3, 63, 63)).astype(np.float32)
    triplets[:, :, 31, 31] += 200
    scaled = triplets * 37.0 - 1000.0
    assert np.allclose(classifier.normalise(triplets), classifier.normalise(scaled), atol=1e-4)
    flat = np.zeros((1, 3, 63, 63), np.float32)  # an empty plane is not divided by zero
    assert np.isfinite(classifier.normalise(flat)).all()
    wild = triplets[:1].copy()  # saturated, blank and infinite pixels stay bounded
    wild[0, 0, :3] = np.inf
    wild[0, 1, 5] = 3e38
    wild[0, 2, 7] = np.nan
    out = classifier.normalise(wild)
    assert np.isfinite(out).all() and np.abs(out).max() < 20


def test_roc_auc_equals_the_fraction_of_correctly_ordered_pairs():
    rng = np.random.default_rng(1)
    labels = rng.random(300) < 0.4
    scores = rng.normal(labels * 1.0, 1.0)
    pairs = (scores[labels][:, None] > scores[~labels][None, :]).mean()
    assert classifier.roc_auc(labels, scores) == pytest.approx(pairs)
    assert classifier.roc_auc(labels, labels.astype(float)) == 1.0
    assert classifier.roc_auc(labels, -labels.astype(float)) == 0.0


def test_figures_of_merit_count_what_they_say():
    labels = np.array([1, 1, 1, 1, 0, 0, 0, 0, 0, 0])
    scores = np.array([0.9, 0.8, 0.6, 0.2, 0.7, 0.1, 0.1, 0.1, 0.1, 0.1])
    snr = np.array([6.0, 6.0, 20, 6.0, 6.0, 9, 9, 9, 9, 9])
    m = classifier.evaluate(labels, scores, snr, threshold=0.5)
    assert (m["confusion_tp"], m["confusion_fn"], m["confusion_fp"], m["confusion_tn"]) == (3, 1, 1, 5)
    assert m["fpr"] == pytest.approx(1 / 6) and m["fnr"] == pytest.approx(1 / 4)
    assert m["f1"] == pytest.approx(2 * 0.75 * 0.75 / 1.5)
    # At S/N 6: three real (two called real) and one bogus called real.
    assert m["completeness_snr6"] == pytest.approx(2 / 3) and m["purity_snr6"] == pytest.approx(2 / 3)
    # A model that calls nothing real has no precision, and an F1 of 0 that a gate can compare.
    none_called = classifier.evaluate(labels, np.zeros(10), snr, threshold=0.5)
    assert np.isnan(none_called["precision"]) and none_called["f1"] == 0.0


def test_class_weights_balance_classes_and_kinds():
    labels = np.array([1] * 60 + [0] * 40)
    kinds = np.array(["fake"] * 60 + ["cosmic_ray"] * 36 + ["misaligned"] * 4)
    w = classifier.class_weights(labels, kinds, max_boost=100)
    assert w.mean() == pytest.approx(1.0)
    assert w[labels == 1].sum() == pytest.approx(w[labels == 0].sum())
    assert w[kinds == "cosmic_ray"].sum() == pytest.approx(w[kinds == "misaligned"].sum())


def test_a_job_given_a_gpu_without_cuda_fails_loudly():
    torch = pytest.importorskip("torch")
    assert str(classifier.resolve_device(0)) == "cpu"
    if torch.cuda.is_available():
        assert classifier.resolve_device(1).type == "cuda"
    else:
        with pytest.raises(RuntimeError, match="no CUDA device"):
            classifier.resolve_device(1)


@pytest.mark.parametrize(
    "resources, gpus",
    [
        ({}, 0),
        ({"gpu": 0}, 0),
        ({"gpu": 2}, 2),
        ({"gres": "gpu:a100:3"}, 3),
        ({"gres": "gpu"}, 1),
        ({"gres": "gpu:2"}, 2),
        ({"gres": "tmpdisk:100"}, 0),
        ({"gpu": 1, "gres": "gpu:4"}, 1),
    ],
)
def test_the_gpus_of_a_job_come_from_its_gpu_or_gres_resource(resources, gpus):
    assert classifier.requested_gpus(resources) == gpus


def test_the_operating_threshold_lets_through_at_most_the_target_fraction_of_bogus():
    rng = np.random.default_rng(3)
    labels = np.r_[np.ones(500), np.zeros(1000)]
    scores = np.r_[rng.uniform(0.6, 1, 500), rng.uniform(0, 1, 1000)]
    threshold = classifier.operating_threshold(labels, scores, 0.01)
    assert np.sum(scores[labels == 0] >= threshold) <= 10
    assert np.sum(scores[labels == 0] >= threshold - 1e-3) > 8  # the lowest such threshold
    assert classifier.operating_threshold(labels, np.zeros(1500), 0.01) == 0.5  # never below the floor
