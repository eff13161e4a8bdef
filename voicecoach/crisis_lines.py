"""Crisis lines by region, kept as data (``voicecoach/data/crisis_lines.yaml``).

The crisis-support script speaks ``{crisis_line_name}``, ``{crisis_line_spoken}``,
``{crisis_line_number}``, ``{crisis_line_text}`` and ``{emergency_number}``; :func:`script_values`
gives those for a region. The region comes from config (``region``), or with ``auto`` from the
system locale (:func:`region_from_locale`), with an international fallback that always exists.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from voicecoach.config import data_path
from voicecoach.errors import ConfigError
from voicecoach.yamlio import line_of, read_yaml_file

FALLBACK = "INTL"
_FIELDS = ("name", "number", "spoken", "emergency")


@dataclass(frozen=True)
class CrisisLine:
    """Where to turn right now, for one region."""

    region: str
    """US, CA, UK, IE, AU, NZ or INTL."""
    name: str
    """The service as the coach names it ("Samaritans")."""
    number: str
    """As printed ("116 123")."""
    spoken: str
    """Digit by digit, as spoken ("one, one, six, one, two, three")."""
    text_option: str
    """A spoken sentence about texting or when it is open ("" when there is none)."""
    emergency: str
    """The emergency number, as printed ("999")."""
    emergency_spoken: str = ""
    """The emergency number, as spoken ("nine, nine, nine")."""
    reach: str = ""
    """How to reach it, spoken after its name ("on nine, eight, eight"); from ``spoken`` when unset."""
    again: str = ""
    """The line said once more ("the number is nine, eight, eight"); from ``spoken`` when unset."""

    def printed(self) -> str:
        """One line for the screen."""
        return f"{self.name}: {self.number}  ·  Emergency: {self.emergency}"


@dataclass(frozen=True)
class CrisisLines:
    """Every region's line, and which locale territories map to which region."""

    lines: dict[str, CrisisLine]
    territories: dict[str, str]
    fallback: str = FALLBACK


def load_lines(path: Path | None = None) -> CrisisLines:
    """Read and check the crisis-line data; problems name file and line."""
    path = path or data_path("crisis_lines.yaml")
    data = read_yaml_file(path, ConfigError)
    file = str(path)
    if not isinstance(data, dict) or not isinstance(data.get("regions"), dict):
        raise ConfigError("expected a mapping with 'regions'", file, line_of(data))
    regions = data["regions"]
    lines: dict[str, CrisisLine] = {}
    territories: dict[str, str] = {}
    for region, spec in regions.items():
        where = line_of(regions, region)
        if not isinstance(spec, dict):
            raise ConfigError(f"region {region}: expected a mapping", file, where)
        for key in _FIELDS:
            value = spec.get(key)
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(
                    f"region {region}: '{key}' must be non-empty text",
                    file,
                    line_of(spec, key) or where,
                )
        if re.search(r"\d", spec["spoken"]):
            raise ConfigError(
                f"region {region}: 'spoken' must spell the digits as words",
                file,
                line_of(spec, "spoken"),
            )
        region = str(region).upper()
        lines[region] = CrisisLine(
            region=region,
            name=spec["name"],
            number=spec["number"],
            spoken=spec["spoken"],
            text_option=str(spec.get("text") or ""),
            emergency=spec["emergency"],
            emergency_spoken=str(spec.get("emergency_spoken") or spec["emergency"]),
            reach=str(spec.get("reach") or f"on {spec['spoken']}"),
            again=str(spec.get("again") or f"the number is {spec['spoken']}"),
        )
        for territory in spec.get("locales") or []:
            territories[str(territory).upper()] = region
    fallback = str(data.get("fallback", FALLBACK)).upper()
    if fallback not in lines:
        raise ConfigError(
            f"fallback region {fallback} has no line", file, line_of(data, "fallback")
        )
    return CrisisLines(lines, territories, fallback)


@lru_cache(maxsize=1)
def _builtin() -> CrisisLines:
    return load_lines()


def regions() -> list[str]:
    """The regions with a line."""
    return sorted(_builtin().lines)


def region_from_locale(env: dict[str, str] | None = None) -> str:
    """The region for the system locale: LC_ALL, then LC_MESSAGES, then LANG.

    ``en_GB.UTF-8`` → UK, ``en_US`` → US, ``fr_CA`` → CA; ``C``, ``POSIX`` or an unknown
    territory → INTL.
    """
    source: Mapping[str, str] = os.environ if env is None else env
    data = _builtin()
    for var in ("LC_ALL", "LC_MESSAGES", "LANG"):
        value = (source.get(var) or "").strip()
        if not value:
            continue
        m = re.match(r"^[A-Za-z]{2,3}[_-]([A-Za-z]{2})\b", value)
        if not m:
            return data.fallback  # the first set variable decides (C, POSIX, "en")
        return data.territories.get(m.group(1).upper(), data.fallback)
    return data.fallback


def resolve_region(region: str | None, env: dict[str, str] | None = None) -> str:
    """A config value (``auto``, ``uk``, ``GB``...) as a region with a line."""
    data = _builtin()
    value = (region or "auto").strip().upper()
    if value in ("AUTO", ""):
        return region_from_locale(env)
    if value in data.lines:
        return value
    return data.territories.get(value, data.fallback)


def lines_for(region: str | None) -> CrisisLine:
    """The line for a region (or ``auto``); an unknown region gets the international fallback."""
    data = _builtin()
    return data.lines[resolve_region(region)]


def script_values(region: str | None) -> dict[str, str]:
    """The values the crisis-support script's text refers to."""
    line = lines_for(region)
    return {
        "crisis_line_name": line.name,
        "crisis_line_spoken": line.spoken,
        "crisis_line_number": line.number,
        "crisis_line_text": line.text_option,
        "emergency_number": line.emergency_spoken,
        "crisis_line_reach": line.reach or f"on {line.spoken}",
        "crisis_line_again": line.again or f"the number is {line.spoken}",
    }
