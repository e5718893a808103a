"""Personal data is masked wherever it is written, in the shapes people write it; other numbers survive."""

from __future__ import annotations

import pytest

from common.audit import refusal_record
from common.redaction import is_cnpj, is_cpf, pseudonym, redact, redact_value


def _cpf(base: str) -> str:
    """A valid CPF from its first nine digits (the check digits computed as the Receita Federal does)."""
    digits = [int(c) for c in base]
    for length in (9, 10):
        rest = sum(d * w for d, w in zip(digits, range(length + 1, 1, -1), strict=False)) % 11
        digits.append(0 if rest < 2 else 11 - rest)
    return "".join(map(str, digits))


def _cnpj(base: str) -> str:
    digits = [int(c) for c in base]
    weights = [5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2]
    for w in (weights, [6, *weights]):
        rest = sum(d * x for d, x in zip(digits, w, strict=False)) % 11
        digits.append(0 if rest < 2 else 11 - rest)
    return "".join(map(str, digits))


CPF_BASES = ["123456789", "529982247", "111444777", "935411347", "028187130", "390533447", "714602380",
             "453178287", "867316521", "240189530", "603471290", "987654321", "300200100", "046539120", "815722963"]
CPFS = [_cpf(b) for b in CPF_BASES]
CNPJ_BASES = ["112223330001", "191311110001", "335921960001", "605461790001", "074265980001", "456723180002"]
CNPJS = [_cnpj(b) for b in CNPJ_BASES]
CARDS = ["4111111111111111", "5555555555554444", "4012888888881881", "6011111111111117", "5105105105105100",
         "4242424242424242", "2223003122003222", "6062825624254001", "3566002020360505", "4000056655665556"]


def _cpf_forms(d: str) -> list[str]:
    return [f"{d[:3]}.{d[3:6]}.{d[6:9]}-{d[9:]}", d, f"{d[:3]} {d[3:6]} {d[6:9]} {d[9:]}", f"{d[:9]}-{d[9:]}"]


def _cnpj_forms(d: str) -> list[str]:
    return [f"{d[:2]}.{d[2:5]}.{d[5:8]}/{d[8:12]}-{d[12:]}", d, f"{d[:2]} {d[2:5]} {d[5:8]} {d[8:12]} {d[12:]}"]


def _card_forms(d: str) -> list[str]:
    groups = [d[i:i + 4] for i in range(0, len(d), 4)]
    return [d, " ".join(groups), ".".join(groups), "-".join(groups)]


PHONES = ["+55 11 91234-5678", "+5511912345678", "5511912345678", "+55 (11) 91234-5678", "+55 (11) 9 1234-5678",
          "(11) 91234-5678", "(11)91234-5678", "11 91234-5678", "11912345678", "11 9 1234 5678", "91234-5678",
          "9 1234-5678", "98765 4321", "(21) 3456-7890", "21 3456-7890", "+55 21 3456-7890", "(61) 2345.6789",
          "+55-48-99988-7766", "55 51 98888 7777", "(85)3221-4567", "+55 11 3456 7890", "21-99876-5432"]
EMAILS = ["ana@exemplo.com.br", "joao.silva+vendas@empresa.com", "x_y@sub.dominio.org", "MARIA@GMAIL.COM",
          "c.souza@uol.com.br", "contato@loja-virtual.net"]

POSITIVE: list[tuple[str, str]] = (
    [(form, "[CPF]") for cpf in CPFS for form in _cpf_forms(cpf)]
    + [(form, "[CNPJ]") for cnpj in CNPJS for form in _cnpj_forms(cnpj)]
    + [(form, "[CARD]") for card in CARDS for form in _card_forms(card)]
    + [("378282246310005", "[CARD]"), ("3782 822463 10005", "[CARD]")]
    + [(phone, "[PHONE]") for phone in PHONES]
    + [(email, "[EMAIL]") for email in EMAILS]
)

NEGATIVE = [
    # prices
    "R$ 1.234,56", "R$ 12.345,00", "R$ 123.456.789,00", "R$ 99,90", "US$ 1,234.56", "1.999,99 reais", "R$1.500",
    "preço 2.499,00", "R$ 3.456.789", "12x de R$ 83,25", "R$ 10.000.000,00", "€ 4.500,50", "R$ 0,99", "49.90",
    "R$ 1 234,56",
    # dates and times
    "12/05/2024", "2024-05-12", "05/12/24", "2024-05-12T10:30:00Z", "10:30:45", "31.12.2023", "1º de maio de 2024",
    "entre 2023-2024", "de 08:00 às 18:00", "12/05/2024 14:30", "2024/05/12", "20240512",
    # order numbers, protocols, codes
    "pedido #123456", "PED-2024-000123", "pedido 1198765432", "protocolo 20240512001", "NF-e 000.123.456",
    "OS 4521", "ticket 8812345", "ordem 98765", "SKU 7891234", "lote L2024-05", "nota fiscal 123456",
    "#A1B2C3", "rastreio BR123456789BR", "código 0042", "pedido nº 555123",
    # CEPs
    "CEP 01310-100", "01310100", "CEP 20040-020", "70040-010", "CEP: 30130-110", "04538-133", "88015-902",
    "CEP 69005-070", "01001000", "CEP 90010-150",
    # CPFs and CNPJs with a wrong check digit, or all one digit
    *[f"{c[:3]}.{c[3:6]}.{c[6:9]}-{(int(c[9]) + 1) % 10}{c[10]}" for c in CPFS[:8]],
    *[c[:10] + str((int(c[10]) + 1) % 10) for c in CPFS[8:]],
    "111.111.111-11", "000.000.000-00", "11.111.111/1111-11",
    *[f"{c[:2]}.{c[2:5]}.{c[5:8]}/{c[8:12]}-{c[12]}{(int(c[13]) + 1) % 10}" for c in CNPJS[:4]],
    # card-like numbers failing Luhn or with no issuer digit
    "4111 1111 1111 1112", "5555-5555-5555-4445", "1234 5678 9012 3456", "9999 9999 9999 9999",
    "4012.8888.8888.1882", "8111111111111111", "0000 0000 0000 0000", "6011111111111118", "4242424242424241",
    "7234 5678 9012 3452",
    # other numbers
    "versão 2.3.10", "192.168.0.10", "50%", "3 unidades", "1.000 peças", "2.000 paineis", "300 licencas",
    "matrícula 2024001", "ano de 2024", "IPv4 10.0.0.1", "+20% de desconto", "1234", "12 345", "tamanho 42",
    "nota 9.5", "3,14159", "voo 3456", "sala 1234-B", "placa ABC-1234", "ramal 4521",
]


@pytest.mark.parametrize(("value", "placeholder"), POSITIVE)
def test_personal_data_is_masked_in_every_usual_shape(value: str, placeholder: str) -> None:
    sentence = f"Meus dados: {value}. Obrigado!"
    assert redact(sentence) == f"Meus dados: {placeholder}. Obrigado!"


@pytest.mark.parametrize("value", NEGATIVE)
def test_prices_dates_order_numbers_and_ceps_survive(value: str) -> None:
    sentence = f"Sobre {value}, pode confirmar?"
    assert redact(sentence) == sentence


def test_the_tables_hold_at_least_a_hundred_cases_each_way() -> None:
    assert len(POSITIVE) >= 100 and len(NEGATIVE) >= 100


def test_the_check_digits_decide_not_the_shape() -> None:
    assert all(is_cpf(c) for c in CPFS) and all(is_cnpj(c) for c in CNPJS)
    assert not is_cpf("12345678900") and not is_cnpj("11222333000180")


def test_several_items_in_one_text_are_each_masked() -> None:
    text = "CPF 123.456.789-09, cartão 4111 1111 1111 1111, fone (11) 91234-5678, e-mail ana@x.com, CEP 01310-100"
    assert redact(text) == "CPF [CPF], cartão [CARD], fone [PHONE], e-mail [EMAIL], CEP 01310-100"


def test_every_string_of_a_nested_value_is_masked_and_long_integers_too() -> None:
    value = {"extra": {"cpf": "123.456.789-09", "card": "4111 1111 1111 1111"}, "tags": ["123.456.789-09"],
             "ana@x.com": True, "phone": 5511912345678, "qty": 3, "deep": [[{"e": "b@c.com"}]]}
    assert redact_value(value) == {"extra": {"cpf": "[CPF]", "card": "[CARD]"}, "tags": ["[CPF]"], "[EMAIL]": True,
                                   "phone": "[PHONE]", "qty": 3, "deep": [[{"e": "[EMAIL]"}]]}


def test_a_user_id_holding_personal_data_becomes_a_stable_unreadable_pseudonym() -> None:
    phone = pseudonym("+55 11 91234-5678")
    assert phone.startswith("[PHONE]~") and phone == pseudonym("+55 11 91234-5678")
    assert phone != pseudonym("+55 11 91234-5679"), "two people must stay two buckets"
    assert redact(phone) == phone and pseudonym("cliente-42") == "cliente-42"


def test_nul_characters_never_reach_a_stored_string() -> None:
    # PostgreSQL refuses \u0000 in text: one such string would stop the ledger writer for everyone
    assert redact_value({"a\x00": ["x\x00y", {"k": "\x00"}]}) == {"a": ["xy", {"k": ""}]}


def test_the_audit_record_masks_user_and_conversation_ids_metadata_prompts_and_tool_arguments() -> None:
    messages = [{"role": "user", "content": "meu CPF é 123 456 789 09"},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": "c1", "type": "function",
                     "function": {"name": "lookup", "arguments": "{\"cpf\": \"12345678909\"}"}}]},
                {"role": "tool", "tool_call_id": "c1", "content": "cliente: 4111.1111.1111.1111"}]
    record = refusal_record("r1", 429, "rate_limit_exceeded", "limit for ana@x.com", organization_id="org_1",
                            key_id="k1", messages=messages,
                            metadata={"user_id": "+55 11 91234-5678", "conversation_id": "ana@x.com",
                                      "extra": {"tags": ["123.456.789-09"]}})
    text = str(record)
    for secret in ("91234", "ana@x.com", "456", "4111"):
        assert secret not in text, f"{secret} reached the audit record: {text}"
    assert record["user_id"].startswith("[PHONE]~") and record["conversation_id"] == "[EMAIL]"
    assert record["messages"][1]["tool_calls"][0]["arguments"] == "{\"cpf\": \"[CPF]\"}"
    assert record["organization_id"] == "org_1" and record["request_id"] == "r1"
