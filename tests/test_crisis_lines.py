"""Crisis lines: data for every region, the locale mapping, the values the script speaks."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicecoach.crisis_lines import (
    CrisisLine,
    lines_for,
    load_lines,
    region_from_locale,
    regions,
    resolve_region,
    script_values,
)
from voicecoach.errors import ConfigError


def test_every_region_from_the_domain_is_shipped():
    assert set(regions()) >= {"US", "CA", "UK", "IE", "AU", "NZ", "INTL"}


@pytest.mark.parametrize(
    "region, number, spoken, emergency",
    [
        ("US", "988", "nine, eight, eight", "911"),
        ("CA", "9-8-8", "nine, eight, eight", "911"),
        ("UK", "116 123", "one, one, six, one, two, three", "999"),
        ("IE", "116 123", "one, one, six, one, two, three", "112"),
        ("AU", "13 11 14", "one, three, one, one, one, four", "000"),
        ("NZ", "1737", "one, seven, three, seven", "111"),
    ],
)
def test_lines(region, number, spoken, emergency):
    line = lines_for(region)
    assert isinstance(line, CrisisLine)
    assert (line.region, line.number, line.spoken, line.emergency) == (
        region,
        number,
        spoken,
        emergency,
    )
    assert number in line.printed()


def test_us_mentions_texting_and_uk_is_samaritans():
    assert "text" in lines_for("US").text_option
    assert lines_for("UK").name == "Samaritans"


def test_international_fallback():
    line = lines_for("INTL")
    assert "findahelpline.com" in line.name + line.number
    assert "local emergency number" in line.emergency and "112" in line.emergency
    assert lines_for("XX").region == "INTL"
    values = script_values("INTL")
    # spoken as words a person can type, never as "the number is find a helpline dot com"
    assert "find, a, help, line, dot com" in values["crisis_line_reach"]
    assert "number is" not in values["crisis_line_again"]
    assert "one, one, two" in values["emergency_number"]


@pytest.mark.parametrize(
    "env, region",
    [
        ({"LANG": "en_GB.UTF-8"}, "UK"),
        ({"LANG": "en_US.UTF-8"}, "US"),
        ({"LANG": "fr_CA.UTF-8"}, "CA"),
        ({"LANG": "en_IE"}, "IE"),
        ({"LANG": "en_AU.UTF-8"}, "AU"),
        ({"LANG": "en_NZ.UTF-8"}, "NZ"),
        ({"LANG": "de_DE.UTF-8"}, "INTL"),
        ({"LANG": "C.UTF-8"}, "INTL"),
        ({"LANG": "POSIX"}, "INTL"),
        ({}, "INTL"),
        ({"LC_ALL": "en_GB.UTF-8", "LANG": "en_US.UTF-8"}, "UK"),
        ({"LC_MESSAGES": "en_AU.UTF-8", "LANG": "en_US.UTF-8"}, "AU"),
        ({"LC_ALL": "", "LANG": "en_NZ"}, "NZ"),
    ],
)
def test_region_from_locale(env, region):
    assert region_from_locale(env) == region


def test_resolve_config_values():
    assert resolve_region("uk") == "UK"
    assert resolve_region("GB") == "UK"
    assert resolve_region("auto", {"LANG": "en_US.UTF-8"}) == "US"
    assert resolve_region("nowhere") == "INTL"


def test_script_values_are_spoken_without_digits():
    values = script_values("US")
    assert set(values) == {
        "crisis_line_name",
        "crisis_line_spoken",
        "crisis_line_number",
        "crisis_line_text",
        "crisis_line_reach",
        "crisis_line_again",
        "emergency_number",
    }
    assert values["crisis_line_number"] == "988"
    for region in regions():
        v = script_values(region)
        assert not any(ch.isdigit() for ch in v["crisis_line_spoken"] + v["emergency_number"])


def test_bad_data_names_file_and_line(tmp_path: Path):
    bad = tmp_path / "lines.yaml"
    bad.write_text(
        "regions:\n  US:\n    name: x\n    number: '988'\n    spoken: '988'\n    emergency: '911'\n"
    )
    with pytest.raises(ConfigError, match=r"lines.yaml:5: .*spell the digits"):
        load_lines(bad)
    bad.write_text("regions:\n  US:\n    name: x\n")
    with pytest.raises(ConfigError, match=r"lines.yaml:\d+: region US: 'number'"):
        load_lines(bad)
