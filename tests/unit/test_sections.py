"""FITS detector sections: parsed as a camera writes them, mirrored ranges included."""

import pytest

from astrid.io.sections import Section, SectionError, format_section, parse_section


def test_sections_parse_to_zero_based_half_open_bounds():
    assert parse_section("[1:1024,1:2048]") == Section(0, 1024, 0, 2048, False, False)
    assert parse_section(" [ 2048:1025 , 1:2048 ] ") == Section(1024, 2048, 0, 2048, True, False)
    assert parse_section("[1:10,20:11]").shape == (10, 10)
    assert parse_section("[3:5,2:4]").slices == (slice(1, 4), slice(2, 5))


@pytest.mark.parametrize("text", ["", "[1:10]", "[0:10,1:10]", "[a:b,1:2]", "1:10,1:10"])
def test_a_malformed_section_is_a_clear_error(text):
    with pytest.raises(SectionError, match="FITS section|count pixels from 1"):
        parse_section(text)


@pytest.mark.parametrize("text", ["[1:10,1:20]", "[10:1,1:20]", "[1:10,20:1]", "[10:1,20:1]"])
def test_format_is_the_inverse_of_parse(text):
    assert format_section(*parse_section(text)) == text
