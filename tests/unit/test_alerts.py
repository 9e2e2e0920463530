"""Alert packets: valid against the versioned schema, readable with plain fastavro,
deterministic ids, times on a stated scale and cutouts that carry their WCS."""

import gzip
import io
import json

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table
from astropy.wcs import WCS

from astrid.alerts import packets
from astrid.imaging.detect import CANDIDATE_COLUMNS

fastavro = pytest.importorskip("fastavro")


@pytest.fixture
def scored():
    """A scored candidate table of two rows, its cutouts and the reference grid's WCS."""
    wcs = WCS(naxis=2)
    wcs.wcs.ctype = ["RA---TAN", "DEC--TAN"]
    wcs.wcs.crval = [150.1, 2.2]
    wcs.wcs.crpix = [1024.5, 1024.5]
    wcs.wcs.cd = np.array([[-0.4 / 3600, 0.0001 / 3600], [0.0001 / 3600, 0.4 / 3600]])
    rows = {name: [0.0, 0.0] for name in CANDIDATE_COLUMNS}
    rows.update(candidate_id=["20261127-0021-0000", "20261127-0021-0001"], x=[300.3, 1500.6], y=[812.7, 90.2])
    rows.update(snr=[25.0, 6.1], flux=[5000.0, -300.0], flux_err=[200.0, 50.0], mag=[18.2, np.nan])
    rows.update(mag_err=[0.04, np.nan], fwhm=[4.1, 3.9], elongation=[1.05, 1.3], n_masked=[0, 2])
    rows.update(dist_ref_source=[0.4, np.inf], is_dipole=[False, True], dipole_min=[-1.0, -7.0])
    table = Table(rows)
    ra, dec = wcs.all_pix2world(table["x"], table["y"], 0)
    table["ra"], table["dec"] = ra, dec
    table["rb_score"] = [0.99, 0.2]
    table.meta.update(
        {
            "EXPOSURE": "20261127-0021",
            "NIGHT": "20261127",
            "FIELD": "F01",
            "FILTER": "g",
            "MJD-OBS": 61371.95,
            "EXPTIME": 60.0,
            "LIMMAG": 22.8,
            "REFZP": 27.0,
            "RBMODEL": "astrid-realbogus",
            "RBVERS": 3,
            "RBTHRESH": 0.8,
            "REFFILE": "g.fits",
            "REFSHA": "ab" * 32,
        }
    )
    cutouts = np.random.default_rng(0).normal(0, 1, (2, 3, 63, 63)).astype(np.float32)
    return table, cutouts, wcs


def test_packets_validate_and_read_back_with_plain_fastavro(scored, tmp_path):
    table, cutouts, wcs = scored
    for row, cube in zip(table, cutouts, strict=True):
        packet = packets.build_packet(row, table.meta, cube, wcs)
        path = tmp_path / f"{packet['alert_id']}.avro"
        packets.write_packet(path, packet)
        schema = json.loads(packets.schema_path().read_text())
        assert fastavro.validation.validate(packet, fastavro.parse_schema(schema))
        (back,) = packets.read_packets(path)
        assert back["schema_version"] == packets.SCHEMA_VERSION and back["alert_id"] == packet["alert_id"]
        assert back["candidate"]["candidate_id"] == row["candidate_id"]
        assert back["candidate"]["rb_model_version"] == 3
    negative = packets.detection_record(table[1], table.meta)
    assert (
        negative["is_positive"] is False and negative["mag"] is None and negative["dist_ref_source"] is None
    )
    # 1 reference electron is 10**(-0.4 (27 - 31.4)) nJy.
    calibrated = packets.detection_record(table[0], table.meta)
    assert calibrated["psf_flux"] == pytest.approx(5000 * 10**1.76) and calibrated["photometry_calibrated"]


def test_a_field_without_a_catalog_alerts_in_electrons_flagged_uncalibrated(scored, tmp_path):
    table, cutouts, wcs = scored
    for key in ("REFZP", "LIMMAG"):
        del table.meta[key]
    table.meta.update(PHOTCAL=False, LIMFLUX=420.0)
    packet = packets.build_packet(table[0], table.meta, cutouts[0], wcs)
    packets.write_packet(tmp_path / "a.avro", packet)
    (c,) = [p["candidate"] for p in packets.read_packets(tmp_path / "a.avro")]
    assert c["photometry_calibrated"] is False
    assert c["psf_flux"] is None and c["mag"] is None and c["limiting_mag"] is None
    assert c["psf_flux_electrons"] == 5000.0 and c["psf_flux_electrons_err"] == 200.0
    assert c["mag_instrumental"] == pytest.approx(-2.5 * np.log10(5000.0))
    assert c["limiting_flux_electrons"] == 420.0


def test_alert_ids_are_deterministic_and_distinct():
    assert packets.alert_id("20261127-0021-0000") == packets.alert_id("20261127-0021-0000")
    ids = {packets.alert_id(f"20261127-0021-{i:04d}") for i in range(10000)}
    assert len(ids) == 10000 and all(0 <= i < 2**63 for i in ids)


def test_alert_time_is_the_midpoint_in_tai():
    # 60 s exposure starting at MJD 61000.0 UTC: midpoint 30 s later, and TAI = UTC + 37 s.
    mjd = packets.midpoint_mjd_tai({"MJD-OBS": 61000.0, "EXPTIME": 60.0})
    assert (mjd - 61000.0) * 86400 == pytest.approx(67.0, abs=1e-3)


def test_cutouts_are_compressed_fits_whose_wcs_points_at_the_candidate(scored):
    table, cutouts, wcs = scored
    row = table[0]
    packet = packets.build_packet(row, table.meta, cutouts[0], wcs)
    for key, plane in (("cutout_science", 0), ("cutout_template", 1), ("cutout_difference", 2)):
        with fits.open(io.BytesIO(gzip.decompress(packet[key]["stamp_data"]))) as hdul:
            assert np.array_equal(hdul[0].data, cutouts[0, plane])
            stamp_wcs = WCS(hdul[0].header)
            x0, y0 = hdul[0].header["CUTX0"], hdul[0].header["CUTY0"]
        ra, dec = stamp_wcs.all_pix2world(row["x"] - x0, row["y"] - y0, 0)
        assert ra == pytest.approx(row["ra"], abs=1e-9) and dec == pytest.approx(row["dec"], abs=1e-9)
        assert x0 == round(row["x"]) - 31 and y0 == round(row["y"]) - 31


def test_every_schema_file_is_valid_avro_and_names_its_version():
    files = sorted(packets.SCHEMA_DIR.glob("astrid_alert_v*.avsc"))
    assert packets.schema_path() in files
    for path in files:
        fastavro.parse_schema(json.loads(path.read_text()))
        assert "schema " + path.stem.split("_v")[1].replace("_", ".") in json.loads(path.read_text())["doc"]


def test_a_crash_midway_and_a_resume_emit_every_alert_exactly_once(scored, tmp_path, monkeypatch):
    from astrid.alerts import objects

    table, cutouts, wcs = scored
    table["rb_real"] = [True, True]
    table.meta["MJD-OBS"] = 61371.95
    header = wcs.to_header()
    difference = tmp_path / "difference.fits"
    fits.HDUList(
        [
            fits.PrimaryHDU(header=fits.Header({"FLUXSCAL": 2.0})),
            fits.ImageHDU(np.zeros((2048, 2048), np.float32), header=header, name="DIFF"),
            fits.ImageHDU(np.zeros((2048, 2048), np.float32), header=header, name="SCORE"),
            fits.ImageHDU(np.ones((2048, 2048), np.float32), header=header, name="VAR"),
        ]
    ).writeto(difference)
    db = objects.connect(f"sqlite:///{tmp_path / 'objects.sqlite'}")
    objects.migrate(db)
    real_write = packets.write_packet
    calls = []

    def crash_on_second(path, packet, schema=None):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full (simulated crash)")
        real_write(path, packet, schema)

    monkeypatch.setattr(packets, "write_packet", crash_on_second)
    written = []

    def emit(summaries):
        return packets.emit_alerts(db, summaries, written.append)

    with pytest.raises(OSError, match="simulated crash"):
        emit(packets.alert_frame(db, table, cutouts, difference, tmp_path / "packets"))
    assert db.execute("SELECT count(*) FROM alerts").fetchone()[0] == 0  # nothing half-emitted
    monkeypatch.setattr(packets, "write_packet", real_write)
    resumed = emit(packets.alert_frame(db, table, cutouts, difference, tmp_path / "packets"))
    assert [s["first_emitted"] for s in resumed] == [True, True]  # the crashed run emitted none
    assert written == [resumed]  # the night's table is written inside the emitting transaction
    again = emit(packets.alert_frame(db, table, cutouts, difference, tmp_path / "packets"))
    assert not any(s["first_emitted"] for s in again)

    def crash_while_recording(summaries):
        raise OSError("disk full while writing packets.tsv (simulated)")

    with pytest.raises(OSError, match="simulated"):
        packets.emit_alerts(db, [{**again[0], "alert_id": 7, "candidate_id": "other"}], crash_while_recording)
    assert db.execute("SELECT count(*) FROM alerts WHERE alert_id = 7").fetchone()[0] == 0  # rolled back
    ids = [row[0] for row in db.execute("SELECT alert_id FROM alerts ORDER BY alert_id").fetchall()]
    assert ids == sorted(packets.alert_id(c) for c in table["candidate_id"])
    assert sorted(p.name for p in (tmp_path / "packets").glob("*.avro")) == sorted(f"{i}.avro" for i in ids)
    # The second frame's forced photometry: both objects measured in this exposure, detected.
    assert db.execute("SELECT count(*) FROM forced_photometry WHERE detected").fetchone()[0] == 2
