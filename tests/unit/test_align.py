"""Registration, resampling and reference coadds on seeded star fields."""

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from nights import rows_of
from scipy.spatial import cKDTree

from astrid.astrometry.registration import NO_MATCH, TOO_FEW_STARS, AlignmentError, Registration, register
from astrid.imaging.align import alignment_failure, resample, write_alignment_failure
from astrid.imaging.reference import (
    ReferenceSettings,
    build_reference,
    missing_reference,
    write_missing_reference,
)
from astrid.io import maskbits
from astrid.sim.camera import ZEROPOINT
from astrid.sim.scene import render_scene


def rotation(theta_deg, shift):
    t = np.radians(theta_deg)
    return Registration(
        np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]), np.asarray(shift, float), 0, 0.0, "truth"
    )


def stars_through(truth, n=300, seed=1, noise=0.05):
    """Star lists of an image and of the reference it maps onto through ``truth``."""
    rng = np.random.default_rng(seed)
    x, y = rng.uniform(0, 2000, n), rng.uniform(0, 2000, n)
    rx, ry = truth.apply(x, y)
    return x + rng.normal(0, noise, n), y + rng.normal(0, noise, n), rx, ry


@pytest.mark.parametrize("theta, shift", [(0.1, (35.0, -22.0)), (0.5, (-60.0, 48.0)), (-0.3, (90.0, 10.0))])
def test_offsets_of_tens_of_pixels_and_small_rotations_are_recovered(theta, shift):
    truth = rotation(theta, shift)
    x, y, rx, ry = stars_through(truth)
    # The header WCS knows nothing of the offset or rotation: its guess is the identity.
    found = register(x, y, x, y, rx, ry)
    px, py = found.apply(x, y)
    assert np.sqrt(np.mean((px - rx) ** 2 + (py - ry) ** 2)) < 0.1
    assert found.rotation_deg == pytest.approx(theta, abs=0.01)
    assert found.n_matched >= 250


def test_far_off_header_falls_back_to_an_asterism_match():
    truth = rotation(12.0, (400.0, -350.0))
    x, y, rx, ry = stars_through(truth, n=150)
    found = register(x, y, x, y, rx, ry, max_offset=100.0)
    assert found.method == "asterism"
    assert found.rotation_deg == pytest.approx(12.0, abs=0.05)


def test_too_few_stars_and_no_match_have_reason_codes():
    with pytest.raises(AlignmentError) as error:
        register(
            np.arange(5.0), np.arange(5.0), np.arange(5.0), np.arange(5.0), np.arange(50.0), np.arange(50.0)
        )
    assert error.value.code == TOO_FEW_STARS
    rng = np.random.default_rng(3)
    a, b = rng.uniform(0, 2000, (2, 100)), rng.uniform(0, 2000, (2, 100))
    with pytest.raises(AlignmentError) as error:
        register(a[0], a[1], a[0], a[1], b[0], b[1])
    assert error.value.code == NO_MATCH


def test_resampling_conserves_flux_and_marks_missing_data():
    camera_fwhm, size = 3.5, 200
    sources = Table({"x": [100.3], "y": [90.7], "flux_e": [1e5], "kind": ["star"]})
    image = render_scene((size, size), sources, camera_fwhm, 3.5).astype(np.float32)
    truth = rotation(0.3, (12.4, -7.8))
    out, var, bits = resample(
        image, np.ones_like(image), np.zeros(image.shape, np.uint16), truth, (size, size)
    )
    assert out.sum() == pytest.approx(image.sum(), rel=0.005)
    x_ref, y_ref = truth.apply(np.array([100.3]), np.array([90.7]))
    yy, xx = np.mgrid[0:size, 0:size]
    centroid = ((out * xx).sum() / out.sum(), (out * yy).sum() / out.sum())
    assert centroid == pytest.approx((x_ref[0], y_ref[0]), abs=0.05)
    assert (bits[:, :10] & maskbits.NO_DATA).all()  # shifted by 12 px: the left edge has no data
    assert not (bits[50:150, 50:150] & maskbits.NO_DATA).any()


def test_reference_coadd_lowers_the_noise_and_keeps_fluxes(small_night):
    from astrid.calibrate.masters import make_master_bias, make_master_dark, make_master_flat
    from astrid.calibrate.raw import CalibrationSettings
    from astrid.calibrate.science import calibrate_science

    manifest = small_night.ingest().manifest
    settings = CalibrationSettings()
    bias = make_master_bias(rows_of(manifest, "bias"), settings)
    dark = make_master_dark(rows_of(manifest, "dark"), bias, settings)
    flat = make_master_flat(rows_of(manifest, "flat", "r"), bias, dark, settings)
    frames = []
    for row in rows_of(manifest, "science"):
        product, wcs_header, _ = calibrate_science(row, bias, dark, flat, settings)
        product.header["EXPOSURE"] = row["exposure"]
        frames.append((product, wcs_header))
    catalog = small_night.catalogs["T01"]
    reference = build_reference(frames, ReferenceSettings(), catalog, "r")
    assert reference.header["NCOMBINE"] == 2
    single_noise = np.sqrt(np.median(frames[0][0].variance))
    assert reference.background_rms < 0.85 * single_noise  # two frames: 1/√2 ≈ 0.71
    # The zero point from the catalog turns reference electrons into catalog magnitudes.
    # Calibrated electrons are raw electrons over the master flat, which is normalised to a
    # median of 1 in the central half, not to the camera's true throughput (1.3 % lower).
    true_flat = small_night.maps.flat["r"]
    ny, nx = true_flat.shape
    flat_level = np.median(true_flat[ny // 4 : 3 * ny // 4, nx // 4 : 3 * nx // 4])
    expected = ZEROPOINT["r"] + 2.5 * np.log10(60.0) - 2.5 * np.log10(flat_level)
    assert reference.zeropoint == pytest.approx(expected, abs=0.05)
    # The fit says how well it knows it: many stars, an error of a few millimag, and the
    # simulated camera's colour term (none) recovered within its error.
    header = reference.header
    assert header["ZPNSTR"] >= 10 and 0 < reference.zeropoint_error < 0.02
    assert header["ZPCLRNM"] == "g-r" and abs(header["ZPCLRTM"]) < 3 * header["ZPCLRER"] + 0.01
    # A catalog of four stars cannot calibrate: the reference is still built, on its header
    # WCS with instrumental magnitudes, and says why.
    few = catalog[(catalog["kind"] == "star")][:4]
    few.meta["SOURCE"] = "four.ecsv"
    uncalibrated = build_reference(frames, ReferenceSettings(), few, "r")
    assert np.isnan(uncalibrated.zeropoint) and uncalibrated.header["PHOTNOTE"].startswith("four.ecsv: ")
    np.testing.assert_array_equal(uncalibrated.data, reference.data)
    # The WCS refitted on the catalog puts catalog stars on their measured positions.
    bright = catalog[(catalog["kind"] == "star") & (catalog["mag_r"] < 19)]
    x, y = reference.wcs.all_world2pix(bright["ra"], bright["dec"], 0)
    inside = (x > 20) & (x < 1000) & (y > 20) & (y < 1000)
    tree = cKDTree(np.column_stack([reference.stars["x"], reference.stars["y"]]))
    distance, _ = tree.query(np.column_stack([x[inside], y[inside]]))
    assert np.median(distance) < 0.3


def test_missing_reference_and_failed_alignment_are_recorded(tmp_path):
    write_missing_reference(tmp_path / "ref.fits", fits.Header({"FIELD": "X"}), "no frames of field X")
    assert missing_reference(tmp_path / "ref.fits") == ("NO_REFERENCE", "no frames of field X")
    write_alignment_failure(tmp_path / "aligned.fits", fits.Header(), TOO_FEW_STARS, "3 stars")
    assert alignment_failure(fits.getheader(tmp_path / "aligned.fits")) == (TOO_FEW_STARS, "3 stars")
    assert alignment_failure(fits.Header({"ALIGNOK": True})) is None


def _star_frames(n=5, size=256, seed=11):
    """Calibrated frames of one star field on one grid: seeing 3.0–3.4 px, sky 100 e-."""
    from astropy.wcs import WCS

    from astrid.io.fitsio import ImageProduct

    rng = np.random.default_rng(seed)
    sources = Table(
        {
            "x": rng.uniform(10, size - 10, 60),
            "y": rng.uniform(10, size - 10, 60),
            "flux_e": 10 ** rng.uniform(3.3, 5.0, 60),
            "kind": ["star"] * 60,
        }
    )
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval, wcs.wcs.crpix, wcs.wcs.cdelt = [150.0, 2.0], [128.5, 128.5], [-1 / 3600, 1 / 3600]
    frames, scenes = [], []
    for k, fwhm in enumerate(np.linspace(3.0, 3.4, n)):
        scene = render_scene((size, size), sources, fwhm, 3.5)
        variance = (100.0 + scene + 25.0).astype(np.float32)
        data = (100.0 + scene + rng.normal(0, np.sqrt(variance))).astype(np.float32)
        header = fits.Header({"EXPOSURE": f"e{k}"})
        frames.append(
            (ImageProduct(data, variance, np.zeros(data.shape, np.uint16), header), wcs.to_header())
        )
        scenes.append(scene)
    return frames


def test_a_satellite_trail_in_one_reference_frame_leaves_nothing_in_the_template():
    frames = _star_frames()
    size = frames[0][0].data.shape[0]
    yy, xx = np.mgrid[0:size, 0:size]
    distance = np.abs(0.35 * xx - yy + 40) / np.hypot(0.35, 1)  # a line across the frame
    trail = 120.0 * np.exp(-0.5 * (distance / 1.2) ** 2)  # peak 10σ of the sky noise
    trailed = [(p, h) for p, h in frames]
    product = frames[2][0]
    trailed[2] = (
        type(product)(
            product.data + trail.astype(np.float32), product.variance, product.mask, product.header
        ),
        frames[2][1],
    )
    settings = ReferenceSettings(psf_size=21)
    clean = build_reference(frames, settings)
    with_trail = build_reference(trailed, settings)
    unclipped = build_reference(trailed, ReferenceSettings(psf_size=21, clip_sigma=0.0))
    noise = np.sqrt(clean.variance)
    # Judged on the sky: where the trail crosses a star's core, less than 30 % of the star,
    # it is within what seeing differences make and stays (clip_amplitude).
    sky = clean.data < 3 * noise
    on_trail = (distance < 2) & sky
    left, kept = (with_trail.data - clean.data) / noise, (unclipped.data - clean.data) / noise
    # The trail's profile across its width, averaged along it, in the coadd's σ.
    bins = [(d, d + 0.5) for d in np.arange(0, 4, 0.5)]
    profile_kept = [np.mean(kept[(distance >= a) & (distance < b) & sky]) for a, b in bins]
    profile_left = [np.mean(left[(distance >= a) & (distance < b) & sky]) for a, b in bins]
    # Without rejection a fifth of the trail stays, far above the coadd's noise ...
    assert max(profile_kept) > 4
    # ... with it, nothing of it is left at any distance from its centre (each bin's mean
    # within 0.15σ of the clean coadd), and its pixels differ from the clean coadd as noise
    # does: they are the mean of four frames, not five, a spread of 0.5σ (measured 0.56).
    assert max(np.abs(profile_left)) < 0.15, profile_left
    assert np.std(left[on_trail]) < 0.65
    # The stars' photometry does not pay for it: of the clean frames little is rejected
    # (measured 1.1 %: the noise's 3σ tail and the cores of the best-seeing frame's stars
    # beyond the seeing allowance), and the coadd's star fluxes are the unclipped ones.
    assert clean.header["NREJPIX"] < 0.015 * 5 * size**2
    plain = build_reference(frames, ReferenceSettings(psf_size=21, clip_sigma=0.0))
    stars = clean.stars[clean.stars["snr"] > 50]
    from astrid.imaging.align import aperture_flux

    ratio = aperture_flux(clean.data, stars["x"], stars["y"], 8.0) / aperture_flux(
        plain.data, stars["x"], stars["y"], 8.0
    )
    # Unbiased, each star within its own flux error (the rejected noise pixels in its aperture).
    assert np.median(ratio) == pytest.approx(1.0, abs=0.002)
    assert np.all(np.abs(ratio - 1) < 1 / stars["snr"])


def test_frames_whose_astrometry_failed_make_a_reference_that_says_why_it_is_uncalibrated():
    frames = [(product, fits.Header()) for product, _ in _star_frames(n=3)]  # no WCS at all
    catalog = Table({"ra": [150.0], "dec": [2.0], "mag_r": [15.0]}, meta={"SOURCE": "site.parquet"})
    reference = build_reference(frames, ReferenceSettings(psf_size=21), catalog, "r")
    assert np.isnan(reference.zeropoint)
    assert reference.header["PHOTNOTE"] == "site.parquet: the reference has no celestial WCS"
    assert np.isnan(reference.stars["ra"]).all() and len(reference.stars) > 20
