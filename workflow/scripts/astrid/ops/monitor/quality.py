"""Data-quality trends of the newest night against earlier nights, and quarantine."""

import math
from collections.abc import Callable
from pathlib import Path
from statistics import median

from astrid.ops.monitor.status import OK, Check, graded, read_tsv, to_number


def _night_values(results, nights, table, value, key):
    """``{night: {key: [values]}}`` from ``results/qa/<night>/<table>`` of ``nights``; rows
    whose ``value(row)`` is None are skipped."""
    values = {}
    for night in nights:
        for row in read_tsv(Path(results) / "qa" / night / table):
            measured = value(row)
            if measured is not None:
                values.setdefault(night, {}).setdefault(key(row), []).append(measured)
    return values


def trend(
    name: str,
    nights: dict[str, dict],
    thresholds: dict,
    settings: dict,
    deviation: Callable[[float, float], float | None],
    what: str,
    unit: str,
    per: str = "band",
) -> Check:
    """The newest night's median of a QA figure against the median of the previous nights'
    medians, per group (band, or field and band); the worst group's deviation is graded.

    Parameters
    ----------
    name : str
        The check's name.
    nights : dict of str to dict
        Night → group → the night's values of the figure (``{night: {key: [values]}}``).
    thresholds : dict
        ``warning`` and ``critical`` deviations, in the unit of ``deviation``.
    settings : dict
        ``history_nights`` (earlier nights compared with at most) and ``min_nights`` (a
        group with fewer is not compared).
    deviation : callable
        (newest median, reference median) → how much worse the newest night is, higher
        worse; None when it cannot be told.
    what : str
        The figure and its unit, for the message ("PSF FWHM (px)").
    unit : str
        The deviation's unit, written after it ("x", " mag").
    per : str
        What a group is, for the message ("band", "field/band").

    Returns
    -------
    Check
        The worst group's deviation, graded; ok with no value while no group has
        ``min_nights`` earlier nights.
    """
    if not nights:
        return Check(name, OK, None, f"{name}: no QA table with {what} yet")
    latest = max(nights)
    previous = sorted(n for n in nights if n < latest)[-settings["history_nights"] :]
    worst = None
    for group, values in nights[latest].items():
        history = [median(nights[n][group]) for n in previous if nights[n].get(group)]
        if len(history) < settings["min_nights"]:
            continue
        now_value, reference = median(values), median(history)
        measured = deviation(now_value, reference)
        if measured is not None and (worst is None or measured > worst[0]):
            worst = (measured, group, now_value, reference, len(history))
    if worst is None:
        return Check(
            name,
            OK,
            None,
            f"{name}: night {latest} has no {per} with {settings['min_nights']} "
            f"earlier nights of {what} to compare with",
        )
    measured, group, now_value, reference, n = worst
    check = graded(name, measured, thresholds["warning"], thresholds["critical"], unit)
    label = "/".join(group) if isinstance(group, tuple) else group
    check.message += (
        f"; night {latest} {label}: {what} {now_value:.4g} against {reference:.4g}, "
        f"the median of {n} earlier night(s)"
    )
    return check


def _ratio(now_value, reference):
    return now_value / reference if reference > 0 else None


def _shallower(now_value, reference):
    return reference - now_value


def _offset(now_value, reference):
    return abs(now_value - reference)


def check_quality(results: Path | str, settings: dict) -> list[Check]:
    """Data-quality trends of the newest night against the previous ones, from the QA
    tables (``results/qa/<night>/difference.tsv`` and ``calibration.tsv``) and the
    manifests, and the newest night's quarantined fraction. Only the newest
    ``history_nights`` + 1 nights with QA tables are read.

    Parameters
    ----------
    results : pathlib.Path or str
        The results folder (``qa/``, ``manifest/``, ``quarantine/``).
    settings : dict
        The ``monitoring.quality`` config section: ``history_nights``, ``min_nights``, and
        thresholds for ``seeing_ratio``, ``sky_ratio``, ``limiting_mag_loss`` (mag),
        ``zero_point_offset`` (mag) and ``quarantined_fraction``.

    Returns
    -------
    list of Check
        ``seeing_ratio``, ``sky_ratio``, ``limiting_mag_loss``, ``zero_point_offset`` and
        ``quarantined_fraction``, in that order.
    """
    nights = sorted(p.name for p in Path(results).glob("qa/[0-9]*") if p.is_dir())
    nights = nights[-(settings["history_nights"] + 1) :]
    exptimes = {}
    for night in nights:
        for row in read_tsv(Path(results) / "manifest" / f"{night}.tsv"):
            if (to_number(row.get("exptime")) or 0) > 0:
                exptimes[row["exposure"]] = float(row["exptime"])

    def differenced(column):
        return lambda row: to_number(row.get(column)) if row.get("status") == "ok" else None

    def zero_point(row):
        # Frame zero point minus its reference's, per second: REFZP + 2.5 log10(FLXRATIO)
        # is the frame's magnitude of 1 e-; the reference's term is constant per field/band.
        ratio, exptime = to_number(row.get("flux_ratio")), exptimes.get(row.get("exposure"))
        ok = row.get("status") == "ok" and ratio and ratio > 0 and exptime
        return 2.5 * math.log10(ratio / exptime) if ok else None

    def sky_rate(row):
        level, exptime = to_number(row.get("sky_level")), exptimes.get(row.get("exposure"))
        return level / exptime if level is not None and exptime else None

    def band(row):
        return row.get("band") or "-"

    def field_band(row):
        return (row.get("field") or "-", band(row))

    seeing = _night_values(results, nights, "difference.tsv", differenced("fwhm"), band)
    sky = _night_values(results, nights, "calibration.tsv", sky_rate, band)
    depth = _night_values(results, nights, "difference.tsv", differenced("limiting_mag"), band)
    zero_points = _night_values(results, nights, "difference.tsv", zero_point, field_band)
    return [
        trend("seeing_ratio", seeing, settings["seeing_ratio"], settings, _ratio, "PSF FWHM (px)", "x"),
        trend("sky_ratio", sky, settings["sky_ratio"], settings, _ratio, "sky (e-/s)", "x"),
        trend(
            "limiting_mag_loss",
            depth,
            settings["limiting_mag_loss"],
            settings,
            _shallower,
            "5-sigma limit (mag)",
            " mag",
        ),
        trend(
            "zero_point_offset",
            zero_points,
            settings["zero_point_offset"],
            settings,
            _offset,
            "zero point per second relative to the reference (mag)",
            " mag",
            per="field/band",
        ),
        check_quarantine(results, settings["quarantined_fraction"]),
    ]


def check_quarantine(results: Path | str, thresholds: dict) -> Check:
    """Fraction of the newest night's raw frames that ingest quarantined.

    Parameters
    ----------
    results : pathlib.Path or str
        The results folder (``manifest/<night>.tsv``, ``quarantine/<night>.tsv``).
    thresholds : dict
        ``warning`` and ``critical`` fractions (0 to 1).

    Returns
    -------
    Check
        ``quarantined_fraction``; ok with no value when no night was ingested or the
        newest has no frames.
    """
    name = "quarantined_fraction"
    nights = sorted(
        {p.stem for p in Path(results).glob("manifest/[0-9]*.tsv")}
        | {p.stem for p in Path(results).glob("quarantine/[0-9]*.tsv")}
    )
    if not nights:
        return Check(name, OK, None, f"{name}: no night ingested yet")
    night = nights[-1]
    usable = len(read_tsv(Path(results) / "manifest" / f"{night}.tsv"))
    quarantined = len(read_tsv(Path(results) / "quarantine" / f"{night}.tsv"))
    if usable + quarantined == 0:
        return Check(name, OK, None, f"{name}: night {night} has no frames")
    check = graded(
        name, quarantined / (usable + quarantined), thresholds["warning"], thresholds["critical"], ""
    )
    check.message += f"; night {night}: {quarantined} of {usable + quarantined} frames quarantined"
    return check
