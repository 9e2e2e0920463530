"""Calibration measured against the simulation's truth.

The simulated camera has a 15 % vignetting, 1 % pixel-response variation, a dead column, hot
pixels, a 2-D bias structure, a bias level drifting along rows, dark frames of 300 s for
science frames of 60 s, and cosmic rays: a calibration that gets any of these wrong fails
one of the figures below.
"""

import astroscrappy
import numpy as np
import pytest
from astropy.io import fits
from nights import rows_of
from scipy.ndimage import binary_dilation

import astrid
from astrid.calibrate.lacosmic import detect_cosmic_rays
from astrid.calibrate.masters import clip_combine, make_master_bias, make_master_dark, make_master_flat
from astrid.calibrate.raw import CalibrationError, CalibrationSettings, overscan_and_trim, read_raw, section
from astrid.calibrate.science import calibrate_science, find_cosmic_rays, sky_statistics
from astrid.io import maskbits
from astrid.realbogus.evaluate import sky_pulls, sky_uniformity
from astrid.sim.camera import SKY_RATE
from astrid.sim.scene import render_scene

SETTINGS = CalibrationSettings()


@pytest.fixture(scope="module")
def calibrated(small_night):
    manifest = small_night.ingest().manifest
    bias = make_master_bias(rows_of(manifest, "bias"), SETTINGS)
    dark = make_master_dark(rows_of(manifest, "dark"), bias, SETTINGS)
    flat = make_master_flat(rows_of(manifest, "flat", "r"), bias, dark, SETTINGS)
    frames = {}
    for row in rows_of(manifest, "science"):
        product, wcs_header, stats = calibrate_science(row, bias, dark, flat, SETTINGS)
        frames[row["exposure"]] = (product, wcs_header, stats, row)
    return {"bias": bias, "dark": dark, "flat": flat, "frames": frames}


def empty_sky(small_night, exposure, product):
    """Unmasked pixels where the truth has less than 1 % of the sky noise from any source."""
    truth = small_night.truth["SOURCES"]
    sources = truth[truth["exposure"] == exposure]
    fwhm = float(small_night.frame_truth(exposure)["fwhm_px"])
    scene = render_scene(product.data.shape, sources, fwhm, small_night.plan.moffat_beta)
    # The master flat is normalised to 1 in the central half of the frame, so calibrated
    # frames are on the scale of the detector's central response: the expected sky is the
    # true sky times the true flat's central median (the zero point absorbs this factor).
    true_flat = small_night.maps.flat["r"]
    ny, nx = true_flat.shape
    scale = np.median(true_flat[ny // 4 : 3 * ny // 4, nx // 4 : 3 * nx // 4])
    sky_e = SKY_RATE["r"] * small_night.plan.science_exptime * scale
    return (scene < 0.01 * np.sqrt(sky_e)) & (product.mask == 0), sky_e


def test_master_flat_recovers_the_true_flat(calibrated, small_night):
    true_flat = small_night.maps.flat["r"]
    true_flat = true_flat / np.median(true_flat[256:768, 256:768])
    good = calibrated["flat"].mask == 0
    ratio = calibrated["flat"].data[good] / true_flat[good]
    # Five 25 000 e- flats: 0.3 % noise per pixel; the vignetting (15 %) must be gone.
    assert abs(np.median(ratio) - 1) < 1e-3
    assert np.std(ratio) < 0.005
    assert (calibrated["flat"].mask[:, small_night.camera.bad_column] & maskbits.BAD).all()


def test_master_dark_is_a_rate_that_finds_hot_pixels(calibrated, small_night):
    true_rate = small_night.maps.dark_rate
    hot = small_night.maps.hot_pixels
    measured = calibrated["dark"].data
    sigma = np.sqrt(calibrated["dark"].variance)
    pulls = (measured[hot] - true_rate[hot]) / sigma[hot]
    assert abs(np.median(pulls)) < 0.5
    flagged = (calibrated["dark"].mask & maskbits.HOT) != 0
    above = true_rate > SETTINGS.hot_pixel_rate * 1.5
    assert flagged[above].all()
    assert flagged.sum() <= hot.sum()


def test_flat_fielded_sky_is_uniform_to_half_a_percent(calibrated, small_night):
    for exposure, (product, _, _, _) in calibrated["frames"].items():
        sky, _ = empty_sky(small_night, exposure, product)
        spread = sky_uniformity(product.data, sky)
        assert spread < 0.005, f"{exposure}: sky varies by {spread:.2%} across the frame"


def test_variance_plane_predicts_the_noise_of_empty_sky(calibrated, small_night):
    for exposure, (product, _, stats, _) in calibrated["frames"].items():
        sky, sky_e = empty_sky(small_night, exposure, product)
        mean, std = sky_pulls(product.data, product.variance, sky, sky_e)
        assert sky.sum() > 100_000
        assert abs(mean) < 0.02, "the sky level is biased (bias, dark or flat wrong)"
        assert std == pytest.approx(1.0, abs=0.05)
        assert stats["pull_std"] == pytest.approx(1.0, abs=0.05)


def test_cosmic_rays_are_masked_and_stars_are_not(calibrated, small_night):
    cosmic_total = cosmic_found = star_total = star_flagged = 0
    for exposure, (product, _, _, _) in calibrated["frames"].items():
        is_cr = (product.mask & maskbits.COSMIC_RAY) != 0
        ys, xs = small_night.cosmic_pixels(exposure)
        injected = np.zeros(product.data.shape, bool)
        injected[ys, xs] = True
        cosmic_total += injected.sum()
        cosmic_found += is_cr[injected].sum()
        # Star pixels: > 5σ of sky noise in the noiseless image, not saturated or bad, and
        # more than 3 px from an injected cosmic ray (L.A.Cosmic flags a ray's neighbours and
        # the mask is grown by one more pixel, so a ray crossing a star masks that much).
        sky_sigma = np.sqrt(SKY_RATE["r"] * small_night.plan.science_exptime)
        stars = small_night.point_source_image(exposure) > 5 * sky_sigma
        stars &= (product.mask & ~np.uint16(maskbits.COSMIC_RAY)) == 0
        stars &= ~binary_dilation(injected, iterations=3)
        star_total += stars.sum()
        star_flagged += is_cr[stars].sum()
    assert cosmic_total > 300
    assert cosmic_found / cosmic_total >= 0.95
    assert star_total > 1000
    assert star_flagged / star_total < 0.001


def test_saturated_stars_are_masked(calibrated, small_night):
    for exposure, (product, _, stats, _) in calibrated["frames"].items():
        sources = small_night.truth["SOURCES"]
        sources = sources[(sources["exposure"] == exposure) & (sources["kind"] == "star")]
        brightest = sources[np.argmax(sources["flux_e"])]
        y, x = int(round(brightest["y"])), int(round(brightest["x"]))
        assert stats["n_saturated_pixels"] > 0
        assert product.mask[y, x] & maskbits.SATURATED


def test_calibrated_frame_keeps_the_header_wcs(calibrated):
    for product, wcs_header, _, _ in calibrated["frames"].values():
        assert wcs_header["CTYPE1"] == "RA---TAN"
        assert wcs_header["CRPIX1"] == pytest.approx(product.data.shape[1] / 2 + 0.5)


def test_master_needs_min_frames(small_night):
    manifest = small_night.ingest().manifest
    with pytest.raises(CalibrationError, match="calibration.min_frames = 6"):
        make_master_bias(rows_of(manifest, "bias"), CalibrationSettings(min_frames=6))


def test_flat_of_another_band_is_refused(calibrated, small_night):
    manifest = small_night.ingest().manifest
    row = rows_of(manifest, "science")[0].copy()
    row["band"] = "g"
    with pytest.raises(CalibrationError, match="master flat is for r"):
        calibrate_science(row, calibrated["bias"], calibrated["dark"], calibrated["flat"], SETTINGS)


def test_overscan_removes_a_row_dependent_bias_level():
    rng = np.random.default_rng(3)
    rows = 1000.0 + 5.0 * np.sin(np.arange(400) / 40.0)
    raw = rows[:, None] + rng.normal(0, 3, (400, 140))
    corrected, trim = overscan_and_trim(raw, "[111:140,1:400]", "[1:100,1:400]", 15)
    assert corrected.shape == (400, 100)
    row_means = corrected.mean(axis=1)
    # Per-row residual: read noise of 100 pixels (0.3) plus the smoothed overscan's error.
    assert np.std(row_means) < 0.6
    assert abs(corrected.mean()) < 0.1


def test_section_outside_the_frame_is_a_clear_error():
    with pytest.raises(CalibrationError, match="outside the frame"):
        section("[1:300,1:100]", (100, 200))


def test_clip_combine_rejects_a_cosmic_ray_among_five_frames():
    stack = np.zeros((5, 2, 2))
    stack[2, 0, 0] = 1000.0
    mean, var, n_used = clip_combine(stack, np.ones_like(stack), 5.0)
    assert mean[0, 0] == 0.0
    assert n_used[0, 0] == 4 and n_used[1, 1] == 5
    assert var[1, 1] == pytest.approx(1 / 5)


def test_provenance_is_written(tmp_path, calibrated):
    from astrid.io.fitsio import read_image_product, write_image_product
    from astrid.io.provenance import library_digest, stamp

    product, wcs_header, _, _ = next(iter(calibrated["frames"].values()))
    bias_file = tmp_path / "bias.fits"
    write_image_product(bias_file, calibrated["bias"])
    stamp(product.header, library_digest("calibrate"), {"a": 1}, [("MBIAS", "MBIASSHA", bias_file)])
    write_image_product(tmp_path / "sci.fits", product, wcs_header)
    back = read_image_product(tmp_path / "sci.fits")
    assert back.header["MBIAS"] == "bias.fits"
    assert len(back.header["MBIASSHA"]) == 16
    assert back.header["ASTRIDV"].startswith(astrid.__version__ + "+")
    assert fits.getheader(tmp_path / "sci.fits", "SCI")["BUNIT"] == "electron"
    np.testing.assert_array_equal(back.mask, product.mask)


def test_a_cosmic_ray_track_beside_a_star_is_masked_and_the_star_is_not():
    # Sky of 900 e- with its Poisson noise, a star, and a cosmic-ray track running
    # diagonally past it.
    rng = np.random.default_rng(11)
    n = 256
    yy, xx = np.mgrid[:n, :n]
    star = 20_000.0 * np.exp(-((yy - 131) ** 2 + (xx - 60) ** 2) / (2 * 1.5**2))
    frame = rng.normal(900.0, 30.0, (n, n)) + star
    track = np.zeros((n, n), bool)
    rows = np.arange(96, 160)
    track[rows, 100 + (rows - 96) // 3] = True
    frame[track] += 2_000.0
    found = find_cosmic_rays(frame, 5.0, np.zeros((n, n), bool), SETTINGS)
    assert found[track].all()
    assert not found[star > 5 * 30.0].any()


def astroscrappy_mask(frame, exclude, read_noise, niter):
    """astroscrappy's own L.A.Cosmic on the whole frame, with AstrID's options."""
    mask, _ = astroscrappy.detect_cosmics(
        np.asarray(frame, dtype=np.float32),
        inmask=exclude,
        gain=1.0,
        readnoise=read_noise,
        sigclip=SETTINGS.cr_sigclip,
        sigfrac=SETTINGS.cr_sigfrac,
        objlim=SETTINGS.cr_objlim,
        niter=niter,
        satlevel=np.inf,
        sepmed=True,
        cleantype="meanmask",
        fsmode="median",
    )
    return mask


def assert_same_cosmic_rays(frame, exclude, read_noise):
    for niter in (1, 2, 4):
        ours = detect_cosmic_rays(
            frame, exclude, read_noise, SETTINGS.cr_sigclip, SETTINGS.cr_sigfrac, SETTINGS.cr_objlim, niter
        )
        theirs = astroscrappy_mask(frame, exclude, read_noise, niter)
        assert theirs.sum() > 50, niter  # the frame has cosmic rays to find
        np.testing.assert_array_equal(ours, theirs, err_msg=f"niter {niter}")


def test_lacosmic_with_sparse_fine_structure_finds_astroscrappys_pixels(small_night):
    """Stars (saturated ones too), hot pixels, a dead column and cosmic rays up to the
    frame's edges: the same mask as astroscrappy's, to the pixel, over 1, 2 and 4 iterations
    (the later ones work on the frame cleaned by the earlier)."""
    row = rows_of(small_night.ingest().manifest, "science")[0]
    raw = read_raw(row, SETTINGS)
    exclude = maskbits.grow(raw.saturated, 5) | ~np.isfinite(raw.electrons)
    exclude[:, small_night.camera.bad_column] = True
    assert_same_cosmic_rays(
        raw.electrons - np.median(raw.electrons[:, :8]), exclude, float(row["read_noise"])
    )


def test_lacosmic_with_sparse_fine_structure_finds_astroscrappys_pixels_on_a_real_frame(real_data):
    """The SAAO 1.0 m raw frame of ccdproc's tests (150 s, gain 1.9, read noise 5 e-)."""
    path = real_data / "raw" / "saao_1m_ccdproc" / "a8280271.fits"
    raw = fits.getdata(path).astype(float)
    overscan = np.median(raw[:, 3:13], axis=1, keepdims=True)
    electrons = (raw[:, 16:528] - overscan) * 1.9
    assert_same_cosmic_rays(electrons, np.zeros(electrons.shape, bool), 5.0)


def test_sky_statistics_of_a_large_frame_come_from_a_grid_of_its_boxes():
    """Beyond ``max_pixels`` the figures are measured in every n-th box row and column:
    they still find the sky's level, noise and pulls, and move by far less than the noise."""
    rng = np.random.default_rng(7)
    sky, noise = 900.0, 30.0
    data = (sky + noise * rng.standard_normal((1024, 1024))).astype(np.float32)
    variance = np.full(data.shape, noise**2, dtype=np.float32)
    mask = np.zeros(data.shape, dtype=np.uint16)
    mask[:, :64] = maskbits.BAD  # a dead strip: left out wherever it falls
    data[:, :64] = 0.0
    whole = sky_statistics(data, variance, mask, max_pixels=data.size)
    sampled = sky_statistics(data, variance, mask, max_pixels=data.size // 4)
    assert sampled != whole  # a quarter of the boxes were measured, not all of them
    for figures in (whole, sampled):
        assert figures["sky_level"] == pytest.approx(sky, abs=0.05 * noise)
        assert figures["sky_noise"] == pytest.approx(noise, rel=0.02)
        assert figures["expected_noise"] == pytest.approx(noise, rel=1e-6)
        assert figures["pull_std"] == pytest.approx(1.0, abs=0.02)
    assert sampled["sky_level"] == pytest.approx(whole["sky_level"], abs=0.01 * noise)
