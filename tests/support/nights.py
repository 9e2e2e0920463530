"""Small nights for the tests: demo configurations as text for the workflow tests, and a
simulated raw night on disk (with the objects that made it) for the library tests.

The demo's 512² frames with one field and one band are the smallest that go through every
stage (a template needs enough stars); each test adds the sections it varies.
"""

from pathlib import Path

import numpy as np
from astropy.io import fits
from astropy.table import Table

from astrid.ingest.classify import IngestSettings
from astrid.ingest.night import ingest_night
from astrid.sim.camera import demo_camera, detector_maps
from astrid.sim.catalogs import catalog_width, make_field_catalog
from astrid.sim.night import NightPlan, simulate_night
from astrid.sim.scene import render_scene

ONE_FIELD = "[{name: F01, ra: 150.1, dec: 2.2}]"


def small_night(reference_exposures=3, new_exposures=3, extra="", fields=ONE_FIELD, **demo):
    """A 512², one-band demo night (one field unless ``fields`` says otherwise) without a
    follow-up night; ``demo`` adds keys to the demo section, ``extra`` whole sections after it."""
    lines = [
        "demo:",
        "  size: 512",
        f"  fields: {fields}",
        "  bands: [r]",
        f"  reference_exposures: {reference_exposures}",
        f"  new_exposures: {new_exposures}",
        "  followup_night: null",
        "  calibration_frames: 3",
        *(
            f"  {key}: {str(value).lower() if isinstance(value, bool) else value}"
            for key, value in demo.items()
        ),
    ]
    return "\n".join(lines) + "\n" + extra


def rows_of(manifest, frame_type, band=None, exptime=None):
    """Manifest rows of one frame type (and band, exposure time) as dicts, in time order."""
    selected = manifest[manifest["frame_type"] == frame_type]
    if band is not None:
        selected = selected[selected["band"] == band]
    if exptime is not None:
        selected = selected[selected["exptime"] == exptime]
    return [row for _, row in selected.iterrows()]


class SmallNight:
    """A simulated raw night on disk plus the objects that made it."""

    def __init__(self, root, size, role, seed=1234, layout="single"):
        self.camera = demo_camera(size, layout)
        self.fields = (("T01", 45.0, -5.0),)
        self.catalogs = {
            name: make_field_catalog(name, ra, dec, catalog_width(self.camera), seed)
            for name, ra, dec in self.fields
        }
        self.plan = NightPlan(
            night="20261127", role=role, fields=self.fields, bands=("r",), science_per_field_band=2
        )
        self.raw_dir = Path(root) / "raw" / self.plan.night
        self.truth_path = Path(root) / "truth.fits"
        self.seed = seed
        simulate_night(self.plan, self.camera, self.catalogs, self.raw_dir, self.truth_path, seed)
        self.maps = detector_maps(self.camera, self.plan.bands, seed)
        with fits.open(self.truth_path) as hdul:
            self.truth = {hdu.name: Table(hdu.data) for hdu in hdul[1:]}

    def ingest(self, **settings):
        return ingest_night(self.raw_dir, self.plan.night, IngestSettings(**settings), 3, True)

    def frame_truth(self, exposure):
        frames = self.truth["FRAMES"]
        return frames[frames["exposure"] == exposure][0]

    def point_source_image(self, exposure):
        """Noiseless image (electrons, flat = 1) of the frame's point sources."""
        sources = self.truth["SOURCES"]
        sources = sources[(sources["exposure"] == exposure) & (sources["kind"] != "galaxy")]
        fwhm = float(self.frame_truth(exposure)["fwhm_px"])
        return render_scene((self.camera.ny, self.camera.nx), sources, fwhm, self.plan.moffat_beta)

    def cosmic_pixels(self, exposure):
        cosmics = self.truth["COSMICS"]
        cosmics = cosmics[cosmics["exposure"] == exposure]
        return np.asarray(cosmics["y"]), np.asarray(cosmics["x"])


def simulate_site_nights(root, camera, field, catalog, seed, reference="20261101", new=("20261127", 3)):
    """A site's reference night (3 science frames, written into ``raw/``) and its next night
    (``new`` = (night, science frames), written into ``simulated/`` for the test to deliver
    as it likes), one field in band r, 3 bias, dark and flat frames each, no defects; their
    truth tables in ``truth/``.

    Parameters
    ----------
    root : pathlib.Path
        The site's folder.
    camera : astrid.sim.camera.Camera
        The simulated camera.
    field : tuple
        (name, ra, dec) of the field.
    catalog : astropy.table.Table
        The field's catalog.
    seed : int
        Seed of both nights.
    reference : str
        The reference night.
    new : tuple of (str, int)
        The next night and its number of science frames.
    """
    for name, role, count in ((reference, "reference", 3), (*new[:1], "new", new[1])):
        plan = NightPlan(
            night=name,
            role=role,
            fields=(field,),
            bands=("r",),
            science_per_field_band=count,
            n_bias=3,
            n_dark=3,
            n_flat=3,
            defects=False,
        )
        folder = Path(root) / ("raw" if role == "reference" else "simulated") / name
        simulate_night(plan, camera, {field[0]: catalog}, folder, Path(root) / "truth" / f"{name}.fits", seed)


STREAM_SITE = """demo: {{enabled: false}}
raw_dir: {raw}
reference: {{nights: ["{reference}"], catalog_dir: {catalogs}}}
ingest: {{settle_seconds: 1.0}}
"""


def stream_site(root, size, new_frames, seed=20261206, night="20261127", reference="20261101", extra=""):
    """A site whose reference night is on disk and whose next night is being observed: its
    calibration frames are in the night folder already (taken at dusk) and its science
    frames wait to be written there one by one, as a camera would (the follow mode's test
    and benchmark). Nothing is processed yet.

    Parameters
    ----------
    root : pathlib.Path
        The site's working folder: ``raw/`` (the site's raw_dir), ``catalogs/``,
        ``simulated/`` (the science frames still to arrive), ``truth/`` and ``site.yaml``
        (with ``extra`` appended).
    size : int
        Side of the simulated CCD (512 for the tests, 4096 for the benchmark).
    new_frames : int
        Science frames of the night being observed.

    Returns
    -------
    list of pathlib.Path
        The science frames to write into ``raw/<night>``, in time order.
    """
    import os
    import shutil
    import time

    root = Path(root)
    field = ("F01", 150.1, 2.2)
    camera = demo_camera(size)
    catalog = make_field_catalog(*field, catalog_width(camera), seed)
    (root / "catalogs").mkdir(parents=True)
    catalog.write(root / "catalogs" / "F01.ecsv")
    simulate_site_nights(root, camera, field, catalog, seed, reference, (night, new_frames))
    tonight = root / "raw" / night
    tonight.mkdir()
    arriving = []
    for path in sorted((root / "simulated" / night).glob("*.fits")):
        if fits.getheader(path)["IMAGETYP"] == "Light Frame":
            arriving.append(path)
        else:
            shutil.copy2(path, tonight / path.name)
    settled = time.time() - 3600
    for path in (root / "raw").rglob("*.fits"):
        os.utime(path, (settled, settled))
    (root / "site.yaml").write_text(
        STREAM_SITE.format(raw=root / "raw", reference=reference, catalogs=root / "catalogs") + extra
    )
    return arriving
