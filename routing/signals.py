"""Signals that are not keywords: amounts of money, quantities with units, counter-offers, payment terms, urgency.

A high-value lead shows itself by size ("R$ 1,2 mi", "300 seats", "12 lojas") and a negotiation by its shape
("faz 850 que eu levo", "te doy 300 en efectivo", "60 dias no boleto"), in pt, es and en, whatever the words
around them. Each signal is read from the folded text (lowercase, no accents; see routing/text.py) with a few
regular expressions, compiled ASCII-only since folded text is ASCII (faster word classes), and reported both as a
value (for reasons) and as a feature name (for the scorer).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass

from routing.prefiltered import PrefilteredPattern

#: Currency markers before or after a number.
_CURRENCY = (r"(?:r\$|us\$|u\$s|\$|€|£|usd|brl|mxn|ars|clp|cop|pen|eur|reais|real|dolares|dolars|dollars|pesos|"
             r"euros|soles)")
#: Magnitude words after a number: 1,2 mi; 3 millones; 450k; 2 milhoes; 500 mil; 1.5M.
_MAGNITUDE = {
    "k": 1e3, "mil": 1e3, "thousand": 1e3, "mi": 1e6, "mm": 1e6, "m": 1e6, "mio": 1e6, "milhao": 1e6,
    "milhoes": 1e6, "millon": 1e6, "millones": 1e6, "million": 1e6, "millions": 1e6, "bi": 1e9,
    "bilhao": 1e9, "bilhoes": 1e9, "billion": 1e9,
}
_MAGNITUDE_WORDS = "|".join(sorted(_MAGNITUDE, key=len, reverse=True))
#: "1.250,00" or "1,250.00" or "10 000", else "1,2" or "850". The first digit is outside the alternation so that a
#: pattern starting with a number has a digit as its first character: `re` then skips to digits in C.
_NUMBER = r"\d(?:\d{0,2}(?:[.,\s]\d{3})+(?:[.,]\d{1,2})?|\d*(?:[.,]\d+)?)"
_AMOUNT = re.compile(
    rf"(?P<pre>{_CURRENCY})?\s?(?P<num>{_NUMBER})\s?(?P<mag>(?:{_MAGNITUDE_WORDS})\b)?"
    rf"(?:\s?(?:de\s)?(?P<post>{_CURRENCY})\b)?", re.ASCII)
#: The longest currency before a number ("dolares") and a space: an amount starts at most this far before its
#: first digit.
AMOUNT_LEAD_CHARS = 8
#: Words that make "320 por pessoa" a price per head rather than a count of people.
_PRICE_PER = r"(?:e|por|per|a|each|cada|pra|para|o|la|el|the)"
#: Counted things that measure the size of a deal or a business: stores, seats, rooms, trucks, boxes...
_UNIT = re.compile(
    rf"(?P<num>{_NUMBER})\s?(?P<mag>mil\b|k\b)?\s?(?:(?!{_PRICE_PER}\s)[a-z]+\s){{0,2}}?(?P<unit>"
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
    r"sq\s?ft)\b", re.ASCII)
#: Fees a customer asks to have waived ("zeram a taxa de adesão?"); the subjunctive reads only these, leaving out the
#: English "fee" ("the tire disposal fee").
_WAIVABLE_FEE = (r"(?:tarifa|taxa|anuidade|frete|multa|juros|mensalidade|matricula|instalacao|setup|comision|cuota|"
                 r"envio|flete|adesao|deslocamento|cargo|recargo)")
#: Money words after a number: "por 5 mil", "en 95 millones", "for 20 bucks".
_MONEY_WORD = (r"(?:mil|k|reais|real|reales|redondo|pesos|millones|milhoes|mi|conto|contos|paus|pila|lucas|dolares|"
               r"dollars|bucks|quid|pounds|euros)\b")
#: Words that may follow a sum named as a price ("q eu levo", "no pix", "cada", "em vez de", "instead"); any other
#: word makes it a count ("por 200 camisetas", "por 10.000 km").
_PRICE_FOLLOWER = (r"\s(?:q|e|y|o|a|ao|no|na|em|en|se|si|pq|hj|ja|eu|yo|i|we|ok|"
                   r"que|cada|each|apiece|total|together|instead|rather|hoje|hoy|os|as|los|las|both|por|per|al|usd|"
                   r"puesto|today|fechado|redondo|pra|para|cash|vista|contado|efectivo|sem|sin|with|com|con|and|if|then|"
                   rf"{_MONEY_WORD})\b")
#: What may follow a sum named as a price: the end, punctuation or a follower word.
_AFTER_A_SUM = rf"(?=\s?(?:[?!;)]|[.,](?:\s|$)|$)|{_PRICE_FOLLOWER})"
#: After "a NN", only a follower word or a comma says it is a price: "faz a sessao a 95, vcs cobram 130" is; "deja el
#: aire a 22?" and "el turno a 15?" are not.
_WORD_AFTER_A_SUM = rf"(?=[.,]\s|{_PRICE_FOLLOWER})"


def _named_price(digits: int, after: str = _AFTER_A_SUM, cents: bool = True) -> str:
    """A sum of money named as the price the customer wants: with a currency, or a number of `digits` digits or more
    or with `cents` ("9,90"; not "0800") followed by what follows a price (`after`), or any number before a money
    word."""
    decimals = r"|\d{1,4}[.,]\d\d\b" if cents else ""
    return (rf"(?:(?:r\$|us\$|\$)\s?\d[\d.,]*|(?!0)(?=\d{{{digits}}}|\d{{1,3}}[.,]\d{{3}}{decimals})"
            rf"\d[\d.,]*?\d{after}"
            rf"|\d[\d.,]*\s?(?={_MONEY_WORD}))")


_COUNTER_OFFER = PrefilteredPattern(re.compile(
    r"\b(?<!ja\s)(?:faz|faria|fecha|fecho|fechamos|deixa|deixo|sai|pago|pagaria|levo|dou|doy|hace|haces|dejame|dejalo|"
    r"cierro|llevo|i\Wll\s(?:do|pay|take|give)|would\s(?:you|u)\s(?:do|take)|can\s(?:you|u)\sdo|will\s(?:you|u)\s(?:do|take)|"
    r"how\sabout|what\sabout)\s(?:(?:por|em|a|pra|por\so|for|at|en|tudo\spor|los|las|os|as)\s)?"
    rf"(?:{_CURRENCY}\s?)?\d[\d.,]*(?!\d|[.,]?\d|\s?(?:dias?|horas?|h\b|hs\b|meses|mes|anos?|semanas?|minutos?|min\b|"
    r"days?|hours?|weeks?|months?|years?|dias?\b|an[oi]s?|generac\w*|generations?|decadas|vezes|veces|times))"
    r"|\d[\d.,]*\s?(?:k|mil)?\s?(?:reais|pesos|dolares|dollars|bucks)?\s?(?:que|y|and|e)\s(?:eu\s)?"
    r"(?:levo|fecho|fechamos|pego|compro|llevo|cierro|cerramos|take\sit|buy|close)"
    r"|\d+\s?%\s?(?:off|de\sdesconto|de\sdescuento|desconto|descuento|menos|discount)"
    r"|\b(?:mais\sbarato|menor\spreco|melhor\spreco|mejor\sprecio|precio\sespecial|best\sprice|better\sprice|"
    r"cobr\w+\smenos|baixa\w*\so\svalor|abaixa\w*|rebaixa\w*|chorinho|desconto\w*|descuento\w*|discount\w*|"
    r"rebaja\w*|regateo|negocia\w*|negotia\w*|cubr\w+\s(?:el|ese|esse|este|o)\s(?:precio|preco|valor|oferta)|"
    r"iguala\w*\s(?:(?:el|ese|este|o|esse|a|essa)\s)?(?:precio|preco|valor|oferta|propuesta|proposta)|"
    r"price\smatch\w*|(?:can|could|will|would)\s(?:you|u)\s(?:match|beat)|match\w*\s(?:(?:the|their|that|this|a|his|her|my)\s)?(?:\w+\s)?(?:price|offer|quote|deal)|"
    r"beat\s(?:the|their|that|this)\s(?:price|offer|quote)|cobrir\w*\sa\soferta|"
    r"(?:vi|achei|encontrei|acharam|saw\sit|found\sit|lo\svi|la\svi|lo\sencontre|la\sencontre)\s"
    r"(?:[a-z]+\s){0,4}?(?:por|a|en|for|at)\s(?:r\$\s?|us\$\s?|\$\s?)?(?:\d[\d.,]*\d|\d)"
    r"(?![.,]?\d|\s?(?:dias?|semanas?|meses|anos?|horas?|minutos?|km|days?|weeks?|months?|years?|hours?))|"
    r"concorrente\w*|competidor\w*|competitor\w*|cancel\w*\sse|cancelar\so\scontrato|otherwise\si\W?ll\scancel|"
    # ("nada muito caro", "que nao fique muito caro" ask for something cheap, not for a lower price)
    r"(?<!seja\s)(?<!sea\s)(?<!fique\s)(?<!ficar\s)(?<!fosse\s)(?<!nada\s)(?<!quede\s)(?<!nothing\s)"
    r"(?:ta|esta|muito|mto|mt|meio|bem|tao|muy|un\spoco|demasiado|too|so|very|bit|little|still|"
    r"ainda)\s(?:caro|cara|"
    r"salgad[oa]|expensive|pricey|steep)|"
    # the competitor's price, asked to be approached: "a X fez 31 mil pro mesmo escopo, tem como chegar perto?"
    r"(?:chegar|chega|chegam|chegaria|llegar|llegan)\s(?:perto(?!\s(?:d[aeo]s?|de)\b)|nisso|nesse\s(?:valor|preco)|"
    r"a\sese\s(?:precio|valor))|"
    # an old price quoted back: "vi q era 49 ano passado"
    r"(?:era|custava|saia|was|costaba)\s(?:r\$\s?|\$\s?|us\$\s?)?\d[\d.,]*\s(?:(?:mil|k|reais|pesos|dollars|dolares)\s)?"
    r"(?:(?:no|el|o|en\sel)\s)?(?:ano|mes|last)\s(?:passado|pasado|year|month)|melhora\w*\s(?:o\s|esse\s|a\s)?(?:preco|valor|proposta|condic\w+)|"
    r"(?:fazer|faz|faze|fazem)\s(?:um|uma|algo|alguma|aquele|aquela|esse|essa)\s(?:preco|precinho|condic\w+|coisa)|"
    # a lower price asked of the seller: "vcs conseguem baixar o prêmio?", "could you lower the rate?"
    r"(?:consegue\w*|pode\w*|poderia\w*|da\spra|tem\scomo|can\s(?:you|u)|could\s(?:you|u)|would\s(?:you|u)|pueden|"
    r"puede|podrian|podria|podes)\s(?:[a-z]+\s){0,2}?(?:baixar|reduzir|diminuir|abaixar|lower|reduce|bring\sdown|bajar|"
    r"rebajar|reducir)\s(?:o|a|esse|essa|este|the|that|el|la|ese|esa|my|our|meu|minha|nosso|nossa|mi|nuestro)\s"
    r"(?:premio|preco|valor|mensalidade|parcela|taxa|frete|premium|price|rate|quote|fee|precio|cuota|tarifa|"
    r"mensualidad)|"
    r"(?:preco|valor|condic\w+|tarifa|taxa|rate|price|deal)\s(?:especial|melhor|better|special)|"
    r"(?:special|better|lower|best)\s(?:rate|price|deal|offer)|can\syou\sdo\s(?:better|something)|"
    r"(?:done|deal)\s(?:at|for)\s(?:\$\s?|us\$\s?)?\d[\d.,]*k?(?=\s?(?:\?|!|$))|"
    # a price named for a thing: "faz os 2 laudos por 1.400?", "faz o growler por 25 pra mim?", "me deja la nueva en
    # 95 millones?", "would you do the 3 week hire for $200?", "can you do the 5L mayo for a tenner?". A sum, not a
    # count ("por 200 camisetas", "por 10.000 km"), a size after a number ("50 por 70", "troca do 38 por 40"), a
    # booking ("mesa por 10?", "a table for 12?") or a block's letter ("torre a 101")
    r"\b(?:faz|faria|fazem|fariam|deixa|deixaria|hace|haces|harian|haria|deja|dejas|dejarian|dejaria)\s"
    r"(?:(?:[a-z0-9]+\s){0,4}?[a-z0-9]*[a-z][a-z0-9]*\s(?<!bloco\s)(?<!torre\s)(?<!quadra\s)(?<!sala\s)(?<!mesa\s)(?<!reserva\s)"
    rf"(?<!\sar\s)(?:por\s{_named_price(2)}|a\s(?:{_named_price(3)}|{_named_price(2, _WORD_AFTER_A_SUM)})|"
    rf"en\s{_named_price(3)})|(?:[a-z0-9]+\s){{0,4}}?\d[\d.,]*\s(?:por|a|en)\s{_named_price(3, cents=False)})|"
    r"\b(?:can|could|would|will)\s(?:you|u|ya)\s(?:do|take|give\s(?:me|us)|let\s(?:me|us)\shave)\s(?:[a-z0-9]+\s){0,5}?"
    rf"(?:(?:for|at)\s{_named_price(3, cents=False)}|(?:for|at)\s\d[\d.,]*\s?(?:each|apiece|a\s(?:case|box|unit|"
    r"piece|head|night|seat))|for\s(?!0)\d\d(?=\s(?:instead|rather|each|apiece|total|cash|usd|dollars|bucks|quid))"
    r"|for\sa\s(?:tenner|fiver))[\d.,]*|"
    # the terms asked for: "q condiciones me dan?", "what terms can you offer?"
    r"(?:que|q|qual|quais|what|which)\s(?:condic\w+|terms)\s(?:(?:me|nos|you|u)\s)?(?:dan|da|dao|dariam|darian|ofrecen|"
    r"oferecem|ofereceriam|hacen|fazem|can\s(?:you|u)\s(?:offer|give|do)|could\s(?:you|u)\s(?:offer|give|do)|"
    r"would\s(?:you|u)\s(?:offer|give))|"
    # a ceiling or a perk asked for: "not a penny more", "the books are on the house?", "rola alguma coisa pra mim?"
    r"not\sa\s(?:penny|cent|dollar)\smore|nem\sum\s(?:centavo|real|tostao)\sa\smais|ni\sun\s(?:peso|centavo|sol|dolar)\smas|"
    r"on\sthe\shouse|rola\s(?:um|uma|algum|alguma|algo)\s?(?:condic\w*|precinho|preco\sespecial|coisa|a\smais)?"
    r"(?=\s?\?|\spra\s(?:mim|nos|gente|eles))|"
    r"mais\sem\sconta|da\spra\s(?:baixar(?!\s(?:(?:as|os|o|a|um|uma|pelo|pela|no|na)\s)?(?:aulas?|app|aplicativo|arquivos?|"
    r"videos?|fotos?|musicas?|pdf|boleto|nota|certificado|relatorio))|melhorar|fazer\s(?:um|uma|algo|melhor|por|mais))|"
    r"puede\w*\s(?:bajar|mejorar|hacer\salgo)|"
    # how much less, if something is dropped: "se eu tirar o DJ, baixa quanto?"
    r"(?:baixa|abaixa|desce|cai)\s(?:pra\s|para\s)?quanto|quanto\s(?:baixa|abaixa|desce)|quanto\scai(?=\s?\?|$|\spor\s|\scada)|"
    r"cuanto\s(?:baja|bajaria)|how\smuch\soff|"
    r"(?:bajar|mejorar)\s(?:el\s)?precio|"
    # the competitor's price, asked to be met: "ta vendendo a 98, vcs fazem o mesmo?", "na cooperativa ta 395. cobre?"
    r"(?:fazem|faz|fariam|faria|hacen|hace|harian|do|would\syou\sdo)\s(?:o\smesmo|igual|lo\smismo|the\ssame)"
    r"(?:\s(?:preco|valor|precio|price))?(?=\s?\?)|"
    # ("o plano cobre?", "vcs compram cobre?" are not: only a bare "cobre?" or one said to the seller)
    r"(?:(?<![^.,!;\s])(?<![a-z0-9]\s)|\b(?:vcs?|voces?|voce|tu|ustedes|usted|ud|uds)\s)(?:cobre|cobrem|cubre|cubren)(?=\s?\?)|"
    # a discount asked for as a percentage given: "vc da 20% pros pacientes dela?"
    r"(?:da|dao|dava|fazem|rola|dan|hacen|give|offer)\s(?:um\s|uns\s|un\s|a\s)?\d+(?=\s?%)|"
    # a price objection: "acima do que a gente planejou", "over our budget", "fuera de presupuesto"
    r"(?:acima|fora|alem)\sdo\s(?:q|que\s|nosso\s|meu\s)?(?:a\sgente\s|eu\s)?(?:planej\w*|esperava|orcamento|orcado)|"
    r"(?:over|above|beyond|out\sof)\s(?:our|my|the)\sbudget|fuera\sde(?:l|\smi|\snuestro)?\spresupuesto|"
    r"tem\scomo\s(?:melhorar|baixar|fazer\s(?:melhor|menos|por))|"
    # an ultimatum: "ou vcs me dao X ou vou pedir estorno", "ou vcs seguram o valor ou eu saio",
    # "se nao resolverem o valor vou cancelar", "cancel unless you refund"
    r"ou\s(?:eu\s)?vou\s(?:cancelar|pedir\s(?:o\s|um\s)?(?:estorno|reembolso|cancelamento)|procurar\soutr\w*)|"
    r"ou\s(?:vcs?|voces|voce)\s[^.?!]{3,80}?\sou\s(?:eu\s|entao\s)?(?:cancel\w*|saio|troco|levo|mudo|apago|desinstalo|"
    r"rescindo)|"
    r"se\s(?:vcs?\s|voces\s)?nao\s(?:[a-z]+\s){1,8}?(?:eu\s)?(?:vou\s)?cancel\w*|"
    r"si\sno\s(?:[a-z]+\s){1,8}?(?:voy\sa\s)?(?:cancel\w*|me\svoy)|"
    r"cancel\w*[^.?!]{0,40}?\b(?:unless|a\smenos\sq(?:ue)?|salvo\sque|a\snao\sser\sq(?:ue)?)|or\selse|"
    # a trade offered as part of the price: "te dou meu hb20 + 40 mil pela compass", "minha titan de entrada"
    r"(?:te\s)?dou\s(?:o\s|a\s)?(?:meu|minha)\s|te\sdoy\s(?:mi|el\smio)\s|i\Wll\sgive\syou\smy\s|"
    r"(?:meu|minha|mi)\s(?:[a-z0-9]+\s){0,3}?(?:na\stroca|como\s(?:parte|entrada)|de\sentrada|a\scuenta)|"
    r"trade\W?in|part\W?exchange|"
    # the old price or last year's deal, asked to be kept: "mantem esse valor?", "ano passado vcs fizeram 10%"
    r"(?:manter|mantem|mantenham|manterem|mantiverem|segurar|segura|sostiene\w*|mantener|mantienen|mantengan|"
    r"keep|hold)\s(?:[a-z]+\s){0,3}?(?:preco|valor|precio|taxa|tarifa|rate|pricing|price|desconto|descuento|"
    r"discount|condic\w+)|(?:preco|valor|precio|rate|pricing|taxa|tarifa)\s(?:do|del|de)\s(?:ano|mes)\s"
    r"(?:passado|pasado)|last\syear\Ws\s(?:price|pricing|rate)|(?:ano|mes)\s(?:passado|pasado)\s(?:[a-z]+\s){0,4}?"
    r"(?:fizeram|deram|fez|hicieron|dieron|hizo)\s(?:um\s|uns\s|el\s|la\s|un\s|una\s)?(?:\d+(?=\s?%)|\d+x\d+|"
    r"desconto|descuento|promo\w*)|(?:gave|give)\s(?:us|me)\s\d+(?=\s?%)|"
    r"(?:precio|preco|valor|tarifa|price|rate)\s(?:[a-z]+\s){0,3}?(?:que\s(?:eu\s|nos\s|a\sgente\s)?(?:tenia|tinha|"
    r"pagava|pagaba|tinhamos|teniamos|pagavamos|pagabamos)|i\s(?:had|paid|was\spaying)|we\s(?:had|paid|were\spaying))"
    r"\s(?:antes|before|(?:el\s|o\s|no\s)?(?:ano|mes)\s(?:passado|pasado)|last\s(?:year|month))|"
    r"(?:deixa\w*|dej\w*)\s(?:me\s)?(?:(?:o|el)\s(?:preco|precio|valor|tarifa)\s(?:de|do|del|da|que|antigo|anterior|"
    r"viejo|promocional)|(?:no|en\sel|al)\s(?:preco|precio|valor))|let\sme\skeep\s(?:the|my|our)\s(?:price|rate)|"
    r"(?:congela|congelar|congelam|congelarem|congelem|congelan|congelen|freeze)\s(?:(?:o|el|the|a|la|esse|ese|this|"
    r"our|my|nosso|meu|nuestro|mi)\s)?(?:preco|valor|precio|tarifa|taxa|price|rate|pricing)|"
    r"(?:manter|mantem|mantenham|manterem|mantiverem|mantener|mantienen|mantengan|keep|hold)\s(?:(?:os|o|el|los|the|"
    r"at|me\sos|me\so)\s)?(?:r\$\s?|\$\s?|us\$\s?)?\d[\d.,]*\s(?:do|del|de|from)\s(?:ano|mes|last)|"
    r"(?:repetir|repete|repitan|repeat)\s"
    r"(?:[a-z]+\s){0,2}?(?:desconto|descuento|promo\w*|\d+x\d+|condic\w+|discount|deal|preco|precio|price)|"
    # something given in exchange: "divulgo vcs em troca de assinatura", "a post in exchange for a free shoot"
    r"a\scambio\sde|em\stroca\sde|in\sexchange\sfor|"
    # more for the same money: "could you upgrade us to the suite at the same rate?"
    # (not "is it the same price for kids?", a lookup)
    r"(?<!\se\so\s)(?<!^e\so\s)(?<!es\sel\s)(?<!it\sthe\s)(?<!is\sthe\s)(?<!sao\so\s)(?<!no\s)(?<!entra\s)"
    r"(?<!entram\s)(?:mesmo|mismo|same)\s(?:rate|price|preco|valor|precio|tarifa)|"
    r"(?:inclu\w*|coloca\w*|bota\w*|add|throw\sin|upgrade\w*|poe|mete)\s(?:[a-z]+\s){0,5}?(?:no|pelo|al|at\sthe|"
    r"for\sthe|por\sel)\s(?:mesmo|mismo|same)\s(?:valor|preco|precio|price|rate)|"
    # a conditional close: "se topar assino essa semana", "si me lo dejan asi firmo hoy"
    r"se\s(?:vcs?\s|voces\s)?(?:topar\w*|aceitar\w*|fizer\w*|fecharem|zerar\w*|isentar\w*|tirar\w*|baixar\w*|"
    r"incluir\w*|cobrir\w*|deixar\w*)\s(?:[a-z0-9]+\s){0,6}?(?:eu\s)?"
    r"(?:assino|assinamos|fecho|fechamos|compro|compramos|levo|levamos|pago|trago|passo|contrato|contratamos|migro|mudo|"
    r"renovo|renovamos|comeco|comecamos|matriculo|inscrevo)|"
    r"se\s(?:vcs?\s|voces\s)?(?:derem|der|dar|liberar\w*)\s(?:[a-z0-9]+\s){0,6}?(?:eu\s)?(?:assino|fecho|fechamos|"
    r"compro|levo|contrato|renovo)|"
    r"(?:me|nos)\s(?:dejan|deja|dejarian|dejas|respetan|respetarian)\s(?:la|el)\s(?:tarifa|precio|valor)|"
    r"si\s(?:me\s|nos\s)?(?:lo|la)\s(?:dejan|deja)\s(?:en|a)\s|"
    r"(?:can|could)\s(?:you|u)\s(?:get|come)\sclose|"
    r"(?:ta|esta|ficou)\spuxad[oa]\s(?:pra|para)\s(?:mim|nos|a\sgente)|\d+\s(?:ta|esta)\spuxad[oa]|"
    r"si\s(?:(?:me|nos)\s(?:lo\s|la\s)?(?:hacen|dejan|dan|quitan|bajan|incluyen|cubren|regalan)|aceptan|quitan|eliminan|"
    r"bajan)\s"
    r"(?:[a-z0-9]+\s){0,6}?(?:firmo|cierro|compro|llevo|pago|traigo|paso|contrato|renuevo|firmamos|cerramos|"
    r"empiezo|empezamos|arranco|inscribo)|"
    r"if\syou\s(?:agree|accept|can\sdo|waive|drop|include|throw\sin|cover|match|give)\s(?:[a-z0-9]+\s){0,6}?"
    r"(?:i|we)\W?(?:ll|d|will|would)\s(?:sign|buy|close|order|bring|move|switch|renew|commit|start|enroll)|"
    # a fee asked to be waived: "zeram a taxa de adesao?", "can you waive the setup fee"
    r"(?:zera|zerar|zeram|zerarem|isenta|isentar|isentam|isentarem|abona|abonar|abonam|waive|tira|tirar|tiram|tirarem|"
    r"perdoa|perdoar|perdoam|quita|quitan|quitar|quiten|elimina|eliminan|eliminar|dispensa|dispensar|dispensam)\s"
    rf"(?:[a-z]+\s){{0,3}}?(?:{_WAIVABLE_FEE}|fee|fees|almacenaje)|"
    r"(?:tarifa|taxa|frete|multa|juros|fee|comision|flete|deslocamento|almacenaje)\s(?:[a-z]+\s){0,3}?(?:vcs?|voces?|"
    r"ustedes|me)\s(?:tira|tiram|tirar|isenta|zera|dispensa|perdoa|abona|quita|quitan|condonan)|"
    r"condon(?:a|an|ar|en|e|aria|arian)\b|"
    r"da\spra\s(?:isentar|zerar|abonar|dispensar|perdoar)|"
    # the same asked in the subjunctive: "preciso q tire a taxa de hospedagem pra fechar"
    r"(?:q|que|pra|para)\s(?:vcs?\s|voces?\s|me\s|nos\s)?(?:tire|tirem|zere|zerem|isente|isentem|abone|abonem|dispense|"
    rf"dispensem|perdoe|perdoem|quite|quiten|elimine|eliminen)\s(?:[a-z]+\s){{0,3}}?{_WAIVABLE_FEE}|"
    # a close on a condition: "quero fechar, mas so se incluir as palmilhas", "only if you throw in the case"
    r"(?:so\sse|solo\ssi|only\sif)\s(?:vcs?\s|voces\s|you\s|ustedes\s)?(?:inclu\w*|congel\w*|fizer\w*|"
    r"baixar\w*|tirar\w*|manter\w*|mantiver\w*|zerar\w*|isent\w*|cobrir\w*|iguala\w*|parcel\w*|hacen|dan|dejan|"
    r"bajan|incluyen|mantienen|throw|include|drop|waive|match|lower|keep|freeze)|"
    # goods taken off the bill: "vcs compram ou abatem no pedido?"
    r"abat\w*\s(?:[a-z]+\s){0,2}?(?:no|do|da|na|del|en\sel|from\sthe)\s(?:pedido|valor|preco|total|pago|fatura|boleto|"
    r"conta|compra))\b", re.ASCII))
#: An offer the customer makes, or asks the seller to make, in words the counter-offer shapes above miss:
#: - a price named in the first person ("faço 500 e busco hj"), not a count ("faço 3 coleções por ano");
#: - half now and the rest later ("pago metade agora e metade na entrega"), unless the customer only asks whether
#:   that is the rule ("tenho que pagar metade...");
#: - the seller's best asked for ("what's the best you can do?", "what can you do on price?");
#: - a lower price asked for on a condition ("se eu pegar 2 carros sai mais barato?");
#: - a swap proposed ("troco meu casal de agapornis num de calopsita, topa?", "le cambio mi bici por la inscripcion",
#:   "troco ela por uma tela minha e completo a diferenca"), not an exchange asked for ("troco por um maior?").
_OFFER = PrefilteredPattern(re.compile(
    r"\bfaco\s(?:(?:por|a|pra)\s)?(?:r\$\s?)?\d[\d.,]*(?!\se\spouc)(?=\s?(?:mil\b|k\b|reais\b|%|$|[?!.,])|"
    r"\s(?:no|na|nos|nas|e|se|a|em|pelo|pela|por|pra|cada|hoje|hj|agora|ja|fechado|fecho|levo|busco|pago|todo|que|q)\b)|"
    r"\b(?<!tenho\sque\s)(?<!tem\sque\s)(?<!tengo\sque\s)(?<!hay\sque\s)(?<!have\sto\s)(?<!need\sto\s)"
    r"(?<!preciso\s)(?<!precisa\s)(?<!devo\s)(?<!debo\s)"
    r"(?:pago|pagamos|pagaria\w*|pagar|pagaremos|pagando|pay|paying)\s(?:a\s|la\s)?(?:metade|mitad|half|50\s?%)\s"
    r"(?:[a-z0-9]+\s){0,3}?(?:e|y|and)\s(?:a\s|o\s|la\s|el\s|the\s)?(?:metade|mitad|half|50\s?%|resto|rest|"
    r"other\shalf|outra\smetade|otra\smitad|restante)|"
    r"\b(?:o|lo|the)\s(?:melhor|mejor|best)\s(?:preco\s|precio\s|price\s|valor\s)?(?:que\s|q\s)?"
    r"(?:vcs?|voces?|usted|ustedes|you|u)\s(?:consegue\w*(?!\s(?:me\s)?(?:indicar|recomendar|sugerir))|"
    r"pode\w*\s(?:fazer|me\sdar|dar)|puede\w*\s(?:hacer|dar(?:me)?)|can\sdo|could\sdo|can\soffer)\b|"
    r"\bwhat\s(?:can|could|would)\s(?:you|u|ya)\s(?:guys\s)?do\s(?:(?:on|for|with)\s(?:the\s|that\s|this\s|our\s|my\s)?"
    r"(?:price|pricing|prices|fees?|rate|rates|number|quote|deal|volume|all\b|\d)|per\s(?:unit|seat|install\w*|head|"
    r"person|box|case|item|piece|license|licence|user))|"
    r"\bo\sque\s(?:vcs?|voces?|voce)\s(?:consegue\w*|pode\w*)\sfazer\s(?:no|pelo)\s(?:preco|valor)\b|"
    r"\b(?:se|if|si)\s[^?.!]{3,60}?\b(?:sai|fica|cai|sale|queda)\s(?:mais|mas)\sbarat\w*|"
    r"\bse\s[^.!?]{3,40}?\?\s?(?:cai|baixa|desce)\smais\s?\?|"
    r"\b(?:troco|trocaria|cambio|cambiaria)\s(?:o\s|a\s|el\s|la\s)?(?:meu|minha|meus|minhas|mi|mis)\s[^?.!]{3,80}?"
    r"(?:topa|aceita|rola|fechado|trato|va|dale)\s?\?|"
    r"\b(?:te|le|les|lhe|lhes)\s(?:cambio|troco|cambiamos|trocamos|cambiaria|trocaria)\s[^?.!]{3,80}?"
    r"\b(?:por|pelo|pela|pelos|pelas|num|numa|como\sparte|a\scuenta)\b|"
    r"\b(?:i\Wll|i\swould|i\Wd|we\Wll|we\swould|we\Wd)\s(?:trade|swap)\syou\s|"
    r"\b(?:troco|trocaria|cambio|cambiaria|dou|daria|doy|entrego)\s[^?.!]{3,100}?\b(?:e|y|and)\s(?:eu\s|yo\s|i\Wll\s)?"
    r"(?:completo|complemento|cubro|pago|pongo|pay|cover)\s(?:a|la|the)\s(?:diferenc\w*|difference)\b", re.ASCII))
#: Something the customer owns offered as part of the price ("tenho uma prensa parada, da pra dar de entrada?"):
#: a negotiation when an ownership cue is in the turn too, else often a one-line policy question ("aceitam troca?").
_TRADE = PrefilteredPattern(re.compile(
    r"\b(?:como\sparte\s(?:do|de|da|del)\s(?:pagamento|pago|valor|preco|precio)|parte\sdo\spagamento|"
    r"as\spart\sof\s(?:the\s|my\s)?(?:payment|price)|(?:dar|dou|daria|aceita\w*|pega\w*|entra\w*|usar|vale)\s"
    r"(?:[a-z]+\s){0,3}?(?:de|como|na)\s(?:entrada|troca)|(?:aceptan|aceptarian|toman|reciben|tomarian)\s"
    r"(?:[a-z]+\s){0,3}?(?:a\scuenta|como\sparte|en\sparte)|permuta\w*|canje\w*|barter\w*|"
    r"(?:consider|accept|open\sto)\s(?:a\s)?(?:trade|swap)|topa\w*\strocar|"
    r"(?:dar|dou|daria|usar)\s(?:o\s|a\s)?(?:meu|minha|meus|minhas|mi|mis|my)\s"
    # money is not goods: "usar meu fgts de 12.500 como entrada", "mi aguinaldo de 1.500.000 como parte"
    r"(?!(?:fgts|13o|decimo|bonus|bono|saldo|credito|vale|cupom|cupon|cashback|sinal|aguinaldo|cesantia|consorcio|"
    r"nota|salario|ferias|rescisao|pix|dinheiro|cartao|tarjeta)\b)(?:[a-z0-9][a-z0-9.,]*\s){0,8}?"
    r"(?:de|como|na)\s"
    r"(?:entrada|troca|parte)|"
    # paying with goods, not money: "posso pagar a entrada com um celular?"
    r"pag\w*\s(?:a\s)?(?:metade|parte)\s(?:em|en)\s(?!dinheiro|pix|cart\w*|boleto|cheque|especie|reais|dolar\w*|\d|"
    r"duas|tres|vezes|cuotas|parcelas|efectivo|transfer\w*|ted\b|credito|debito|tarjeta|janeiro|fevereiro|marco|abril|"
    r"maio|junho|julho|agosto|setembro|outubro|novembro|dezembro|enero|febrero|mayo|junio|julio|septiembre|octubre|"
    r"noviembre|diciembre)[a-z]+|"
    r"(?:pag\w*\s(?:a\s|essa\s|o\s|esse\s|la\s|el\s)?(?:entrada|sinal|metade|parte|resto|enganche|pie|anticipo)\s"
    r"(?:(?:d[oae]s?|del)\s[a-z]+\s)?(?:com|con|em|en)\s(?:um|uma|meu|minha|o\smeu|a\sminha|un|una|mi)|"
    r"pay\s(?:the\s)?(?:deposit|down\spayment|half|part|rest)\s(?:of\s[a-z]+\s)?(?:with|in)\s(?:a|my))\s"
    r"(?!cart\w*|card|pix|boleto|cheque|check|credito|credit|debito|debit|dinheiro|cash|transfer\w*|vale|cupom|cupon|"
    r"coupon|saldo|pontos|puntos|points|milhas|miles|conta|cuenta|account|nota|fgts|financ\w*|tarjeta|efectivo))\b",
    re.ASCII))
_OWNED = re.compile(
    r"\b(?:tenho|temos|tengo|tenemos|meu|minha|meus|minhas|mi|mis|i\shave|we\shave|i\Wve\sgot|we\Wve\sgot|my|our|"
    r"nossos?|nossas?|dou|der|sou|soy)\b", re.ASCII)
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
    r"reclame\saqui|reembols\w*(?!\s(?:d[oa]s?|pelo|via|de)\s(?:plano|convenio|seguro))|refund\w*|estorno|devolu\w+\sdo\sdinheiro|dinheiro\sde\svolta|money\sback|"
    r"nunca\smais|never\sagain|nunca\smas|(?:ja|already)\s(?:e\sa|is\sthe)?\s?(?:segunda|terceira|second|third)|"
    r"ninguem\sresponde|nobody\s(?:answers|replies)|nadie\sresponde)\b", re.ASCII))
_PAYMENT_TERMS = PrefilteredPattern(re.compile(
    r"\b(?:\d{2,3}\s?(?:dias|days|dias\s(?:no|de)|ddl)|\d{2}/(?:1[3-9]|[2-9]\d|\d{3})\b(?:/\d{2,3})?\s?(?:dias)?|net\W?\d{2}|"
    r"prazo\w*|plazo\w*|parcel\w*|cuotas|installments?|boleto\w*\sfaturado|faturad\w*|a\scredito|credito|"
    r"consignad\w*|consignment|sin\sinteres\w*|sem\sjuros|entrada\sde|pie\sde|down\spayment)\b", re.ASCII))
#: A chain or multi-unit business the customer has: "temos 8 lojas", "I own 12 beauty stores", "red de 5 sucursales".
_CHAIN = re.compile(
    r"\b(?:tenho|temos|somos|possuo|possuimos|administro|administramos|gerencio|gerenciamos|tengo|tenemos|"
    r"manejo|manejamos|we\s(?:have|own|run|manage|operate)|i\s(?:have|own|run|manage|operate)|i\Wve\sgot|"
    r"we\Wve\sgot|(?:rede|red|chain|network|grupo|group)\s(?:de|of|com|con|with)|com|con|with)\s(?:[a-z]+\s){0,4}?"
    rf"(?P<num>{_NUMBER})\s(?:[a-z]+\s){{0,2}}?"
    r"(?:lojas|filiais|franquias|sucursales|tiendas|locales|stores|shops|branches|locations|restaurantes|"
    r"restaurants|hoteis|hoteles|hotels|pousadas|clinicas|clinics|consultorios|farmacias|pharmacies|escolas|"
    r"colegios|schools|academias|gyms|saloes|salones|salons|padarias|panaderias|bakeries|mercados|supermercados|"
    r"supermarkets|postos|condominios|predios|edificios|buildings|hospitais|hospitales|hospitals|oficinas|"
    r"escritorios|offices|cafeterias|bares|bars|concessionarias|dealerships|fazendas|farms|unidades|units|sedes|"
    r"apartamentos|aptos|deptos|apartments|flats|imoveis|properties|propiedades|departamentos|casas|"
    r"houses)\b", re.ASCII)
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
        return words


_DIGIT = re.compile(r"\d")


def read_signals(folded: str) -> Signals:
    """The signals of one folded text (see routing.text.fold)."""
    has_digits = _DIGIT.search(folded) is not None
    amount, amount_text = _largest_amount(folded) if has_digits else (None, None)
    quantity, quantity_text = _largest_quantity(folded) if has_digits else (None, None)
    counter_offer = (_COUNTER_OFFER.found_in(folded) or _OFFER.found_in(folded)
                     or (_TRADE.found_in(folded) and bool(_OWNED.search(folded))))
    return Signals(amount, amount_text, quantity, quantity_text, counter_offer,
                   _PAYMENT_TERMS.found_in(folded), _URGENCY.found_in(folded), _PROBLEM.found_in(folded),
                   _COMPLAINT.found_in(folded), has_digits and _is_chain(folded))


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
    """A magnitude without a currency: "500 mil", "450k", "1,8 mi" are money; "5 m" is a length, "1400mm" too (see
    _is_millimetres), and "20 mi away" a distance."""
    magnitude = match.group("mag")
    if not magnitude or magnitude == "m" or _is_millimetres(match):
        return False
    return magnitude != "mi" or not _MILES.match(match.string, match.end("mag"))


#: What follows miles: "20 mi away", "12 mi from the port", "300 mi north", "65 mi/h".
_MILES = re.compile(r"\s?(?:/|away|from|north|south|east|west|out|off|radius|drive|long|round|each|per|of\s|"
                    r"de\sdistancia)", re.ASCII)


def _is_millimetres(match: re.Match[str]) -> bool:
    """ "1400mm", glued to its number, is a length; "50 mm" (no currency) is read as millions."""
    return match.group("mag") == "mm" and match.end("num") == match.start("mag")


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


def _is_chain(folded: str) -> bool:
    return any((parse_number(match.group("num")) or 0) >= _CHAIN_MIN_UNITS
               for pattern in (_CHAIN, _OWNER_OF) for match in pattern.finditer(folded))


def _decade(value: float) -> int:
    return min(9, max(0, int(math.log10(value)))) if value >= 1 else 0
