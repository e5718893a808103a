"""Mask personal data before it is stored: CPF, CNPJ, card numbers, Brazilian phones and e-mails.

Each kind has the shapes people write it in; a match is masked only when it is what it looks like (CPF and
CNPJ by their check digits, cards by Luhn and issuer digit, phones by area code and number plan), so prices,
dates, order numbers and CEPs stay readable. Kinds run in an order where the longer numbers go first.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from typing import Any

#: Brazilian area codes (DDD) in use.
_AREA_CODES = frozenset({
    11, 12, 13, 14, 15, 16, 17, 18, 19, 21, 22, 24, 27, 28, 31, 32, 33, 34, 35, 37, 38, 41, 42, 43, 44, 45, 46,
    47, 48, 49, 51, 53, 54, 55, 61, 62, 63, 64, 65, 66, 67, 68, 69, 71, 73, 74, 75, 77, 79, 81, 82, 83, 84, 85,
    86, 87, 88, 89, 91, 92, 93, 94, 95, 96, 97, 98, 99,
})
_NON_DIGIT = re.compile(r"\D")
#: Strings without a digit or an "@" hold none of these: most skip every pattern.
_MAYBE = re.compile(r"[\d@]")


def _digits(text: str) -> str:
    return _NON_DIGIT.sub("", text)


def _check_digit(digits: str, weights: range | list[int]) -> int:
    total = sum(int(d) * w for d, w in zip(digits, weights, strict=False))
    rest = total % 11
    return 0 if rest < 2 else 11 - rest


def is_cpf(text: str) -> bool:
    d = _digits(text)
    if len(d) != 11 or d == d[0] * 11:
        return False
    return (_check_digit(d[:9], range(10, 1, -1)) == int(d[9])
            and _check_digit(d[:10], range(11, 1, -1)) == int(d[10]))


_CNPJ_WEIGHTS = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]


def is_cnpj(text: str) -> bool:
    d = _digits(text)
    if len(d) != 14 or d == d[0] * 14:
        return False
    return (_check_digit(d[:12], _CNPJ_WEIGHTS) == int(d[12])
            and _check_digit(d[:13], [6, *_CNPJ_WEIGHTS]) == int(d[13]))


def is_card(text: str) -> bool:
    """13-19 digits passing Luhn, starting with an issuer digit (2 and 5 Mastercard, 3 Amex/Diners, 4 Visa,
    4-6 Elo, 6 Discover/Hipercard)."""
    d = _digits(text)
    if not 13 <= len(d) <= 19 or d[0] not in "23456" or d == d[0] * len(d):
        return False
    total = 0
    for index, char in enumerate(reversed(d)):
        value = int(char)
        if index % 2:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def is_phone(text: str) -> bool:
    """A Brazilian number: [+55] [area code] subscriber; 9 digits for mobiles (9...), 8 for landlines (2-5...).
    Without an area code only a mobile written with a separator counts, and 10 bare digits only with a
    separator or a +55 (bare 8-10 digits are too often order numbers)."""
    d = _digits(text)
    explicit_country = text.lstrip().startswith("+")
    if len(d) <= 10 and text.strip().isdigit():
        return False
    if (explicit_country or len(d) in (12, 13)) and d.startswith("55") and len(d) >= 12:
        d = d[2:]
    if len(d) in (10, 11):
        area, number = int(d[:2]), d[2:]
        return area in _AREA_CODES and _subscriber(number)
    return len(d) == 9 and d[0] == "9"


def _subscriber(number: str) -> bool:
    return number[0] == "9" if len(number) == 9 else number[0] in "2345"


_SEP = r"[ .\-]"
#: A number does not end where a dot, dash, slash or decimal comma goes on with more digits.
_END = r"(?!\d|[.,\-/]\d)"
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_EIGHT_DIGITS = re.compile(r"\d(?:[ ().\-/+]{0,3}\d){7}")
#: (placeholder, pattern, validator) in the order they run: longer numbers first, so a card is not read as
#: a phone and a CNPJ not as a CPF.
_NUMBERS: tuple[tuple[str, re.Pattern[str], Callable[[str], bool]], ...] = (
    ("[CNPJ]", re.compile(r"(?<![\d.])\d{2}[. ]?\d{3}[. ]?\d{3}[/ ]?\d{4}[- .]?\d{2}(?!\d)"), is_cnpj),
    ("[CARD]", re.compile(r"(?<![\d.,])(?:[2-6]\d{3}([ .\-])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,3})?"
                          r"|3\d{3}([ .\-])\d{6}\2\d{4,5}|[2-6]\d{12,18})" + _END), is_card),
    ("[CPF]", re.compile(r"(?<![\d.])(?:\d{3}\.\d{3}\.\d{3}[-.]?\d{2}|\d{3} \d{3} \d{3}[ -]?\d{2}|\d{9}-?\d{2})"
                         + _END), is_cpf),
    ("[PHONE]", re.compile(r"(?<![\w+.\-/])(?:\+\s?)?(?:55" + _SEP + r"?)?(?:\(\d{2}\)|\d{2})\s?" + _SEP
                           + r"?(?:9" + _SEP + r"?)?\d{4}" + _SEP + r"?\d{4}" + _END), is_phone),
    ("[PHONE]", re.compile(r"(?<![\d\-./])9[ .]?\d{4}[ .\-]\d{4}" + _END), is_phone),
)


def redact(text: str) -> str:
    """The text with personal data replaced by placeholders ([CPF], [CNPJ], [CARD], [PHONE], [EMAIL])."""
    if not _MAYBE.search(text):
        return text
    if "@" in text:
        text = _EMAIL.sub("[EMAIL]", text)
    if _EIGHT_DIGITS.search(text):  # every number masked here has at least 8 digits
        for placeholder, pattern, valid in _NUMBERS:
            text = pattern.sub(lambda match, p=placeholder, v=valid: p if v(match.group(0)) else match.group(0),
                               text)
    return text


def pseudonym(value: str) -> str:
    """An id as it may be stored and counted: itself, or, when it holds personal data (a phone or an e-mail
    as user_id), its masked form and a short hash — still one bucket per person, no longer readable."""
    masked = redact(value)
    if masked == value:
        return value
    digest = base64.b32encode(hashlib.sha256(value.encode()).digest()[:10]).decode().lower()
    return f"{masked}~{digest}"  # base32: letters and 2-7, never a number the masking would touch


def redact_value(value: Any) -> Any:
    """Any JSON value with every string in it redacted (object keys too), at any depth; a long integer that
    is personal data (a phone or a CPF sent as a number) becomes its placeholder. NUL characters are dropped:
    no database stores them in text, and one would stop the ledger writer for every organization."""
    if isinstance(value, str):
        return redact(value.replace("\x00", "") if "\x00" in value else value)
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10_000_000:
        masked = redact(str(value))
        return value if masked == str(value) else masked
    if isinstance(value, dict):
        return {redact_value(str(k)): redact_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v) for v in value]
    return value


def messages_for_audit(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """What of the messages the audit trail keeps (not yet redacted): role, text, tool calls' names and
    arguments, a tool result's call id."""
    kept = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, list):
            content = " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
        entry: dict[str, Any] = {"role": message.get("role"), "content": content if isinstance(content, str) else None}
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            entry["tool_calls"] = [_call(call) for call in calls if isinstance(call, dict)]
        if "tool_call_id" in message:
            entry["tool_call_id"] = message["tool_call_id"]
        kept.append(entry)
    return kept


def _call(call: dict[str, Any]) -> dict[str, Any]:
    function = call.get("function")
    function = function if isinstance(function, dict) else {}
    return {"name": function.get("name"), "arguments": function.get("arguments")}
