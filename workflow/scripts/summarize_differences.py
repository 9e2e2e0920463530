"""Per-frame difference-imaging QA of a night, and a gallery of its top candidates."""

from astrid.fitsio import atomic_output
from astrid.qa import difference_table, plot_differences, plot_gallery
from astrid.runtime import logged

with logged(snakemake.log[0]):
    inputs, outputs, night = snakemake.input, snakemake.output, snakemake.wildcards.night
    table = difference_table(inputs.tables)
    with atomic_output(outputs.table) as tmp:
        table.to_csv(tmp, sep="\t", index=False)
    plot_differences(table, outputs.plot, night)
    plot_gallery(inputs.tables, inputs.cutouts, outputs.gallery, night)
