"""Shared fixtures: a small seeded raw night, the repository root, the real data folder, and
the SLURM night started beside the suite. Helpers the tests import live in tests/support/
(on pytest's path)."""

import pytest
from nights import SmallNight
from workflow_runs import REAL, REPO


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


@pytest.fixture(scope="session")
def small_night(tmp_path_factory):
    """A 1024² new night of one field in band r: enough stars and cosmic rays for statistics."""
    return SmallNight(tmp_path_factory.mktemp("small_night"), 1024, "new")


# --- the order of the suite, and the SLURM night (tests/cluster/test_slurm.py) started when
# the session begins. `make test` runs two pytest-xdist workers, a test module to each
# (--dist loadfile) in the order below: the end-to-end nights first, so that the short unit
# modules even out the two workers' ends.


def pytest_collection_modifyitems(session, config, items):
    """The workflow runs (marked slow) first, the SLURM night's tests last: their night runs
    in the background meanwhile."""

    def rank(item):
        if item.nodeid.startswith("tests/cluster/"):
            return 2
        return 0 if item.get_closest_marker("slow") else 1

    items.sort(key=rank)


def pytest_collection_finish(session):
    """Start the SLURM night at once when its test is selected (in a run without workers):
    it waits on SLURM most of the time, so it runs beside the rest of the suite instead of
    after it."""
    if session.config.option.collectonly or is_xdist_worker(session.config):
        return
    if any(item.nodeid.startswith("tests/cluster/") for item in session.items):
        start_slurm_night(session.config)


def pytest_xdist_node_collection_finished(node, ids):
    """With workers, the controller starts the night once a worker has collected its test,
    and shares it with the worker that runs the test (slurm.SharedNight)."""
    config = node.config
    if SLURM_NIGHT not in config.stash and any(nodeid.startswith("tests/cluster/") for nodeid in ids):
        start_slurm_night(config).share(shared_night_file(config))


def pytest_sessionfinish(session):
    night = session.config.stash.get(SLURM_NIGHT, None)
    if night is not None:
        night.stop()


SLURM_NIGHT = pytest.StashKey()


def is_xdist_worker(config):
    return hasattr(config, "workerinput")


def start_slurm_night(config):
    from slurm import BackgroundNight

    config.stash[SLURM_NIGHT] = BackgroundNight()
    return config.stash[SLURM_NIGHT]


def shared_night_file(config):
    """Where the controller describes the night to its workers: beside their base folders
    (a worker's is <the controller's base folder>/popen-gw<n>)."""
    base = config._tmp_path_factory.getbasetemp()
    return (base.parent if is_xdist_worker(config) else base) / "slurm-night.json"


@pytest.fixture(scope="session")
def slurm_night(request):
    """The BackgroundNight started with the session (see above), or a worker's view of it."""
    if is_xdist_worker(request.config):
        from slurm import SharedNight

        night = SharedNight.find(shared_night_file(request.config))
    else:
        night = request.config.stash.get(SLURM_NIGHT, None)
    if night is None:
        pytest.skip("the SLURM night was not started (its test was not collected with the session)")
    if night.skip_reason:
        pytest.skip(f"no local SLURM to test on: {night.skip_reason}")
    return night
