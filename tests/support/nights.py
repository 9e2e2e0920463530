"""Small demo nights for the workflow tests, as the text of a config file.

The demo's 512² frames with one field and one band are the smallest that go through every
stage (a template needs enough stars); each test adds the sections it varies.
"""

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
