"""Ingest: classification by header, validation with reason codes, the night plan."""

import gzip
import hashlib
import re

import numpy as np
import pytest
from astropy.io import fits

from astrid.ingest.classify import (
    ALL_NAN,
    BAD_VALUE,
    DUPLICATE_EXPOSURE,
    EMPTY,
    MISSING_HDU,
    MISSING_KEYWORD,
    NO_MASTER,
    NOT_A_FILE,
    SHAPE_MISMATCH,
    UNKNOWN_TYPE,
    UNREADABLE,
    UNSUPPORTED_FORMAT,
    FrameRejected,
    IngestSettings,
    inspect_frame,
    name_fields_from_pointings,
    normalise_type,
)
from astrid.ingest.files import declared_complete, exposure_id, find_raw_frames, has_arrived, night_listing
from astrid.ingest.night import ingest_night, plan_night
from astrid.io.names import band_name


@pytest.mark.parametrize(
    "value, expected",
    [
        ("BIAS", "bias"),
        ("zero", "bias"),
        ("Bias Frame", "bias"),
        ("DARK", "dark"),
        ("Dark Frame", "dark"),
        ("FLAT", "flat"),
        ("FLATFIELD", "flat"),
        ("Flat Field", "flat"),
        ("DOMEFLAT", "flat"),
        ("dome_flat", "flat"),
        ("SKYFLAT", "flat"),
        ("sky-flat", "flat"),
        ("TWIFLAT", "flat"),
        ("OBJECT", "science"),
        ("LIGHT", "science"),
        ("Light Frame", "science"),
        ("SCIENCE", "science"),
        ("  object ", "science"),
        ("FOCUS", None),
        ("ARC", None),
        ("", None),
    ],
)
def test_frame_type_spellings(value, expected):
    assert normalise_type(value) == expected


def write_frame(path, data, **keywords):
    header = fits.Header()
    defaults = {
        "IMAGETYP": "LIGHT",
        "FILTER": "r",
        "EXPTIME": 30.0,
        "DATE-OBS": "2026-11-27T01:00:00",
        "OBJECT": "F01",
        "GAIN": 1.5,
        "RDNOISE": 5.0,
        "SATURATE": 60000,
    }
    defaults.update(keywords)
    for key, value in defaults.items():
        if value is not None:
            header[key] = value
    fits.PrimaryHDU(data, header=header).writeto(path)
    return path


@pytest.fixture
def frame(tmp_path):
    def make(name="f.fits", data=None, **keywords):
        data = np.full((20, 30), 1000, np.uint16) if data is None else data
        return write_frame(tmp_path / name, data, **keywords)

    return make


def rejected(path):
    with pytest.raises(FrameRejected) as info:
        inspect_frame(path, "20261127", IngestSettings())
    return info.value


def test_good_science_frame_is_described(frame):
    row = inspect_frame(frame(), "20261127", IngestSettings())
    assert row["frame_type"] == "science"
    assert (row["band"], row["field"], row["exptime"]) == ("r", "F01", 30.0)
    assert (row["ny"], row["nx"]) == (20, 30)
    assert row["mjd"] == pytest.approx(61371.041667, abs=1e-5)


def test_truncated_file_is_unreadable(frame):
    path = frame()
    path.write_bytes(path.read_bytes()[:3000])
    error = rejected(path)
    assert error.code == UNREADABLE
    assert "f.fits" in error.reason and "truncated" in error.reason


def test_garbage_file_is_unreadable(tmp_path):
    path = tmp_path / "junk.fits"
    path.write_bytes(b"this is not FITS at all" * 200)
    assert rejected(path).code == UNREADABLE


def test_header_without_image_is_empty(tmp_path):
    path = tmp_path / "header_only.fits"
    fits.PrimaryHDU(header=fits.Header({"IMAGETYP": "LIGHT"})).writeto(path)
    assert rejected(path).code == EMPTY


def test_all_nan_frame(frame):
    error = rejected(frame(data=np.full((10, 10), np.nan, np.float32)))
    assert error.code == ALL_NAN


def test_missing_filter_names_the_keywords(frame):
    error = rejected(frame(FILTER=None))
    assert error.code == MISSING_KEYWORD
    assert "FILTER" in error.reason and "f.fits" in error.reason


def test_unknown_type_is_quarantined(frame):
    error = rejected(frame(IMAGETYP="FOCUS"))
    assert error.code == UNKNOWN_TYPE
    assert "'FOCUS'" in error.reason


def test_missing_gain_uses_the_configured_default_or_quarantines(frame):
    path = frame(GAIN=None)
    assert rejected(path).code == MISSING_KEYWORD
    assert inspect_frame(path, "20261127", IngestSettings(gain=2.0))["gain"] == 2.0


def test_negative_exposure_time_is_a_bad_value(frame):
    assert rejected(frame(EXPTIME=-1.0)).code == BAD_VALUE


def test_field_falls_back_to_the_pointing_and_nearby_pointings_share_it(tmp_path):
    wcs = {
        "OBJECT": None,
        "CTYPE1": "RA---TAN",
        "CTYPE2": "DEC--TAN",
        "CRVAL2": 0.149,
        "CRPIX1": 15.0,
        "CRPIX2": 10.0,
        "CDELT1": -3e-4,
        "CDELT2": 3e-4,
    }
    night = tmp_path / "20261127"
    night.mkdir()
    for i, (ra, dec) in enumerate([(310.611, 0.149), (310.612, 0.151), (311.5, 0.151)]):
        date = f"2026-11-27T01:0{i}:00"
        write_frame(
            night / f"s{i}.fits",
            np.ones((20, 30), np.uint16),
            **{**wcs, "CRVAL1": ra, "CRVAL2": dec, "DATE-OBS": date},
        )
    rows = [inspect_frame(p, "20261127", IngestSettings()) for p in sorted(night.iterdir())]
    assert all(row["field"] == "" for row in rows)
    assert rows[0]["ra"] == pytest.approx(310.611, abs=0.01)
    name_fields_from_pointings(rows, radius_arcmin=3.0)
    assert [row["field"] for row in rows] == ["p310d6+00d1", "p310d6+00d1", "p311d5+00d2"]


def test_odd_filter_names_are_made_safe(frame):
    assert inspect_frame(frame(FILTER="r'"), "20261127", IngestSettings())["band"] == "r"
    assert band_name("Open/Clear") == "Open_Clear"


def manifest_row(exposure, frame_type, band="", shape=(20, 30)):
    return {
        "exposure": exposure,
        "night": "20261127",
        "path": f"/raw/{exposure}.fits",
        "frame_type": frame_type,
        "band": band,
        "ny": shape[0],
        "nx": shape[1],
    }


def test_plan_quarantines_shape_mismatch_and_missing_masters():
    rows = [manifest_row(f"b{i}", "bias") for i in range(3)]
    rows += [manifest_row(f"d{i}", "dark") for i in range(3)]
    rows += [manifest_row(f"fr{i}", "flat", "r") for i in range(3)]
    rows += [manifest_row(f"fg{i}", "flat", "g") for i in range(2)]
    rows += [
        manifest_row("sr", "science", "r"),
        manifest_row("sg", "science", "g"),
        manifest_row("big", "science", "r", shape=(40, 30)),
    ]
    kept, quarantined = plan_night(rows, min_frames=3, use_dark=True)
    reasons = {q["exposure"]: q for q in quarantined}
    assert set(reasons) == {"sg", "big"}
    assert reasons["big"]["reason_code"] == SHAPE_MISMATCH
    assert "40×30" in reasons["big"]["reason"] and "20×30" in reasons["big"]["reason"]
    assert reasons["sg"]["reason_code"] == NO_MASTER
    assert "2 valid flat frames in band g" in reasons["sg"]["reason"]
    assert "sr" in {r["exposure"] for r in kept}


def test_plan_without_darks_is_fine_when_darks_are_not_used():
    rows = [manifest_row(f"b{i}", "bias") for i in range(3)]
    rows += [manifest_row(f"f{i}", "flat", "r") for i in range(3)] + [manifest_row("s", "science", "r")]
    assert plan_night(rows, 3, use_dark=False)[1] == []
    assert plan_night(rows, 3, use_dark=True)[1][0]["reason_code"] == NO_MASTER


def test_simulated_night_is_classified_and_raw_files_are_untouched(small_night):
    before = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in small_night.raw_dir.iterdir()}
    manifest, quarantine, waiting = small_night.ingest()
    after = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in small_night.raw_dir.iterdir()}
    assert before == after
    counts = manifest.groupby("frame_type").size().to_dict()
    assert counts == {"bias": 5, "dark": 5, "flat": 5, "science": 2}
    assert set(quarantine["reason_code"]) == {UNREADABLE, UNKNOWN_TYPE}
    truth = small_night.truth["FRAMES"]
    defective = set(truth["exposure"][truth["defect"] != ""])
    assert set(quarantine["exposure"]) == defective
    assert list(manifest["mjd"]) == sorted(manifest["mjd"])


def test_missing_night_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="20261127"):
        find_raw_frames(tmp_path / "20261127")


def old_enough(*paths, seconds=3600):
    """Date files an hour back: written and settled long before the night is ingested."""
    import os
    import time

    for path in paths:
        os.utime(path, (time.time() - seconds, time.time() - seconds))


def calibration_night(folder, science=("s.fits",)):
    """A night folder with 3 biases, 3 darks and 3 flats in r, and the given science frames."""
    folder.mkdir(exist_ok=True)
    data = np.full((20, 30), 1000, np.uint16)
    for i in range(3):
        write_frame(folder / f"bias{i}.fits", data, IMAGETYP="BIAS", EXPTIME=0.0, FILTER=None, OBJECT=None)
        write_frame(folder / f"dark{i}.fits", data, IMAGETYP="DARK", FILTER=None, OBJECT=None)
        write_frame(folder / f"flat{i}.fits", data, IMAGETYP="FLAT", OBJECT=None)
    for name in science:
        write_frame(folder / name, data)
    old_enough(*folder.iterdir())
    return folder


def ingest_folder(folder, **settings):
    return ingest_night(folder, "20261127", IngestSettings(**settings), 3, True)


def test_odd_file_names_become_safe_unique_exposure_ids(tmp_path):
    from astrid.io.names import EXPOSURE_PATTERN

    night = calibration_night(
        tmp_path / "20261127", ["frame é 1.fits", "frame_e_1.fits", "x" * 200 + ".fits"]
    )
    manifest = ingest_folder(night).manifest
    science = sorted(manifest[manifest["frame_type"] == "science"]["exposure"])
    assert len(set(science)) == 3
    assert "frame_e_1" in science  # a name that is already safe is kept
    assert all(re.fullmatch(EXPOSURE_PATTERN, e) for e in manifest["exposure"])
    odd = next(e for e in science if e.startswith("frame_e_1-"))
    assert odd == exposure_id(night / "frame é 1.fits")  # the same name on every run
    assert max(len(e) for e in science) <= 64


def test_the_same_exposure_twice_uses_one_file_and_quarantines_the_other(tmp_path):
    night = calibration_night(tmp_path / "20261127", ["a.fits"])
    with open(night / "a.fits", "rb") as source:
        (night / "a.fits.gz").write_bytes(gzip.compress(source.read()))
    old_enough(night / "a.fits.gz")
    manifest, quarantine, _ = ingest_folder(night)
    assert list(manifest[manifest["exposure"] == "a"]["path"]) == [str(night / "a.fits")]
    (row,) = quarantine.to_dict("records")
    assert row["reason_code"] == DUPLICATE_EXPOSURE and row["path"].endswith("a.fits.gz")
    assert "a.fits.gz and a.fits are both exposure a" in row["reason"]


def test_links_to_nothing_and_folders_named_like_frames_are_quarantined(tmp_path):
    night = calibration_night(tmp_path / "20261127")
    (night / "x.fits").symlink_to(tmp_path / "gone.fits")
    (night / "y.fits").mkdir()
    (night / "notes.txt").write_text("not a frame, not FITS-looking: ignored")
    quarantine = ingest_folder(night).quarantine
    reasons = dict(zip(quarantine["exposure"], quarantine["reason_code"], strict=True))
    assert reasons == {"x": NOT_A_FILE, "y": NOT_A_FILE}
    text = " ".join(quarantine["reason"])
    assert "gone.fits, which does not exist" in text and "y.fits is a folder" in text


def test_a_frame_still_being_written_waits_and_the_listing_notices_every_change(tmp_path):
    import os
    import time

    night = calibration_night(tmp_path / "20261127", ["s1.fits"])
    write_frame(night / "s2.fits", np.full((20, 30), 1000, np.uint16))
    whole = (night / "s2.fits").read_bytes()
    (night / "s2.fits").write_bytes(whole[: len(whole) - 1000])  # still being written, just now
    listing = night_listing(night, settle_seconds=5)
    manifest, quarantine, waiting = ingest_folder(night, settle_seconds=5)
    assert list(waiting["exposure"]) == ["s2"] and quarantine.empty
    assert "s2" not in set(manifest["exposure"]) and "s1" in set(manifest["exposure"])
    # Its last bytes land: it holds all its headers declare, so it has arrived at once; the
    # listing (the ingest rule's parameter) changes, so the night is ingested again.
    (night / "s2.fits").write_bytes(whole)
    complete = night_listing(night, settle_seconds=5)
    assert complete != listing
    manifest, quarantine, waiting = ingest_folder(night, settle_seconds=5)
    assert waiting.empty and "s2" in set(manifest["exposure"])
    # A site whose camera writes files at full length before filling them in waits for
    # settle_seconds whatever the length says; ten seconds later the file has settled.
    waiting = ingest_folder(night, settle_seconds=5, arrive_when_complete=False).waiting
    assert list(waiting["exposure"]) == ["s2"]
    assert night_listing(night, 5, when_complete=False) != complete
    later = time.time() + 10
    assert night_listing(night, 5, now=later, when_complete=False) == complete
    settings = IngestSettings(arrive_when_complete=False)
    manifest, quarantine, waiting = ingest_night(night, "20261127", settings, 3, True, now=later)
    assert waiting.empty and "s2" in set(manifest["exposure"])
    # A frame truncated (and settled) is UNREADABLE; completing it in place changes the
    # listing again, and then it is used.
    complete = (night / "s1.fits").read_bytes()
    (night / "s1.fits").write_bytes(complete[:3000])
    old_enough(night / "s1.fits", seconds=600)
    truncated = night_listing(night, 5)
    assert ingest_folder(night).quarantine["reason_code"].tolist() == [UNREADABLE]
    (night / "s1.fits").write_bytes(complete)
    os.utime(night / "s1.fits", (time.time() - 60, time.time() - 60))
    assert night_listing(night, 5) != truncated
    assert "s1" in set(ingest_folder(night).manifest["exposure"])


def test_a_fits_file_is_complete_when_it_holds_every_byte_its_headers_declare(tmp_path):
    import gzip

    data = np.arange(600, dtype=np.uint16).reshape(20, 30)
    single = tmp_path / "single.fits"
    write_frame(single, data)
    whole = single.read_bytes()
    assert declared_complete(single)
    for cut in (1000, len(whole) - 2880, len(whole) - 1):  # in the header, in the data, the padding
        (tmp_path / "cut.fits").write_bytes(whole[:cut])
        assert not declared_complete(tmp_path / "cut.fits"), cut
    (tmp_path / "longer.fits").write_bytes(whole + b"\0" * 2880)
    assert not declared_complete(tmp_path / "longer.fits")
    # A mosaic is complete with as many extensions as its primary header declares; one
    # that does not declare them may still be growing.
    detectors = [fits.ImageHDU(data, name=f"CCD{i}") for i in (1, 2)]
    declared = fits.PrimaryHDU()
    declared.header["NEXTEND"] = 2
    fits.HDUList([declared, *detectors]).writeto(tmp_path / "mosaic.fits")
    assert declared_complete(tmp_path / "mosaic.fits")
    fits.HDUList([declared, detectors[0]]).writeto(tmp_path / "half.fits")
    assert not declared_complete(tmp_path / "half.fits")
    fits.HDUList([fits.PrimaryHDU(), *detectors]).writeto(tmp_path / "undeclared.fits")
    assert not declared_complete(tmp_path / "undeclared.fits")
    # Tile-compressed: the extension's heap (PCOUNT) is counted.
    fits.HDUList([declared, fits.CompImageHDU(data), fits.CompImageHDU(data)]).writeto(
        tmp_path / "packed.fits.fz"
    )
    assert declared_complete(tmp_path / "packed.fits.fz")
    # gzip hides the length; nothing FITS-like is complete.
    (tmp_path / "g.fits.gz").write_bytes(gzip.compress(whole))
    (tmp_path / "empty.fits").write_bytes(b"")
    (tmp_path / "noise.fits").write_bytes(np.random.default_rng(1).bytes(2880 * 3))
    for name in ("g.fits.gz", "empty.fits", "noise.fits", "absent.fits"):
        assert not declared_complete(tmp_path / name), name


def test_a_complete_frame_arrives_at_once_and_any_other_once_it_settles(tmp_path):
    import time

    now = time.time()
    write_frame(tmp_path / "whole.fits", np.full((20, 30), 1000, np.uint16))
    whole = (tmp_path / "whole.fits").read_bytes()
    (tmp_path / "part.fits").write_bytes(whole[:4000])
    assert has_arrived(tmp_path / "whole.fits", now, 5.0, now, when_complete=True)
    assert not has_arrived(tmp_path / "whole.fits", now, 5.0, now, when_complete=False)
    assert not has_arrived(tmp_path / "part.fits", now, 5.0, now, when_complete=True)
    # Settled, whatever its bytes (an incomplete one is then quarantined UNREADABLE), and
    # a modification time ahead of the clock counts as settled.
    assert has_arrived(tmp_path / "part.fits", now - 6, 5.0, now, when_complete=True)
    assert has_arrived(tmp_path / "part.fits", now + 60, 5.0, now, when_complete=False)


def test_a_night_ingested_again_reads_only_new_or_changed_files(tmp_path, monkeypatch):
    import os

    from astrid.ingest import night as ingest

    night = calibration_night(tmp_path / "20261127", ["s1.fits", "s2.fits"])
    (night / "bad.fits").write_bytes(b"not a frame")
    old_enough(night / "bad.fits")
    plain = ingest_folder(night)
    read = []
    inspect = ingest.inspect_exposure
    monkeypatch.setattr(
        ingest, "inspect_exposure", lambda path, *a: read.append(path.name) or inspect(path, *a)
    )
    memory = {}
    first = ingest_night(night, "20261127", IngestSettings(), 3, True, memory=memory)
    assert len(read) == 12 and len(memory) == 12  # 9 calibration frames, 2 science, 1 unreadable
    salt = ingest.inspection_salt("code-1", IngestSettings())
    ingest.save_inspections(tmp_path / "memory.json", salt, memory)
    memory = ingest.load_inspections(tmp_path / "memory.json", salt)
    # Nothing changed: nothing is read, and the night is what a plain ingest finds.
    read.clear()
    again = ingest_night(night, "20261127", IngestSettings(), 3, True, memory=memory)
    assert read == []
    for table in ("manifest", "quarantine"):
        assert getattr(again, table).equals(getattr(first, table)), table
        assert getattr(again, table).equals(getattr(plain, table)), table
    assert again.quarantine["reason_code"].tolist() == [UNREADABLE]
    # A frame rewritten, one removed, one new: those are read, the removed one forgotten.
    os.remove(night / "s1.fits")
    write_frame(night / "s1.fits", np.full((20, 30), 900, np.uint16))
    os.remove(night / "s2.fits")
    write_frame(night / "s3.fits", np.full((20, 30), 1000, np.uint16))
    old_enough(night / "s1.fits", night / "s3.fits")
    later = ingest_night(night, "20261127", IngestSettings(), 3, True, memory=memory)
    assert sorted(read) == ["s1.fits", "s3.fits"]
    assert len(memory) == 12 and not any(key.startswith(f"{night / 's2.fits'}|") for key in memory)
    assert {"s1", "s3"} <= set(later.manifest["exposure"]) and "s2" not in set(later.manifest["exposure"])
    # Other code or settings: the memory is not used.
    assert ingest.load_inspections(tmp_path / "memory.json", salt) != {}
    assert (
        ingest.load_inspections(tmp_path / "memory.json", ingest.inspection_salt("code-2", IngestSettings()))
        == {}
    )
    assert ingest.load_inspections(tmp_path / "absent.json", salt) == {}


def test_fields_with_long_or_odd_names_and_pointings_north_of_the_equator_are_valid_wildcards(tmp_path):
    from astrid.io.names import FIELD_PATTERN

    night = calibration_night(tmp_path / "20261127")
    write_frame(night / "long.fits", np.full((20, 30), 1000, np.uint16), OBJECT="NGC 1234 " * 40)
    write_frame(night / "m31.fits", np.full((20, 30), 1000, np.uint16), OBJECT="M 31")
    old_enough(night / "long.fits", night / "m31.fits")
    fields = dict(zip(*(ingest_folder(night).manifest[c] for c in ("exposure", "field")), strict=True))
    assert fields["m31"] == "M_31"
    assert len(fields["long"]) <= 48 and fields["long"].startswith("NGC_1234_NGC_1234")
    assert re.fullmatch(FIELD_PATTERN, fields["long"]) and re.fullmatch(FIELD_PATTERN, "p310d6+00d1")


def test_tile_compressed_frames_are_read_and_other_compressions_quarantined(tmp_path):
    """fpack'ed frames (.fz after any FITS suffix) are frames like any other; a FITS name
    with a compression AstrID does not read is quarantined saying which it reads."""
    night = calibration_night(tmp_path / "20261127")
    data = np.full((20, 30), 1000, np.uint16)
    write_frame(tmp_path / "plain.fits", data)
    header = fits.getheader(tmp_path / "plain.fits")
    for name in ("c1.fits.fz", "c2.fit.fz", "c3.FTS.fz"):
        fits.HDUList([fits.PrimaryHDU(), fits.CompImageHDU(data, header=header)]).writeto(night / name)
    (night / "b.fits.bz2").write_bytes(b"BZh9" + bytes(100))
    old_enough(*night.iterdir())
    manifest, quarantine, _ = ingest_folder(night)
    science = manifest[manifest["frame_type"] == "science"]
    assert sorted(science["exposure"]) == ["c1", "c2", "c3", "s"]
    assert set(science["ny"]) == {20} and set(science["nx"]) == {30}
    assert set(science[science["exposure"] != "s"]["path"].str[-3:]) == {".fz"}
    (row,) = quarantine.to_dict("records")
    assert row["reason_code"] == UNSUPPORTED_FORMAT and ".fits.fz" in row["reason"]


def test_reduced_frames_need_no_type_gain_or_masters_and_map_their_band(tmp_path):
    night = tmp_path / "20180804"
    night.mkdir()
    keywords = {"IMAGETYP": None, "GAIN": None, "RDNOISE": None, "SATURATE": None, "DATE-OBS": None}
    write_frame(
        night / "r1.fits",
        np.ones((20, 30), np.float32),
        FILTER="i DECam SDSS c0003",
        **keywords,
        **{"DATE-BEG": "2018-08-04T09:23:31"},
    )
    write_frame(
        night / "r2.fits",
        np.ones((20, 30), np.float32),
        FILTER="i DECam SDSS c0003",
        **keywords,
        **{"MJD-OBS": 58334.4},
    )
    old_enough(*night.iterdir())
    settings = IngestSettings(reduced=True, band_map={"i DECam SDSS c0003": "i"})
    manifest, quarantine, _ = ingest_night(night, "20180804", settings, 3, True)
    assert quarantine.empty, quarantine.to_dict("records")
    assert list(manifest["frame_type"]) == ["science", "science"] and set(manifest["band"]) == {"i"}
    assert manifest["reduced"].all() and manifest["mjd"].round(1).tolist() == [58334.4, 58334.4]
    # Without the reduced flag the same frames are quarantined: no type, no gain.
    assert ingest_night(night, "20180804", IngestSettings(), 3, True).manifest.empty


def test_a_reduced_frame_without_its_science_hdu_is_quarantined(tmp_path):
    night = tmp_path / "20180804"
    night.mkdir()
    write_frame(night / "r1.fits", np.ones((20, 30), np.float32), IMAGETYP=None)
    old_enough(*night.iterdir())
    quarantine = ingest_night(
        night, "20180804", IngestSettings(reduced=True, science_hdu="SCI"), 3, True
    ).quarantine
    (row,) = quarantine.to_dict("records")
    assert (
        row["reason_code"] == MISSING_HDU and "no HDU 'SCI'" in row["reason"] and "r1.fits" in row["reason"]
    )


def test_the_sites_fields_name_frames_by_position_over_their_headers():
    rows = [
        {"frame_type": "science", "field": "SN 2026abc field", "ra": 310.61, "dec": 0.14},
        {"frame_type": "science", "field": "", "ra": 310.70, "dec": 0.20},
        {"frame_type": "science", "field": "M31", "ra": 10.68, "dec": 41.27},
        {"frame_type": "science", "field": "", "ra": 150.1, "dec": 2.2},
        {"frame_type": "bias", "field": "", "ra": float("nan"), "dec": float("nan")},
    ]
    site = [{"name": "SA112", "ra": 310.6, "dec": 0.14, "radius_arcmin": 10.0}]
    named = name_fields_from_pointings(rows, 3.0, site)
    assert [(r["field"], r["field_source"]) for r in named] == [
        ("SA112", "site"),
        ("SA112", "site"),
        ("M31", "header"),
        ("p150d1+02d2", "pointing"),
        ("", ""),
    ]
