"""Image products written plain, tile-compressed losslessly, or quantised (products.*)."""

import time

import numpy as np
import pytest
from astropy.io import fits

from astrid.io.fitsio import Compression, ImageProduct, read_image_product, write_image_product

SKY, NOISE = 900.0, 30.0


@pytest.fixture(scope="module")
def product():
    rng = np.random.default_rng(3)
    data = rng.normal(SKY, NOISE, (300, 400)).astype(np.float32)
    data[100:103, 200:203] += 5e4  # a bright star
    data[:, :5] = 0.0  # no data at the edge
    mask = np.zeros(data.shape, np.uint16)
    mask[:, :5] = 128
    mask[150, 150] = 4
    return ImageProduct(
        data, np.full(data.shape, NOISE**2, np.float32), mask, fits.Header({"EXPOSURE": "e1"})
    )


def written(tmp_path, product, compression, name="p.fits"):
    path = tmp_path / name
    write_image_product(path, product, fits.Header({"CTYPE1": "RA---TAN"}), compression=compression)
    return path, read_image_product(path)


def test_lossless_products_are_the_same_pixels_in_a_smaller_file(tmp_path, product):
    plain, _ = written(tmp_path, product, None, "plain.fits")
    path, back = written(tmp_path, product, Compression("lossless"))
    assert np.array_equal(back.data, product.data) and np.array_equal(back.variance, product.variance)
    assert np.array_equal(back.mask, product.mask)
    assert path.stat().st_size < 0.85 * plain.stat().st_size
    with fits.open(path) as hdul:
        assert [h.name for h in hdul] == ["PRIMARY", "SCI", "VAR", "MASK"]
        assert isinstance(hdul["SCI"], fits.CompImageHDU) and hdul["SCI"].header["CTYPE1"] == "RA---TAN"
        assert hdul["SCI"].header["BUNIT"] == "electron" and hdul[0].header["EXPOSURE"] == "e1"


@pytest.mark.parametrize("q", [16.0, 4.0])
def test_quantised_products_err_by_noise_over_q_root_12_and_keep_masks_and_zeros(tmp_path, product, q):
    plain, _ = written(tmp_path, product, None, "plain.fits")
    path, back = written(tmp_path, product, Compression("quantised", q))
    error = (back.data - product.data)[:, 5:]
    expected = NOISE / (q * np.sqrt(12))
    assert np.std(error) == pytest.approx(expected, rel=0.15)
    assert abs(np.mean(error)) < 0.1 * expected  # dithered: no bias
    assert np.array_equal(back.mask, product.mask) and (back.data[:, :5] == 0).all()
    assert back.data[101, 201] == pytest.approx(product.data[101, 201], abs=4 * expected)
    assert path.stat().st_size < (0.35 if q == 16 else 0.3) * plain.stat().st_size


@pytest.mark.parametrize("mode", ["lossless", "quantised"])
def test_the_same_product_written_later_gives_the_same_bytes(tmp_path, product, mode, monkeypatch):
    first, _ = written(tmp_path, product, Compression(mode), "a.fits")
    monkeypatch.setattr(time, "time", lambda: 2.0e9)  # a rerun, years later: gzip stamps the time
    second, _ = written(tmp_path, product, Compression(mode), "b.fits")
    assert first.read_bytes() == second.read_bytes(), "the bytes differ"


def test_an_unknown_compression_is_refused_by_name():
    with pytest.raises(ValueError, match="products.compression 'zip'"):
        Compression("zip")
    with pytest.raises(ValueError, match="quantize_level must be positive"):
        Compression("quantised", 0)
