"""Signals that are not keywords: amounts of money, quantities with units, counter-offers, payment terms, urgency.

A high-value lead shows itself by size ("R$ 1,2 mi", "300 seats", "12 lojas") and a negotiation by its shape
("faz 850 que eu levo", "te doy 300 en efectivo", "60 dias no boleto"), in pt, es and en, whatever the words
around them. Each signal is read from the folded text (lowercase, no accents; see routing/text.py) with a few
regular expressions, compiled ASCII-only since folded text is ASCII (faster word classes), and reported both as a
value (for reasons) and as a feature name (for the scorer). The shapes of bargaining are in routing/bargaining.py.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from routing.bargaining import CURRENCY, is_counter_offer
from routing.prefiltered import PrefilteredPattern

#: Magnitude words after a number: 1,2 mi; 3 millones; 450k; 2 milhoes; 500 mil; 1.5M.
_MAGNITUDE = {
    "k": 1e3, "mil": 1e3, "thousand": 1e3, "mi": 1e6, "mm": 1e6, "m": 1e6, "mio": 1e6, "milhao": 1e6,
    "milhoes": 1e6, "millon": 1e6, "millones": 1e6, "million": 1e6, "millions": 1e6, "bi": 1e9,
    "bilhao": 1e9, "bilhoes": 1e9, "billion": 1e9,
}
_MAGNITUDE_WORDS = "|".join(sorted(_MAGNITUDE, key=len, reverse=True))
#: "1.250,00" or "1,250.00" or "10 000", else "1,2" or "850". The first digit is outside the alternation so that a
#: pattern starting with a number has a digit as its first character: `re` then skips to digits in C.
_AFTER_FIRST_DIGIT = r"(?:\d{0,2}(?:[.,\s]\d{3})+(?:[.,]\d{1,2})?|\d*(?:[.,]\d+)?)"
_NUMBER = rf"\d{_AFTER_FIRST_DIGIT}"
#: The same, not starting inside a run of digits: where a number followed by no unit fails, every digit after its
#: first would fail too (a long order or tax number costs one attempt, not one per digit).
#: The look-behind sits after the first digit so that the pattern still starts with a digit (which `re` skips to in C).
_WHOLE_NUMBER = rf"\d(?<!\d\d){_AFTER_FIRST_DIGIT}"
_AMOUNT = re.compile(
    rf"(?P<pre>{CURRENCY})?\s?(?P<num>{_NUMBER})\s?(?P<mag>(?:{_MAGNITUDE_WORDS})\b)?"
    rf"(?:\s?(?:de\s)?(?P<post>{CURRENCY})\b)?", re.ASCII)
#: The longest currency before a number ("dolares") and a space: an amount starts at most this far before its
#: first digit.
AMOUNT_LEAD_CHARS = 8
#: Words that make "320 por pessoa" a price per head rather than a count of people.
_PRICE_PER = r"(?:e|por|per|a|each|cada|pra|para|o|la|el|the)"
#: Counted things that measure the size of a deal or a business: stores, seats, rooms, trucks, boxes...
_UNIT_WORDS = (
    r"loja|lojas|unidade|unidades|filia\w*|franquia\w*|ponto|pontos|quarto\w*|leito\w*|apartamento\w*|apto\w*|deptos?|"
    r"departamentos|centros|centers|centres|"
    r"licen\w*|assento\w*|seats?|usuario\w*|users?|funcionario\w*|colaborador\w*|employee\w*|empleado\w*|"
    r"vendedor\w*|pessoa\w*|people|person\w*|alunos?|students?|clientes|clients|customers|"
    # ("5 vezes pro operador", "24h com operadores", "40 mins for staff" count no one)
    r"(?<!pelo\s)(?<!pela\s)(?<!pro\s)(?<!pra\s)(?<!na\s)(?<!da\s)(?<!de\s)(?<!com\s)(?<!al\s)(?<!con\s)(?<!for\s)"
    r"(?<!hour\s)(?<!horas\s)(?<!h\s)(?<!/\d\s)(?:operadores|operarios|operators|trabalhadores|trabajadores|workers|staff|"
    r"empregados)|"
    r"stores?|shops?|branch\w*|locations?|offices?|rooms?|sucursal\w*|tienda\w*|locale\w*|habitacion\w*|"
    r"caminh\w*|truck\w*|camion\w*|veiculo\w*|carro\w*|vehicle\w*|maquina\w*|machine\w*|equipamento\w*|"
    r"caixa\w*|cajas?|box\w*|pallet\w*|palet\w*|container\w*|conteiner\w*|tonelada\w*|ton\w*|kg|litros?|"
    r"sacas?|sacos?|pe[cç]as|pecas|piezas|pieces|pares|pairs|kits?|modulos|paineis|placas|"
    r"pedidos|orders|envios|entregas|shipments|remessa\w*|cases|casos|contratos|contracts|hectare\w*|ha\b|"
    r"hoteis|hotels|restaurantes|restaurants|clinicas|clinics|escolas|schools|farmacias|pharmacies|"
    r"consultorio\w*|estac\w*|workstations?|desks|salas|andares|floors|predios|edificios|buildings|galpo\w*|"
    r"warehouses|condominios|academias|gyms|sedes|criancas|ninos|kids|children|pacientes|patients|hospedes|"
    r"huespedes|guests|membros|miembros|members|associados|afiliados|atletas|athletes|familias|families|motoristas|"
    r"choferes|drivers|medicos|doctors|professores|profesores|teachers|turmas|endpoints|dispositivos|devices|"
    r"computadores|computers|notebooks|laptops|servidores|servers|celulares|tablets|terminais|terminales|terminals|"
    r"maquininhas|sensores|sensors|camaras|cameras|casas|houses|homes|viviendas|lotes|lots|terrenos|m2|metros\squadrados|metros\scuadrados|square\s(?:meters|metres|feet)|"
    r"sq\s?ft")
_UNIT = re.compile(
    rf"(?P<num>{_WHOLE_NUMBER})\s?(?P<mag>mil\b|k\b)?\s?(?:(?!{_PRICE_PER}\s)[a-z]+\s){{0,2}}?(?P<unit>{_UNIT_WORDS})\b",
    re.ASCII)
#: Something broken or failing: an error message, a feature that does not work.
_PROBLEM = PrefilteredPattern(re.compile(
    r"\b(?:erro|error|errores|erros|falha\w*|falla\w*|fail\w*|bug\w*|travou|travando|trava|caiu|cai\w*\sa\s|"
    r"nao\s(?:funciona|liga|conecta|carrega|abre|entra|consigo|sincroniza|aparece)|no\s(?:funciona|enciende|conecta|"
    r"carga|abre|puedo|sincroniza|aparece)|(?:does|do|did|is|are|it|won)n?\W?t\s(?:work|load|connect|open|sync|start|"
    r"turn\son)|not\sworking|broken|crash\w*|down\b|fora\sdo\sar|sin\sservicio|sem\s(?:sinal|internet|acesso)|"
    r"codigo\s\d|code\s\d|timeout|\d{3}\s(?:error|erro)|(?:error|erro)\s\d{3})", re.ASCII))
#: An unhappy customer: the churn risk the guide sends to a careful model.
_COMPLAINT = PrefilteredPattern(re.compile(
    r"\b(?<!sou\s)(?<!soy\s)(?<!\bam\s)(?<!i\Wm\s)"
    r"(?:absurdo|absurda|pessim\w*|horrivel|horrible|terrible|awful|ridicul\w*|inaceitavel|inaceptable|"
    r"unacceptable|vergonha|verguenza|descaso|desrespeito|falta\sde\srespeto|decepcionad\w*|decepcion\w*|"
    r"disappointed|frustrad\w*|furious|irritad\w*|indignad\w*|reclam\w*|complain\w*|queja\w*|procon|"
    r"reclame\saqui|(?<!empresa\s)(?<!firma\s)(?<!banco\s)(?<!plano\s)(?<!seguro\s)reembols(?!able|avel)\w*"
    # (a claim to a health plan, an insurer or an employer is paperwork: "pedir reembolso no plano", "reembolso da
    # empresa", "a empresa reembolsa", "tarifa no reembolsable")
    r"(?!\s(?:d[oa]s?|pelo|pela|no|na|via|com|con|de|del)\s(?:meu\s|minha\s|mi\s)?(?:plano|convenio|seguro|"
    r"seguradora|aseguradora|empresa|firma|trabalho|banco|isapre|eps|unimed|amil|bradesco|sulamerica)\b)|refund\w*|estorno|devolu\w+\sdo\sdinheiro|dinheiro\sde\svolta|money\sback|"
    r"nunca\smais|never\sagain|nunca\smas|(?:ja|already)\s(?:e\sa|is\sthe)?\s?(?:segunda|terceira|second|third)|"
    r"ninguem\sresponde|nobody\s(?:answers|replies)|nadie\sresponde)\b", re.ASCII))
_PAYMENT_TERMS = PrefilteredPattern(re.compile(
    r"\b(?:\d{2,3}\s?(?:dias|days|dias\s(?:no|de)|ddl)|\d{2}/(?:1[3-9]|[2-9]\d|\d{3})\b(?:/\d{2,3})?\s?(?:dias)?|net\W?\d{2}|"
    r"prazo\w*|plazo\w*|parcel\w*|cuotas|installments?|boleto\w*\sfaturado|faturad\w*|a\scredito|credito|"
    r"consignad\w*|consignment|sin\sinteres\w*|sem\sjuros|entrada\sde|pie\sde|down\spayment)\b", re.ASCII))
#: Counts of units written as words ("we've got four stores", "temos quatro lojas"), three and up.
_COUNT_WORDS_VALUES = {
    "three": 3, "tres": 3, "four": 4, "quatro": 4, "cuatro": 4, "five": 5, "cinco": 5, "six": 6, "seis": 6,
    "seven": 7, "sete": 7, "siete": 7, "eight": 8, "oito": 8, "ocho": 8, "nine": 9, "nove": 9, "nueve": 9,
    "ten": 10, "dez": 10, "diez": 10, "twelve": 12, "doze": 12, "doce": 12, "fifteen": 15, "quinze": 15,
    "quince": 15, "twenty": 20, "vinte": 20, "veinte": 20,
}
_COUNT_WORDS = "|".join(_COUNT_WORDS_VALUES)
_COUNT_WORD = re.compile(rf"\b(?:{_COUNT_WORDS})\b", re.ASCII)
#: A chain or multi-unit business the customer has: "temos 8 lojas", "I own 12 beauty stores", "red de 5 sucursales".
#: The units of a chain or multi-unit business.
_CHAIN_UNITS = (
    r"(?:lojas|filiais|franquias|sucursales|tiendas|locales|stores|shops|branches|locations|restaurantes|"
    r"restaurants|hoteis|hoteles|hotels|pousadas|clinicas|clinics|consultorios|farmacias|pharmacies|escolas|"
    r"colegios|schools|academias|gyms|saloes|salones|salons|padarias|panaderias|bakeries|mercados|supermercados|"
    r"supermarkets|postos|condominios|predios|edificios|buildings|hospitais|hospitales|hospitals|oficinas|"
    r"escritorios|offices|cafeterias|bares|bars|concessionarias|dealerships|fazendas|farms|unidades|units|sedes|"
    r"apartamentos|aptos|deptos|apartments|flats|imoveis|properties|propiedades|departamentos|casas|"
    r"houses)\b")
_CHAIN = re.compile(
    r"\b(?:tenho|temos|somos|possuo|possuimos|administro|administramos|gerencio|gerenciamos|tengo|tenemos|"
    r"manejo|manejamos|we\s(?:have|own|run|manage|operate)|i\s(?:have|own|run|manage|operate)|i\Wve\sgot|"
    r"we\Wve\sgot|(?:rede|red|chain|network|grupo|group)\s(?:de|of|com|con|with)|com|con|with)\s(?:[a-z]+\s){0,4}?"
    rf"(?P<num>{_NUMBER})\s(?:[a-z]+\s){{0,2}}?{_CHAIN_UNITS}", re.ASCII)
#: The same counted in words, right after an owner's verb: "we've got four stores now", "temos quatro lojas" (not
#: "comparei com tres lojas", "I have visited three stores").
_CHAIN_IN_WORDS = re.compile(
    r"\b(?:tenho|temos|tengo|tenemos|somos|we\s(?:have|own|run)|i\s(?:have|own|run)|i\Wve\sgot|we\Wve\sgot)\s"
    r"(?:(?:ja|ya|now|already|agora|ahora|about|like|unas|umas|unos|uns)\s)?"
    rf"(?P<num>{_COUNT_WORDS})\s(?:[a-z]+\s){{0,2}}?{_CHAIN_UNITS}", re.ASCII)
#: "sou dono de 9 bares", "soy dueno de 4 cafeterias", "owner of 12 salons": whatever the units are.
_OWNER_OF = re.compile(
    r"\b(?:(?:sou|soy)\s(?:o\s|a\s|el\s|la\s)?(?:dono|dona|dueno|duena|proprietari[oa]|socio|socia)\s"
    rf"(?:de|da|do|del)|owner\sof)\s(?:[a-z]+\s){{0,2}}?(?P<num>{_NUMBER})\s[a-z]", re.ASCII)
#: Units of a chain from which the customer is a high-value lead (the guide: "many stores, branches").
_CHAIN_MIN_UNITS = 3
_URGENCY = PrefilteredPattern(re.compile(
    r"\b(?:hoje|agora|ja\sja|ainda\shoje|amanha\scedo|urgente|urgencia|imediat\w*|hoy|ahora|ya\smismo|"
    r"manana\stemprano|today|tonight|right\snow|asap|urgent\w*|this\sweek|esta\ssemana|essa\ssemana|"
    r"fecho\shoje|cierro\shoy|close\stoday)\b", re.ASCII))


@dataclass(frozen=True)
class Signals:
    """What a turn shows of the deal's size and shape."""

    largest_amount: float | None = None  # money, in the currency's units, with magnitude applied
    amount_text: str | None = None
    largest_quantity: float | None = None  # counted units (stores, seats, boxes...)
    quantity_text: str | None = None
    counter_offer: bool = False
    payment_terms: bool = False
    urgency: bool = False
    problem: bool = False
    complaint: bool = False
    chain: bool = False  # a chain or multi-unit business of at least _CHAIN_MIN_UNITS units
    large_amount: bool = False  # see _is_large_amount

    def features(self, prefix: str = "") -> list[str]:
        """Feature names for the scorer: magnitudes in powers of ten, the patterns present."""
        names = []
        if self.largest_amount is not None:
            names.append(f"{prefix}amount:1e{_decade(self.largest_amount)}")
        if self.largest_quantity is not None:
            names.append(f"{prefix}qty:1e{_decade(self.largest_quantity)}")
        if self.counter_offer:
            names.append(f"{prefix}counter_offer")
        if self.payment_terms:
            names.append(f"{prefix}payment_terms")
        if self.urgency:
            names.append(f"{prefix}urgency")
        if self.problem:
            names.append(f"{prefix}problem")
        if self.complaint:
            names.append(f"{prefix}complaint")
        if self.chain:
            names.append(f"{prefix}chain")
        return names

    def describe(self) -> list[str]:
        """The signals as words for the decision's reasons."""
        words = []
        if self.amount_text:
            words.append(f"amount {self.amount_text}")
        if self.quantity_text:
            words.append(f"quantity {self.quantity_text}")
        if self.counter_offer:
            words.append("counter-offer")
        if self.payment_terms:
            words.append("payment terms")
        if self.urgency:
            words.append("urgency")
        if self.problem:
            words.append("something broken")
        if self.complaint:
            words.append("unhappy customer")
        if self.chain:
            words.append("multi-unit business")
        if self.large_amount:
            words.append("a large amount")
        return words


_DIGIT = re.compile(r"\d")
#: The least amount that shows a high-value lead by itself, in a currency of plain worth (see _is_large_amount).
LARGE_AMOUNT = 300_000
_STRONG_MONEY = re.compile(r"r\$|us\$|u\$s|usd|brl|eur|(?<![a-z])(?:reais|real|dolares|dollars|euros|mi|milhao|milhoes|"
                           r"million|millions|k|thousand|bi|bilhao|bilhoes|billion)\b", re.ASCII)
_WEAK_MONEY = re.compile(r"peso|\b(?:clp|cop|ars|mxn|soles|pen)\b", re.ASCII)


def read_signals(folded: str) -> Signals:
    """The signals of one folded text (see routing.text.fold)."""
    has_digits = _DIGIT.search(folded) is not None
    amount, amount_text = _largest_amount(folded) if has_digits else (None, None)
    quantity, quantity_text = _largest_quantity(folded) if has_digits else (None, None)
    problem, complaint = _PROBLEM.found_in(folded), _COMPLAINT.found_in(folded)
    return Signals(amount, amount_text, quantity, quantity_text, is_counter_offer(folded),
                   _PAYMENT_TERMS.found_in(folded), _URGENCY.found_in(folded), problem, complaint,
                   _is_chain(folded, has_digits),
                   not (problem or complaint) and _is_large_amount(amount, amount_text))


def _is_large_amount(amount: float | None, text: str | None) -> bool:
    """A budget, purchase or investment "in the hundreds of thousands or millions" (the labelling guide), where the
    amount's worth is plain: reais, dollars, euros or pounds, or a million or "k" magnitude. Pesos, and a bare
    "mil" or "millones", may be worth a hundred times less (a million Colombian pesos is about 250 dollars)."""
    if amount is None or amount < LARGE_AMOUNT or text is None:
        return False
    return _STRONG_MONEY.search(text) is not None and _WEAK_MONEY.search(text) is None


def parse_number(text: str) -> float | None:
    """'1.250,00', '1,250.00', '2.000', '1,2', '1.5', '10 000' as a number; None when it is not one."""
    digits = text.replace(" ", "")
    if "." in digits and "," in digits:
        decimal = "," if digits.rfind(",") > digits.rfind(".") else "."
        thousands = "." if decimal == "," else ","
        digits = digits.replace(thousands, "").replace(decimal, ".")
    elif re.fullmatch(r"\d{1,3}(?:[.,]\d{3})+", digits):
        digits = re.sub(r"[.,]", "", digits)
    else:
        digits = digits.replace(",", ".")
    try:
        return float(digits)
    except ValueError:
        return None


def _largest_amount(folded: str) -> tuple[float | None, str | None]:
    best: tuple[float | None, str | None] = (None, None)
    for match in _amounts(folded):
        magnitude = match.group("mag")
        if not (match.group("pre") or match.group("post") or _is_money_magnitude(match)):
            continue  # a bare number is not money
        value = parse_number(match.group("num"))
        if value is None:
            continue
        value *= _MAGNITUDE.get(magnitude or "", 1.0)
        if not math.isfinite(value):
            continue  # a number of hundreds of digits
        if best[0] is None or value > best[0]:
            best = (value, match.group(0).strip())
    return best


def _amounts(folded: str) -> Iterator[re.Match[str]]:
    """`_AMOUNT.finditer(folded)`, searching only from a little before each digit: the optional currency in front
    of the number makes `re` try every position of the text, and most are far from any digit."""
    position = 0
    while (digit := _DIGIT.search(folded, position)) is not None:
        match = _AMOUNT.search(folded, max(position, digit.start() - AMOUNT_LEAD_CHARS))
        if match is None:
            return
        yield match
        position = match.end()


def _is_money_magnitude(match: re.Match[str]) -> bool:
    """A magnitude without a currency: "500 mil", "450k", "1,8 mi" are money; "5 m" is a length, "20 mi away" a
    distance and "305 mi consulta" a possessive; "2 mm" is a length too unless a yearly or monthly figure follows
    ("facturamos 50 MM al año")."""
    magnitude, end = match.group("mag"), match.end("mag")
    if not magnitude or magnitude == "m" or _COUNTED_AFTER.match(match.string, end):
        return False
    if magnitude == "k":
        return _is_thousands(match.group("num"))
    if magnitude == "mm":
        return _MILLIONS_PER.match(match.string, end) is not None
    return magnitude != "mi" or not (_MILES.match(match.string, end) or _POSSESSIVE_MI.match(match.string, end))


#: The Spanish possessive after a number ("depto 305 mi consulta es...", "pedido 10234 mi correo"), not millions.
_POSSESSIVE_MI = re.compile(
    r"\s(?:consulta|pregunta|numero|correo|nombre|pedido|orden|hijo|hija|hijos|esposo|esposa|mama|papa|madre|padre|"
    r"cuenta|tarjeta|direccion|celular|telefono|duda|problema|auto|carro|coche|perro|perra|gato|gata|mascota|negocio|"
    r"familia|casa|depto|departamento|email|mail|whatsapp|factura|boleta|rut|cedula|dni|cita|turno|reserva|vuelo|"
    r"novia|novio|hermano|hermana|jefe|empresa|local|tienda|idea|opinion|caso|queja|reclamo)\b", re.ASCII)
#: What follows miles: "20 mi away", "12 mi from the port", "300 mi north", "65 mi/h".
_MILES = re.compile(r"\s?(?:/|away|from|north|south|east|west|out|off|radius|drive|long|round|each|per|of\s|"
                    r"de\sdistancia)", re.ASCII)
#: What a magnitude counts when it is not money: "500 mil litros", "190 mil km", "480 milhoes de celulas".
_COUNTED_AFTER = re.compile(
    rf"\s?(?:{_UNIT_WORDS}|(?:de\s)?(?:usuarios|users|clientes|customers|pessoas|personas|people|linhas|lineas|rows|"
    r"lines|assinantes|suscriptores|subscribers|inscritos|km|quilometros|kilometros|miles|celulas|golpes|ciclos|cycles|habitantes|"
    r"inhabitants|seguidores|followers|views|visualizac\w+|acessos|visitas|visits|downloads|registros|records|"
    r"mensagens|mensajes|messages|emails|copias|copies|impress\w+|horas|hours|cabecas|cabezas|head|aves|frangos|"
    r"pollos|chickens|ovos|huevos|eggs|mudas|plantas|arvores|arboles|trees|garrafas|botellas|bottles|latas|cans))\b",
    re.ASCII)


def _is_thousands(number: str) -> bool:
    """ "450k" is money; "3000K" is a colour temperature and "401k" a retirement plan."""
    return number not in ("401", "403") and (parse_number(number) or 0) < 1000


#: What makes "50 mm" millions rather than millimetres: a period or what was counted ("al ano", "de pesos").
_MILLIONS_PER = re.compile(r"\s?(?:al\s(?:ano|mes)|por\s(?:ano|mes)|anuales|mensuales|(?:a|per)\s(?:year|month)|"
                           r"de\s(?:pesos|dolares|reais|soles|euros)|en\sventas|in\s(?:sales|revenue))\b", re.ASCII)


def _largest_quantity(folded: str) -> tuple[float | None, str | None]:
    best: tuple[float | None, str | None] = (None, None)
    for match in _UNIT.finditer(folded):
        if _is_year(match):
            continue
        value = parse_number(match.group("num"))
        if value is None:
            continue
        if match.group("mag"):
            value *= 1e3
        if best[0] is None or value > best[0]:
            best = (value, match.group(0).strip())
    return best


def _is_year(match: re.Match[str]) -> bool:
    """ "desde 2015 atendemos familias" dates the story; "2015 familias" would count them."""
    words_between = match.string[match.end("mag") if match.group("mag") else match.end("num"):match.start("unit")]
    return re.fullmatch(r"(?:19|20)\d\d", match.group("num")) is not None and bool(words_between.strip())


def _is_chain(folded: str, has_digits: bool) -> bool:
    """A chain counted in digits (only where there are digits) or in words (only where a count word is)."""
    patterns = (_CHAIN, _OWNER_OF) if has_digits else ()
    if _COUNT_WORD.search(folded):
        patterns += (_CHAIN_IN_WORDS,)
    return any(_count(match.group("num")) >= _CHAIN_MIN_UNITS
               for pattern in patterns for match in pattern.finditer(folded))


def _count(number: str) -> float:
    return _COUNT_WORDS_VALUES.get(number) or parse_number(number) or 0


def _decade(value: float) -> int:
    return min(9, max(0, int(math.log10(value)))) if value >= 1 else 0
