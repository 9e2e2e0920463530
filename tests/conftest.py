"""Shared fixtures: a small seeded raw night, the repository root, the real data folder."""

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from astropy.table import Table

from astrid.ingest.classify import IngestSettings
from astrid.ingest.night import ingest_night
from astrid.sim.camera import Camera, detector_maps
from astrid.sim.catalogs import catalog_width, make_field_catalog
from astrid.sim.night import NightPlan, simulate_night
from astrid.sim.scene import render_scene

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests" / "support"))
SHARED = Path(os.environ.get("ASTRID_SHARED", REPO.parent / "shared")).resolve()
REAL = SHARED / "data" / "real"


def rows_of(manifest, frame_type, band=None, exptime=None):
    """Manifest rows of one frame type (and band, exposure time) as dicts, in time order."""
    selected = manifest[manifest["frame_type"] == frame_type]
    if band is not None:
        selected = selected[selected["band"] == band]
    if exptime is not None:
        selected = selected[selected["exptime"] == exptime]
    return [row for _, row in selected.iterrows()]


@pytest.fixture(scope="session")
def repo_root():
    return REPO


@pytest.fixture(scope="session")
def real_data():
    """The real frames under ../shared/data/real; the test is skipped, saying why, without them."""
    if not REAL.is_dir():
        pytest.skip(f"real data folder {REAL} is absent (set ASTRID_SHARED to the shared/ folder)")
    return REAL


@pytest.fixture
def row_blocks_of(monkeypatch):
    """``use(rows)`` makes the image helpers of ``astrid.blocks`` work in blocks of about
    ``rows`` rows, or on the whole image at once with ``rows=0``, for the rest of a test."""
    from astrid.imaging import blocks

    original = blocks.row_blocks

    def use(rows):
        def split(n_rows, workers=1, multiple=1):
            return [(0, n_rows)] if rows == 0 else original(n_rows, workers, multiple, block_rows=rows)

        monkeypatch.setattr(blocks, "row_blocks", split)

    return use


class SmallNight:
    """A simulated raw night on disk plus the objects that made it."""

    def __init__(self, root, size, role, seed=1234):
        self.camera = Camera(ny=size, nx=size)
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


@pytest.fixture(scope="session")
def small_night(tmp_path_factory):
    """A 1024² new night of one field in band r: enough stars and cosmic rays for statistics."""
    return SmallNight(tmp_path_factory.mktemp("small_night"), 1024, "new")


def snakemake(*args, workdir=None, timeout=900, env=None):
    """Run Snakemake on the repository's workflow (in ``workdir`` if given, with environment
    ``env`` if given); return the result."""
    import subprocess
    import sys

    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "workflow" / "Snakefile")]
    if workdir is not None:
        command += ["--directory", str(workdir)]
    return subprocess.run(
        command + list(args), cwd=REPO, capture_output=True, text=True, timeout=timeout, env=env
    )


def jobs_in_dry_run(output):
    """Rule name → job count from the 'Job stats' table of a dry-run."""
    import re

    table = output.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


# --- the SLURM night (tests/cluster/test_slurm.py), started when the session begins


def pytest_collection_modifyitems(session, config, items):
    """The SLURM night's tests last: their night runs in the background meanwhile."""
    items.sort(key=lambda item: item.nodeid.startswith("tests/cluster/"))


def pytest_collection_finish(session):
    """Start the SLURM night at once when its test is selected: it waits on SLURM most of
    the time, so it runs beside the rest of the suite instead of after it."""
    if session.config.option.collectonly:
        return
    if any(item.nodeid.startswith("tests/cluster/") for item in session.items):
        from slurm import BackgroundNight

        session.config.stash[SLURM_NIGHT] = BackgroundNight()


def pytest_sessionfinish(session):
    night = session.config.stash.get(SLURM_NIGHT, None)
    if night is not None:
        night.stop()


SLURM_NIGHT = pytest.StashKey()


@pytest.fixture(scope="session")
def slurm_night(request):
    """The BackgroundNight started at collection (see pytest_collection_finish)."""
    night = request.config.stash.get(SLURM_NIGHT, None)
    if night is None:
        pytest.skip("the SLURM night was not started (its test was not collected with the session)")
    if night.skip_reason:
        pytest.skip(f"no local SLURM to test on: {night.skip_reason}")
    return night
