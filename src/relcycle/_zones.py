"""The one time-zone resolver (private; public as :func:`relcycle.rules.resolve_zone`)."""

from __future__ import annotations

from datetime import UTC, tzinfo

from relcycle.errors import RecordTypeError, UsageError

__all__ = ["resolve_zone"]


_UTC_NAMES = frozenset({"UTC", "Z", "ETC/UTC", "GMT", "ETC/GMT", "UNIVERSAL", "ZULU"})


def resolve_zone(zone: object, *, what: str = "tz") -> tzinfo:
    """The one time-zone resolver: a tzinfo as it is, or an IANA name (``"Europe/Kyiv"``).

    ``"UTC"``, ``"Z"`` and ``"Etc/UTC"`` (in any case) are UTC. Every reader, the
    command line, segmentation and the columnar engine resolve zones here, so a
    name one of them accepts, all of them accept.

    Args:
        zone: A tzinfo or a zone name.
        what: The option or argument named in the error.

    Raises:
        UsageError: For an unknown name.
        RecordTypeError: For anything that is neither a tzinfo nor a string.
    """
    if isinstance(zone, tzinfo):
        return zone
    if not isinstance(zone, str):
        raise RecordTypeError(
            record=what, field=what, value=zone, expected="a tzinfo or an IANA zone name"
        )
    name = zone.strip()
    if name.upper() in _UTC_NAMES:
        return UTC
    if name:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            return ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            pass
    raise UsageError(
        f"{what} {zone!r}: not a known time zone (give an IANA name such as 'Europe/Kyiv' or 'UTC')"
    )
