"""A night's alerts frame by frame: a run redoes only the frames that arrived or changed
since the last, and the night it writes is the one a run from scratch writes."""

import csv

import numpy as np
import pytest
from astropy.io import fits

from astrid.alerts import objects, packets
from astrid.alerts.night import FrameFiles, Ledger, alert_night

pytest.importorskip("fastavro")

SIZE = 512
# Frames A, B and C of one field: object 1 in all three, object 2 first in C.
FRAMES = {
    "A": (61371.90, [(100.4, 200.3)]),
    "B": (61371.92, [(100.6, 200.1)]),
    "C": (61371.94, [(100.5, 200.2), (400.2, 60.7)]),
}


def write_frame(folder, scored_fixture, name, mjd, positions, rb_score=0.99):
    """The scored table, cutouts and difference of one frame; returns its FrameFiles."""
    template, cutouts, wcs = scored_fixture
    exposure = f"20261127-00{ord(name) - ord('A') + 31}"
    table = template[[0] * len(positions)]
    table["candidate_id"] = [f"{exposure}-{i:04d}" for i in range(len(positions))]
    table["x"], table["y"] = [p[0] for p in positions], [p[1] for p in positions]
    table["ra"], table["dec"] = wcs.all_pix2world(table["x"], table["y"], 0)
    table["rb_score"], table["rb_real"], table["rb_model_version"] = rb_score, True, 3
    table.meta.update({"EXPOSURE": exposure, "MJD-OBS": mjd})
    files = FrameFiles(
        folder / f"{exposure}.ecsv", folder / f"{exposure}-cutouts.fits", folder / f"{exposure}-diff.fits"
    )
    table.write(files.scored, format="ascii.ecsv", overwrite=True)
    fits.PrimaryHDU(np.repeat(cutouts[:1], len(positions), axis=0)).writeto(files.cutouts, overwrite=True)
    header = wcs.to_header()
    plane = np.zeros((SIZE, SIZE), np.float32)
    fits.HDUList(
        [
            fits.PrimaryHDU(header=fits.Header({"FLUXSCAL": 2.0})),
            fits.ImageHDU(plane, header=header, name="DIFF"),
            fits.ImageHDU(plane, header=header, name="SCORE"),
            fits.ImageHDU(plane + 1.0, header=header, name="VAR"),
        ]
    ).writeto(files.difference, overwrite=True)
    return files


@pytest.fixture
def night(tmp_path):
    from test_alerts import scored

    fixture = scored.__wrapped__()
    folder = tmp_path / "inputs"
    folder.mkdir()
    return {
        name: write_frame(folder, fixture, name, mjd, positions) for name, (mjd, positions) in FRAMES.items()
    }, fixture


def run(site, frames, context="site"):
    db = objects.connect(f"sqlite:///{site / 'objects.sqlite'}")
    objects.migrate(db)
    ledger = Ledger(site / "frames", f"{context} {objects.identity(db)}")
    summaries, redone = alert_night(db, frames, site / "packets", site / "alerts.tsv", ledger)
    db.close()
    with open(site / "alerts.tsv") as handle:
        table = list(csv.DictReader(handle, delimiter="\t"))
    return summaries, redone, table


def comparable(rows):
    """The alert table without what differs between sites (paths) or runs (first emission)."""
    return sorted(
        ({k: v for k, v in r.items() if k not in ("packet", "first_emitted")} for r in rows), key=str
    )


def test_a_run_redoes_only_the_new_frame_and_writes_the_night_a_run_from_scratch_writes(night, tmp_path):
    frames, _ = night
    following, batch = tmp_path / "following", tmp_path / "batch"
    following.mkdir(), batch.mkdir()
    _, redone, _ = run(following, [frames["A"], frames["B"]])
    assert redone == 2
    summaries, redone, table = run(following, [frames["C"], frames["A"], frames["B"]])  # any order
    assert redone == 1  # A and B come from the ledger
    assert [s["exposure"] for s in summaries if s["first_emitted"]] == [frames["C"].exposure] * 2
    _, redone, scratch = run(batch, [frames["A"], frames["B"], frames["C"]])
    assert redone == 3
    assert comparable(table) == comparable(scratch)
    assert sorted(p.name for p in (following / "packets").iterdir()) == sorted(
        f"{r['alert_id']}.avro" for r in table
    )
    # Object 2, first seen in C, carries the night's two earlier frames as non-detections,
    # in the frame-by-frame night as in the night taken at once.
    for rows in (table, scratch):
        (first,) = [r for r in rows if r["new_object"] == "True" and r["exposure"] == frames["C"].exposure]
        assert int(first["n_nondetections"]) == 2
        (packet,) = packets.read_packets(following / "packets" / f"{first['alert_id']}.avro")
        assert [n["exposure"] for n in packet["prv_nondetections"]] == [
            frames["A"].exposure,
            frames["B"].exposure,
        ]


def test_a_changed_frame_or_another_database_redoes_the_frames_from_it_on(night, tmp_path):
    frames, fixture = night
    site = tmp_path / "site"
    site.mkdir()
    assert run(site, list(frames.values()))[1] == 3
    assert run(site, list(frames.values()))[1] == 0  # nothing changed: all from the ledger
    # A packet gone from the ledger: its frame and the frames after it are alerted again.
    next((site / "frames" / frames["C"].exposure / "packets").iterdir()).unlink()
    assert run(site, list(frames.values()))[1] == 1
    # B scored again (a new model): B and C, after it, are alerted again; A is not.
    write_frame(frames["B"].scored.parent, fixture, "B", *FRAMES["B"], rb_score=0.97)
    assert run(site, list(frames.values()))[1] == 2
    # A new object database at the same place: every frame is associated again.
    (site / "objects.sqlite").unlink()
    summaries, redone, _ = run(site, list(frames.values()))
    assert redone == 3 and all(s["first_emitted"] for s in summaries)
