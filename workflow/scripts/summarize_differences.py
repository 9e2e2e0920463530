"""Per-frame difference-imaging QA of a night, and a gallery of its top candidates.

Inputs: the night's candidate tables and cutouts. Outputs: results/qa/<night>/difference.tsv,
difference.png and candidates.png. No settings.
"""

from astrid.io.fitsio import atomic_output
from astrid.pipeline.runtime import logged
from astrid.report.difference import difference_table, plot_differences, plot_gallery

with logged(snakemake.log[0]):
    inputs, outputs, night = snakemake.input, snakemake.output, snakemake.wildcards.night
    table = difference_table(inputs.tables)
    with atomic_output(outputs.table) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    plot_differences(table, outputs.plot, night)
    plot_gallery(inputs.tables, inputs.cutouts, outputs.gallery, night)
