"""Write an Excel ledger template: header with a comment per column, dropdowns, and a sheet explaining the format."""
from __future__ import annotations

from pathlib import Path

import pycountry
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter, quote_sheetname
from openpyxl.worksheet.datavalidation import DataValidation

from .atomic import atomic_write_with
from .currency import iso_currency_codes
from .schema import (AMOUNT_KINDS, CONFIDENCE_LEVELS, CONFIDENCE_MEANINGS, LEDGER_FIELDS, LEDGER_SHEET_NAME,
                     SOURCE_SEPARATOR, VISIBILITIES)

TEMPLATE_ROWS = 2000
LISTS_SHEET = "lists"
HELP_SHEET = "how to fill in"
COMMON_CURRENCIES = ("USD", "EUR", "GBP", "AZN", "RUB", "CHF", "TRY")


def _list_values() -> dict[str, list[str]]:
    currencies = [*COMMON_CURRENCIES, *sorted(iso_currency_codes() - set(COMMON_CURRENCIES))]
    countries = sorted(c.alpha_2 for c in pycountry.countries)
    return {"currency": currencies, "country": [*countries, "multiple"], "amount_kind": list(AMOUNT_KINDS),
            "confidence": list(CONFIDENCE_LEVELS), "visibility": list(VISIBILITIES)}


def build_workbook() -> Workbook:
    book = Workbook()
    sheet = book.active
    sheet.title = LEDGER_SHEET_NAME
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDE7F0")
    for index, field in enumerate(LEDGER_FIELDS, start=1):
        cell = sheet.cell(row=1, column=index, value=field.name)
        cell.font = bold
        cell.fill = fill
        required = "Required. " if field.required else "Optional. "
        example = f"\nExample: {field.example}" if field.example else ""
        cell.comment = Comment(required + field.description + example, "Influence Ledger", width=320, height=140)
        sheet.column_dimensions[get_column_letter(index)].width = 34 if field.name in ("sources", "notes") else 20
    sheet.freeze_panes = "A2"

    lists = book.create_sheet(LISTS_SHEET)
    lists.sheet_state = "hidden"
    ranges = {}
    for col, (name, values) in enumerate(_list_values().items(), start=1):
        lists.cell(row=1, column=col, value=name)
        for row, value in enumerate(values, start=2):
            lists.cell(row=row, column=col, value=value)
        letter = get_column_letter(col)
        ranges[name] = f"{quote_sheetname(LISTS_SHEET)}!${letter}$2:${letter}${len(values) + 1}"

    # Codes only in the dropdown, but the cell still accepts names the ETL understands (errorStyle warning).
    targets = {"currency": ("currency",), "country": ("payer_country", "recipient_country"),
               "amount_kind": ("amount_kind",), "confidence": ("confidence",), "visibility": ("visibility",)}
    positions = {field.name: i for i, field in enumerate(LEDGER_FIELDS, start=1)}
    for list_name, columns in targets.items():
        strict = list_name in ("amount_kind", "confidence", "visibility")
        validation = DataValidation(type="list", formula1=ranges[list_name], allow_blank=True,
                                    errorStyle="stop" if strict else "warning", showErrorMessage=True,
                                    error=f"Pick a value from the list ({list_name}).", errorTitle="Influence Ledger")
        for column in columns:
            letter = get_column_letter(positions[column])
            validation.add(f"{letter}2:{letter}{TEMPLATE_ROWS}")
        sheet.add_data_validation(validation)

    help_sheet = book.create_sheet(HELP_SHEET)
    help_rows = [
        ("Influence Ledger: how to fill in this ledger", ""),
        ("", ""),
        ("One row per documented transfer; every row needs at least one source URL.", ""),
        ("Keep the sheet named 'ledger'; do not merge cells or use formulas; no total row at the bottom.", ""),
        (f"Several sources in one cell are separated by '{SOURCE_SEPARATOR}'.", ""),
        ("Dates: 2012-07-30, 2012-07, 2012, a range 2012/2014, an open range 2015-02/.., or n.d. (say why in "
         "date_note).", ""),
        ("Amounts: as written, e.g. 2900000000, 2.9 billion, 253,150, 7,6 Mio., €2.39m.", ""),
        ("", ""),
        ("Column", "Meaning"),
        *[(f.name + (" (required)" if f.required else ""), f.description) for f in LEDGER_FIELDS],
        ("", ""),
        ("Confidence level", "Meaning"),
        *CONFIDENCE_MEANINGS.items(),
    ]
    for row in help_rows:
        help_sheet.append(list(row))
    help_sheet["A1"].font = Font(bold=True, size=14)
    help_sheet.column_dimensions["A"].width = 30
    help_sheet.column_dimensions["B"].width = 110
    for cells in help_sheet.iter_rows(min_row=1, max_row=help_sheet.max_row):
        for cell in cells:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    return book


def write_template(path: Path) -> None:
    """Write the template atomically."""
    atomic_write_with(Path(path), lambda tmp: build_workbook().save(tmp))
