"""Column mappings: a source's own headers read as the contract's columns.

A mapping is ``{table: {contract column: source header}}``; the table ``"*"``
stands for every table that has the contract column (what ``--map
client_id=HEADER`` gives on the command line). :func:`propose_mapping` guesses a
mapping from the headers a source has (``relcycle check``).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Collection, Iterator, Mapping, Sequence

import attrs

from relcycle.errors import Problem, UsageError

from ._load import Rename, Row, RowError, TableInput, _Fatal
from ._schema import TABLES, spec

__all__ = [
    "apply_rename",
    "check_rename",
    "map_flags",
    "mapped_headers",
    "parse_map_flags",
    "propose_mapping",
]

_TABLE_NAMES = tuple(s.name for s in TABLES)

#: Headers of CRM exports, by contract column (compared without case, blanks or
#: punctuation). A column's own name always matches. Besides English ones, the
#: common headers of Ukrainian and Russian exports (the source texts' languages)
#: and of German ones: ``Контрагент``, ``Дата``, ``Сума``, ``Kunde``, ``Datum``,
#: ``Betrag``.
SYNONYMS: Mapping[str, tuple[str, ...]] = {
    "client_id": (
        "customer id",
        "customer",
        "customer number",
        "customer no",
        "client",
        "client number",
        "account id",
        "account",
        "account number",
        "company id",
        # uk, ru, de
        "клієнт",
        "код клієнта",
        "контрагент",
        "покупець",
        "замовник",
        "клиент",
        "код клиента",
        "покупатель",
        "заказчик",
        "kunde",
        "kundennummer",
        "kunden nr",
    ),
    "order_id": (
        "order",
        "order number",
        "order no",
        "invoice",
        "invoice number",
        "invoice id",
        "замовлення",
        "номер замовлення",
        "документ",
        "номер документа",
        "заказ",
        "номер заказа",
        "auftrag",
        "auftragsnummer",
        "bestellung",
        "bestellnummer",
        "rechnungsnummer",
    ),
    "placed_at": (
        "order date",
        "date",
        "ordered at",
        "created at",
        "invoice date",
        "order time",
        "дата",
        "дата замовлення",
        "дата документа",
        "дата заказа",
        "datum",
        "bestelldatum",
        "auftragsdatum",
        "rechnungsdatum",
    ),
    "amount": (
        "total",
        "amount",
        "value",
        "order total",
        "order value",
        "revenue",
        "net amount",
        "сума",
        "сума документа",
        "сумма",
        "сумма документа",
        "betrag",
        "summe",
        "gesamtbetrag",
        "umsatz",
    ),
    "currency": ("currency code", "ccy", "валюта", "währung"),
    "product": (
        "product name",
        "item",
        "sku",
        "category",
        "товар",
        "номенклатура",
        "продукт",
        "artikel",
        "produkt",
    ),
    "name": (
        "client name",
        "customer name",
        "company",
        "company name",
        "account name",
        "назва",
        "найменування",
        "наименование",
        "название",
        "firma",
        "firmenname",
    ),
    "account_manager": (
        "owner",
        "account owner",
        "sales rep",
        "manager",
        "менеджер",
        "відповідальний",
        "ответственный",
        "betreuer",
    ),
    "since": ("customer since", "client since", "created", "start date"),
    "at": ("date", "interaction date", "activity date", "timestamp", "дата", "datum"),
    "opened_at": ("date", "opened", "complaint date", "created at", "дата", "datum"),
    "resolved_at": ("resolved", "closed at", "resolution date"),
}


def _key(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.casefold())


def check_rename(rename: Rename) -> dict[str, dict[str, str]]:
    """Return a validated plain copy of ``rename``.

    Raises:
        UsageError: An unknown table or column, an empty header, or one header
            mapped to two columns of a table.
    """
    if not isinstance(rename, Mapping):
        raise UsageError(f"rename must be a mapping of table to columns, not {rename!r}")
    out: dict[str, dict[str, str]] = {}
    for table, columns in rename.items():
        if table != "*" and table not in _TABLE_NAMES:
            raise UsageError(
                f"column mapping: unknown table {table!r} (use {', '.join(_TABLE_NAMES)})"
            )
        if not isinstance(columns, Mapping):
            raise UsageError(f"column mapping of {table}: give {{contract column: header}}")
        known = {c for s in TABLES for c in s.names} if table == "*" else set(spec(table).names)
        seen: dict[str, str] = {}
        for column, header in columns.items():
            if column not in known:
                where = "any table" if table == "*" else table
                raise UsageError(f"column mapping: {column!r} is not a column of {where}")
            if not isinstance(header, str) or not header.strip():
                raise UsageError(f"column mapping of {table}.{column}: the header is empty")
            if header in seen:
                raise UsageError(
                    f"column mapping of {table}: {header!r} is mapped to both "
                    f"{seen[header]} and {column}"
                )
            seen[header] = column
        out[table] = dict(columns)
    return out


def parse_map_flags(flags: Sequence[str]) -> dict[str, dict[str, str]]:
    """Read ``--map [TABLE.]COLUMN=HEADER`` flags into a mapping.

    Raises:
        UsageError: A flag not of that form, or a bad table, column or header.
    """
    out: dict[str, dict[str, str]] = {}
    for flag in flags:
        target, sep, header = flag.partition("=")
        if not sep or not target.strip():
            raise UsageError(
                f"--map {flag!r}: write TABLE.COLUMN=HEADER, e.g. --map "
                "orders.client_id='Customer ID'"
            )
        table, dot, column = target.strip().rpartition(".")
        key = table if dot else "*"
        if header.strip() != header:
            header = header.strip()
        if column in out.get(key, {}):
            raise UsageError(f"--map {flag!r}: {target.strip()} is mapped twice")
        out.setdefault(key, {})[column] = header
    return check_rename(out)


def apply_rename(inputs: Mapping[str, TableInput], rename: Rename) -> dict[str, TableInput]:
    """The inputs with the mapped headers (or row keys) read as contract columns.

    A header named for one table must be in that table's source; a ``"*"``
    mapping applies to each table that has the column and whose source has the
    header, and must apply to at least one when every table has a header.
    """
    checked = check_rename(rename)
    everywhere = checked.get("*", {})
    problems: list[Problem] = []
    out: dict[str, TableInput] = {}
    used: set[str] = set()
    for table, inp in inputs.items():
        explicit = checked.get(table, {})
        if inp.columns is None:
            wanted = mapped_headers(table, None, checked)
            used.update(c for c in everywhere if c in wanted)
            out[table] = attrs.evolve(
                _rename_keys(inp, {h: c for c, h in wanted.items()}), labels=wanted
            )
            continue
        headers = set(inp.columns)
        for column, header in explicit.items():
            if header not in headers:
                problems.append(
                    Problem(
                        inp.source,
                        inp.header_line,
                        header,
                        None,
                        f"no such column to read as {column} (the column mapping names it); "
                        f"the columns are: {', '.join(inp.columns)}",
                    )
                )
        wanted = mapped_headers(table, headers, checked)
        used.update(c for c in wanted if c not in explicit)
        by_header = {h: c for c, h in wanted.items()}
        out[table] = attrs.evolve(
            inp,
            columns=tuple(by_header.get(h, h) for h in inp.columns),
            labels={c: h for c, h in wanted.items() if h in headers},
        )
    sources = ", ".join(i.source for i in inputs.values())
    for table in checked:
        if table != "*" and table not in inputs:
            problems.append(
                Problem(
                    sources,
                    None,
                    None,
                    None,
                    f"the column mapping names table {table}, which the source does not have",
                )
            )
    for column, header in everywhere.items():
        if column not in used:
            problems.append(
                Problem(
                    sources,
                    None,
                    header,
                    None,
                    f"no table has this column to read as {column} (the column mapping names it)",
                )
            )
    if problems:
        raise _Fatal(problems)
    return out


def mapped_headers(
    table: str, headers: Collection[str] | None, checked: Mapping[str, Mapping[str, str]]
) -> dict[str, str]:
    """The source's header each mapped contract column of ``table`` is read from.

    ``checked`` is a checked mapping (:func:`check_rename`): the table's own
    mapping, then the ``"*"`` mapping for the table's columns it does not map
    itself, where the source has that header (``headers``; None: rows keyed by
    name, every ``"*"`` header taken). A column left out is read from a header
    of its own name.
    """
    names = set(spec(table).names)
    explicit = checked.get(table, {})
    wanted = {
        c: h
        for c, h in checked.get("*", {}).items()
        if c in names and c not in explicit and (headers is None or h in headers)
    }
    wanted.update(explicit)
    return wanted


def _rename_keys(inp: TableInput, by_source: Mapping[str, str]) -> TableInput:
    if not by_source:
        return inp
    rows = inp.rows

    def renamed() -> Iterator[Row | RowError]:
        for item in rows():
            if isinstance(item, RowError):
                yield item
                continue
            source, line, cells = item
            assert isinstance(cells, Mapping)
            yield (source, line, {by_source.get(str(k), str(k)): v for k, v in cells.items()})

    return attrs.evolve(inp, rows=renamed)


def propose_mapping(headers: Mapping[str, Sequence[str]]) -> dict[str, dict[str, str]]:
    """Guess the contract columns of a source's headers, per table.

    A header matches a contract column when they are equal ignoring case, blanks
    and punctuation, or when it is a common CRM name of the column
    (``Customer ID`` -> ``client_id``, ``Order Date`` -> ``placed_at``,
    ``Total`` -> ``amount``). Only columns missing from the headers are proposed,
    each from a header that is not a contract column itself, the required ones first.

    Args:
        headers: The headers of each table the source has.

    Returns:
        ``{table: {contract column: header}}`` (tables with no proposal left out).
    """
    out: dict[str, dict[str, str]] = {}
    for table, names in headers.items():
        s = spec(table)
        free = [h for h in names if h not in s.names]
        taken: set[str] = set()
        found: dict[str, str] = {}
        ordered = sorted(s.columns, key=lambda c: not c.required)
        for col in ordered:
            if col.name in names:
                continue
            keys = {_key(col.name), *(_key(x) for x in SYNONYMS.get(col.name, ()))}
            for header in free:
                if header not in taken and _key(header) in keys:
                    found[col.name] = header
                    taken.add(header)
                    break
        if found:
            out[table] = found
    return out


def map_flags(mapping: Mapping[str, Mapping[str, str]]) -> list[str]:
    """The ``--map`` flags of a mapping, quoted for a POSIX shell."""
    return [
        f"--map {table}.{column}={shlex.quote(header)}"
        for table, columns in mapping.items()
        for column, header in columns.items()
    ]
