"""Sites made of the real frames in ../shared/data/real, as an observatory would set them up:
the frames linked into a raw folder (never copied into the repository) and a site config
(tests/real/)."""

# The DECam community-pipeline frames' FILTER card (pairs/decam_sfft_ccdN6).
DECAM_FILTER = "i DECam SDSS c0003 7835.0 1470.0"
# An archive site: DECam frames of 2016 as the reference night, reduced frames throughout.
# Format with raw= (the site's raw_dir) and decam_filter=DECAM_FILTER.
ARCHIVE_SITE = """demo: {{enabled: false}}
raw_dir: {raw}
reduced: {{all_nights: true}}
ingest:
  band_map: {{"{decam_filter}": i}}
reference: {{nights: ["20160818"]}}
# 256² stamps hold a few dozen stars: register on fainter ones, with a looser residual.
align: {{max_rms_px: 1.0, min_matches: 6, detect_sigma: 7.0}}
# The frames were resampled by SWarp (DECam) or drizzled (JWST): correlated noise.
difference: {{renormalise: true}}
realbogus:
  min_f1_score: 0.0
  threshold: 0.01  # the plumbing is under test here, not the model: nearly every candidate alerts
  injection: {{per_megapixel: 200.0, min_separation: 20.0}}
  samples: {{passes: 2, spoiled_passes: 1}}
  training: {{epochs: 5, batch_size: 16}}
"""


def link(source, night_dir):
    """``source`` linked into ``night_dir`` under its own name (the folder made if needed)."""
    night_dir.mkdir(parents=True, exist_ok=True)
    (night_dir / source.name).symlink_to(source)


def decam_frames(real_data, epoch):
    """The five DECam frames of one epoch in ../shared/data/real/pairs: "18" (2016 August 18,
    the reference night) or "04" (2018 August 4)."""
    return [
        real_data / "pairs" / "decam_sfft_ccdN6" / f"DEC-OBS{epoch}{letter}.mini.fits" for letter in "abcde"
    ]
