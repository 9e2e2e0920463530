"""Build a site's astrometry.net index files once, from its catalog of a field.

    python -m astrid.astrometry.index resources/catalogs/M67.ecsv r resources/index/M67

(run with ``workflow/scripts`` on ``PYTHONPATH``, as ``make`` does). Fields smaller than
about 20′ need this: Tycho-2's stars are too few there. The quads span 2′ to 11′ (presets
0-4), which suits frames of about 4′ to 30′; smaller frames take smaller quads
(``--scales=-1,0,1``: 1.4′ to 4′, for a frame of about 3′).
"""

import argparse
import sys

from astrid.astrometry.blind import AstrometryError, build_index
from astrid.skycal.catalogs import CatalogError, read_catalog


def main(argv: list[str] | None = None) -> int:
    """Read the catalog, build the index files, say where they went.

    Parameters
    ----------
    argv : list of str, optional
        Command-line arguments (default: ``sys.argv[1:]``).

    Returns
    -------
    int
        0 on success, 2 with a message naming the problem.
    """
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "catalog", help="catalog file (ECSV, FITS, Parquet, CSV; formats as reference.catalog_format)"
    )
    parser.add_argument("band", help="band whose magnitudes order the stars, e.g. r or G")
    parser.add_argument("folder", help="where the index files go, e.g. resources/index/<field>")
    parser.add_argument("--scales", default="0,1,2,3,4", help="quad-size presets (default 0-4: 2′ to 11′)")
    args = parser.parse_args(argv)
    try:
        catalog = read_catalog(args.catalog)
        if f"mag_{args.band}" not in catalog.colnames:
            bands = sorted(c[4:] for c in catalog.colnames if c.startswith("mag_"))
            raise CatalogError(
                f"{args.catalog}: no magnitudes in band {args.band} (it has {', '.join(bands)})"
            )
        written = build_index(catalog, args.band, args.folder, [int(s) for s in args.scales.split(",")])
    except (CatalogError, AstrometryError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
