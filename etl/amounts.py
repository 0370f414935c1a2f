"""Parse amount cells as written ("2.9 billion", "253,150", "7,6 Mio.", "€2.39m") into exact scaled integers.

Everything is vectorised: the pattern runs once per distinct cell shape (Arrow's RE2, pandas string methods) and
the digits are read per cell from the Arrow buffers with numpy; only the rare bad cells become Python objects
(issues).
An amount is held as an int64 count of 1/10**AMOUNT_SCALE units, then exposed as an Arrow decimal, so no
binary floating point ever touches a figure.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from .errors import LedgerIssue, issues_from_mask
from .uniques import contains, fullmatch
from .schema import AMOUNT_SCALE, MAX_AMOUNT

DECIMAL_TYPE = pa.decimal128(38, AMOUNT_SCALE)
DECIMAL_DTYPE = pd.ArrowDtype(DECIMAL_TYPE)
MONEY_TYPE = pa.decimal128(38, 2)
MONEY_DTYPE = pd.ArrowDtype(MONEY_TYPE)

# Multiplier words reporters use, with their power of ten (English and German/Italian/French forms).
MULTIPLIERS: dict[str, int] = {
    "k": 3, "thousand": 3, "tsd": 3, "tsd.": 3, "tausend": 3,
    "m": 6, "mn": 6, "mln": 6, "mio": 6, "mio.": 6, "million": 6, "millions": 6, "millionen": 6, "milioni": 6,
    "b": 9, "bn": 9, "bln": 9, "billion": 9, "billions": 9, "mrd": 9, "mrd.": 9, "milliarde": 9, "milliarden": 9,
    "miliardi": 9, "milliard": 9, "milliards": 9,
}
_MULTIPLIER_PATTERN = "|".join(sorted((w.replace(".", r"\.") for w in MULTIPLIERS), key=len, reverse=True))
# Currency markers that may be written inside the amount cell, before or after the number.
_CURRENCY_TOKEN = r"[A-Za-z]{3}|US\$|C\$|A\$|[$€£¥₼₽₺₴]|euros?|dollars?|pounds?|manats?|roubles?|rubles?"
AMOUNT_PATTERN = (
    r"^\s*(?P<pre>" + _CURRENCY_TOKEN + r")?\s*"
    r"(?P<num>\d[\d.,'’\x{00a0}\x{202f} ]*?)\s*"
    r"(?P<mult>" + _MULTIPLIER_PATTERN + r")?\.?\s*"
    r"(?P<post>" + _CURRENCY_TOKEN + r")?\s*$"
)
# RE2 (pyarrow) has no look-around, so a gap is matched with its neighbours and put back without the gap.
_THOUSANDS_GAP = r"(\d)[ '’\x{00a0}\x{202f}](\d{3})(\D|$)"
MAX_DIGITS = 18  # int64 holds every 18-digit number


def parse_amounts(raw: pd.Series, label_frame: pd.DataFrame) -> tuple[pd.Series, pd.Series, list[LedgerIssue]]:
    """Parse amount cells.

    Returns (scaled, currency_in_cell, issues): scaled is a nullable Int64 count of 10**-AMOUNT_SCALE units
    (missing where the cell is bad), currency_in_cell the currency marker written inside the amount cell ("" if
    none), issues one per bad cell. label_frame supplies the file and row columns for the issues.
    """
    if raw.empty:
        return pd.Series([], index=raw.index, dtype="Int64"), pd.Series([], index=raw.index, dtype="str"), []
    text = raw.astype("str").fillna("")
    cells = _large_string(text)
    # The pattern sees only digit classes, never which digit, so the structure of a cell (currency, separators,
    # multiplier, every flag) is that of its shape with each digit written as 0. Amounts are nearly all distinct
    # but their shapes are few: the regex work runs once per shape and only the digits are read per cell.
    shape_codes, shapes = _shapes(cells)
    by_shape = _structure(pd.Series(shapes, dtype="str"))
    per_cell = {name: pd.Series(column.to_numpy()[shape_codes], index=text.index)
                for name, column in by_shape.items() if name not in ("pre", "post")}
    matched, ambiguous, malformed = per_cell["matched"], per_cell["ambiguous"], per_cell["malformed"]
    zero_comma = _leading_zero_comma(text, shapes, shape_codes) & matched & ~malformed
    ambiguous = ambiguous | zero_comma
    exponent, fraction_len = per_cell["exponent"], per_cell["fraction_len"]
    empty, negative = per_cell["empty"], per_cell["negative"]
    digit_len, value = _significant_digits(cells, text.index)
    # A malformed number may keep separators among its digits, which count towards its length: read such
    # (rare) cells as written.
    irregular = matched & malformed
    if irregular.any():
        digit_len[irregular.to_numpy()] = _structure(text[irregular])["digit_len"].to_numpy()

    too_long = digit_len > MAX_DIGITS
    power = exponent + AMOUNT_SCALE - fraction_len
    usable = matched & ~ambiguous & ~malformed & ~too_long
    value = value.where(usable, 0)
    # Scale by 10**power; a negative power must divide exactly or the figure has more decimals than we keep.
    up = usable & (power >= 0)
    overflow = up & ((digit_len + power) > MAX_DIGITS) & value.ne(0)
    up &= ~overflow
    down = usable & (power < 0)
    divisor = pd.Series(1, index=raw.index, dtype="int64")
    divisor[down] = np.power(10, (-power[down]).to_numpy(), dtype="int64")
    # pandas' modulo gives NaN where an overflowing power of ten wrapped to 0, which counts as too precise.
    too_precise = down & (value % divisor).ne(0)
    exact_down = down & ~too_precise
    # Filled as numpy int64: assigning a masked subset into an Int64 Series goes through float64 and rounds
    # figures above 2**53 units.
    values, up_np, down_np = value.to_numpy(), up.to_numpy(), exact_down.to_numpy()
    result = np.zeros(len(values), dtype=np.int64)
    result[up_np] = values[up_np] * np.power(10, power.to_numpy()[up_np], dtype="int64")
    result[down_np] = values[down_np] // divisor.to_numpy()[down_np]
    known = up_np | down_np
    too_large = pd.Series(known & (result > MAX_AMOUNT * 10**AMOUNT_SCALE), index=raw.index)
    known &= ~too_large.to_numpy()
    zero = pd.Series(known & (result == 0), index=raw.index)

    issues: list[LedgerIssue] = []
    issues += issues_from_mask(label_frame, empty, "amount", text, "amount_missing", "an amount is required")
    issues += issues_from_mask(label_frame, ~empty & negative, "amount", text, "amount_negative",
                               "amounts are positive; the payer → recipient direction says which way money went")
    not_number = ~empty & ~negative & (~matched | malformed)
    issues += issues_from_mask(label_frame, not_number, "amount", text, "amount_unreadable",
                               "expected a number such as 2900000000, 2.9 billion, 253,150, 7,6 Mio. or €2.39m")
    issues += issues_from_mask(label_frame, zero_comma, "amount", text, "amount_ambiguous",
                               "ambiguous: a comma before three digits after a leading 0 may be a decimal comma "
                               "(0,123 = 0.123) or a thousands separator (123); write 0.123 or 123")
    issues += issues_from_mask(label_frame, matched & ambiguous & ~zero_comma, "amount", text, "amount_ambiguous",
                               "ambiguous: a single dot before three digits may be a decimal point (English) or a "
                               "thousands separator (German); write 1234 or 1.234,00 or 1.234 thousand")
    issues += issues_from_mask(label_frame, (too_long | overflow | too_large) & matched, "amount", text,
                               "amount_too_large", f"larger than the largest accepted amount ({MAX_AMOUNT:,})")
    issues += issues_from_mask(label_frame, too_precise, "amount", text, "amount_too_precise",
                               f"more than {AMOUNT_SCALE} decimal places")
    issues += issues_from_mask(label_frame, zero, "amount", text, "amount_zero", "amount is zero")
    scaled = pd.Series(pd.arrays.IntegerArray(result, ~(known & ~zero.to_numpy())), index=raw.index)
    # Currency markers hold no digits, so a shape's marker is its cells' marker.
    pre, post = by_shape["pre"], by_shape["post"]
    marker = pa.array(pre.where(pre.ne(""), post).to_numpy(object), type=pa.large_string())
    currency_in_cell = pd.Series(marker.take(pa.array(shape_codes)), index=text.index, dtype="str")
    both = pd.Series((pre.ne("") & post.ne("")).to_numpy()[shape_codes], index=text.index)
    issues += issues_from_mask(label_frame, both & matched, "amount", text, "amount_two_currencies",
                               "currency written both before and after the number; keep one")
    return scaled, currency_in_cell, issues


# A number whose first group is zeros, then a comma and three digits ("0,123", "00,500"): nobody groups thousands
# after a 0, but nor is a comma before exactly three digits a safe decimal mark.
_ZERO_COMMA = r"(?:^|[^0-9.,'’])0+,[0-9]{3}(?:[^0-9]|$)"


def _leading_zero_comma(text: pd.Series, shapes: pa.Array, shape_codes: np.ndarray) -> pd.Series:
    """Cells written like 0,123: only cells whose shape could be one (digits as 0) are searched one by one."""
    candidate_shapes = pc.match_substring_regex(shapes, _ZERO_COMMA).to_numpy(zero_copy_only=False)
    candidates = candidate_shapes[shape_codes]
    found = pd.Series(False, index=text.index)
    if candidates.any():
        found[candidates] = contains(text[candidates], _ZERO_COMMA).to_numpy()
    return found


def _structure(text: pd.Series) -> pd.DataFrame:
    """Per cell: the pattern's parts and flags, the multiplier's power, fraction length and significant digits."""
    parts = _extract(text)
    number = _drop_thousands_gaps(parts["num"].fillna("").astype("str")).str.strip()
    mult = parts["mult"].fillna("").astype("str").str.lower()
    integer, fraction, ambiguous, malformed = _split_number(number, has_multiplier=mult.ne(""))
    digits = (integer + fraction).str.lstrip("0").replace("", "0")
    return pd.DataFrame({
        "matched": parts["num"].notna(),
        "pre": parts["pre"].fillna("").astype("str"),
        "post": parts["post"].fillna("").astype("str"),
        "exponent": mult.map(MULTIPLIERS).fillna(0).astype("int64"),
        "fraction_len": fraction.str.len().astype("int64"),
        "ambiguous": ambiguous.astype(bool),
        "malformed": malformed.astype(bool),
        "digit_len": digits.str.len().astype("int64"),
        "empty": text.str.strip().eq(""),
        "negative": contains(text, r"^\s*[-−(]"),
    }, index=text.index)


def _large_string(text: pd.Series) -> pa.LargeStringArray:
    array = getattr(text.array, "_pa_array", None)
    if array is None:
        array = pa.chunked_array([pa.array(text.to_numpy(object), type=pa.large_string())])
    return array.cast(pa.large_string()).combine_chunks()


def _buffers(cells: pa.LargeStringArray) -> tuple[np.ndarray, np.ndarray]:
    """Offsets (from 0) and UTF-8 bytes of a large_string array without nulls."""
    offsets = np.frombuffer(cells.buffers()[1], dtype=np.int64, count=len(cells) + 1, offset=8 * cells.offset)
    data = cells.buffers()[2]
    data = np.frombuffer(data, dtype=np.uint8) if data is not None else np.zeros(0, dtype=np.uint8)
    return offsets - offsets[0], data[offsets[0]:offsets[-1]]


def _is_digit(data: np.ndarray) -> np.ndarray:
    # UTF-8 never uses the bytes of ASCII digits inside a multi-byte character, and RE2's \d is ASCII only.
    return (data >= ord("0")) & (data <= ord("9"))


def _shapes(cells: pa.LargeStringArray) -> tuple[np.ndarray, pa.Array]:
    """Each cell's shape (digits written as 0) as a code into the distinct shapes."""
    offsets, data = _buffers(cells)
    shape = np.where(_is_digit(data), np.uint8(ord("0")), data)
    shapes = pa.LargeStringArray.from_buffers(len(cells), pa.py_buffer(offsets), pa.py_buffer(shape))
    encoded = shapes.dictionary_encode()
    return encoded.indices.to_numpy(zero_copy_only=False).astype(np.intp), encoded.dictionary


def _significant_digits(cells: pa.LargeStringArray, index: pd.Index) -> tuple[pd.Series, pd.Series]:
    """Per cell: how many digits are left once leading zeros go (at least 1) and, when that fits, their value."""
    offsets, data = _buffers(cells)
    digit = _is_digit(data)
    # A cumulative count through uint8 is several times faster than through bool.
    kept = np.concatenate([[0], np.cumsum(digit.view(np.uint8), dtype=np.int64)])[offsets]
    digits = pa.LargeStringArray.from_buffers(len(cells), pa.py_buffer(kept), pa.py_buffer(data[digit]))
    significant = pc.utf8_ltrim(digits, characters="0")
    length = pc.binary_length(significant).to_numpy(zero_copy_only=False).astype(np.int64)
    fits = (length > 0) & (length <= MAX_DIGITS)
    value = pc.cast(pc.if_else(pa.array(fits), significant, "0"), pa.int64()).to_numpy(zero_copy_only=False)
    return pd.Series(np.maximum(length, 1), index=index), pd.Series(value, index=index)


def _extract(text: pd.Series) -> pd.DataFrame:
    """AMOUNT_PATTERN's named groups per cell (null where the cell does not match), using pyarrow's RE2."""
    struct = pc.extract_regex(pa.array(text.to_numpy(dtype=object), type=pa.string()), "(?i)" + AMOUNT_PATTERN)
    return pd.DataFrame({name: pd.Series(struct.field(name).to_numpy(zero_copy_only=False), index=text.index,
                                         dtype="str") for name in ("pre", "num", "mult", "post")})


def _drop_thousands_gaps(number: pd.Series) -> pd.Series:
    """'500 000' → '500000', "1'000'000" → '1000000' (each pass removes every other gap)."""
    array = pa.array(number.to_numpy(dtype=object), type=pa.string())
    for _ in range(MAX_DIGITS // 3):
        replaced = pc.replace_substring_regex(array, _THOUSANDS_GAP, r"\1\2\3")
        if replaced.equals(array):
            break
        array = replaced
    return pd.Series(array.to_numpy(zero_copy_only=False), index=number.index, dtype="str")


def _split_number(number: pd.Series, has_multiplier: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series, pd.Series]:
    """Split number text into integer and fraction digit strings, deciding which separator is decimal.

    Rules: "253,150" and "1,234,567.89" are English; "1.234.567,89" and "7,6" are continental; "2.39" is a decimal
    point; a lone dot before exactly three digits ("1.234") without a multiplier word is ambiguous.
    """
    commas = number.str.count(",")
    dots = number.str.count(r"\.")
    malformed = ~fullmatch(number, r"\d[\d.,]*") | contains(number, r"[.,]{2}|[.,]$")

    plain = commas.eq(0) & dots.eq(0)
    en_grouped = fullmatch(number, r"\d{1,3}(,\d{3})+(\.\d+)?")
    eu_grouped = fullmatch(number, r"\d{1,3}(\.\d{3})+(,\d+)?")
    lone_dot_three = fullmatch(number, r"\d{1,3}\.\d{3}")
    dot_decimal = dots.eq(1) & commas.eq(0) & ~(lone_dot_three & ~has_multiplier)
    comma_decimal = commas.eq(1) & dots.eq(0) & ~fullmatch(number, r"\d{1,3},\d{3}")

    ambiguous = lone_dot_three & ~has_multiplier
    en = en_grouped & ~plain
    eu = eu_grouped & ~en & ~lone_dot_three
    decided = plain | en | eu | dot_decimal | comma_decimal | ambiguous

    # Which character is the decimal separator; the other one only groups thousands and is dropped.
    decimal_mark = np.select([en.to_numpy(bool), eu.to_numpy(bool), (dot_decimal & ~en & ~eu).to_numpy(bool),
                              (comma_decimal & ~en & ~eu).to_numpy(bool)], [".", ",", ".", ","], "")
    english = number.str.replace(",", "", regex=False)
    continental = number.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    digits_only = number.str.replace(r"[.,]", "", regex=True)
    canonical = np.where(decimal_mark == ".", english.to_numpy(object),
                         np.where(decimal_mark == ",", continental.to_numpy(object), digits_only.to_numpy(object)))
    parts = pd.Series(canonical, index=number.index, dtype="str").str.partition(".")
    integer, fraction = parts[0].astype("str"), parts[2].astype("str")
    malformed = malformed | ~decided
    integer = integer.where(integer.ne(""), "0")
    return integer, fraction.fillna(""), ambiguous.fillna(False), malformed.fillna(True)


def scaled_to_decimal(scaled: pd.Series, scale: int = AMOUNT_SCALE, precision_type: pa.DataType | None = None
                      ) -> pd.Series:
    """Turn an Int64 series of 10**-scale units into an exact Arrow decimal series (nulls kept)."""
    arrow_type = precision_type or pa.decimal128(38, scale)
    values = scaled.fillna(0).to_numpy(dtype="int64")
    # decimal128 is a 16-byte little-endian two's complement integer: low word = value, high word = sign.
    words = np.empty((len(values), 2), dtype="int64")
    words[:, 0] = values
    words[:, 1] = np.where(values < 0, -1, 0)
    valid = pa.array(scaled.notna().to_numpy(), type=pa.bool_())
    validity = valid.buffers()[1] if scaled.isna().any() else None
    array = pa.Array.from_buffers(arrow_type, len(values), [validity, pa.py_buffer(words.tobytes())])
    return pd.Series(pd.arrays.ArrowExtensionArray(array), index=scaled.index)


def decimal_to_scaled(values: pd.Series, scale: int = AMOUNT_SCALE) -> pd.Series:
    """Inverse of scaled_to_decimal for a decimal128 series of the given scale (exact)."""
    array = pa.array(values.array._pa_array.combine_chunks() if hasattr(values.array, "_pa_array") else values)
    if array.type.scale != scale:
        array = array.cast(pa.decimal128(38, scale))
    words = np.frombuffer(array.buffers()[1], dtype="int64", count=2 * (len(array) + array.offset))
    low = words[0::2][array.offset:]
    result = pd.Series(low.copy(), index=values.index, dtype="Int64")
    result[pd.Series(array.is_null().to_numpy(zero_copy_only=False), index=values.index)] = pd.NA
    return result


def format_scaled(scaled: pd.Series, scale: int = AMOUNT_SCALE) -> pd.Series:
    """Plain decimal text of scaled integers ("2900000000", "7.6"), trailing zeros dropped, for exports."""
    sign = np.where(scaled.fillna(0) < 0, "-", "")
    magnitude = scaled.abs().astype("str")
    padded = magnitude.str.zfill(scale + 1)
    whole = padded.str[:-scale]
    frac = padded.str[-scale:].str.rstrip("0")
    text = sign + whole + np.where(frac.ne(""), "." + frac, "")
    return pd.Series(text, index=scaled.index, dtype="str").where(scaled.notna(), "")
