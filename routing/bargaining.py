"""The shapes of bargaining: a counter-offer, a price named, a lower price or better terms asked for, a trade offered.

A negotiation shows itself by its shape ("faz 850 que eu levo", "te doy 300 en efectivo", "would you do the 3 week
hire for $200?", "troco meu hb20 + 40 mil pela compass"), in pt, es and en, whatever the words around it. The
patterns read folded text (lowercase ASCII, no accents; see routing/text.py) and are prefiltered
(routing/prefiltered.py): most turns hold none of their literals. routing/signals.py reports the answer as the
`counter_offer` signal.
"""

from __future__ import annotations

import re

from routing.prefiltered import PrefilteredPattern

#: Currency markers before or after a number.
CURRENCY = (r"(?:r\$|us\$|u\$s|\$|€|£|usd|brl|mxn|ars|clp|cop|pen|eur|reais|real|dolares|dolars|dollars|pesos|"
            r"euros|soles)")
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


#: Not after "qual sai", "cual es"...: "qual sai mais em conta por xicara?" compares two products.
_WHICH_IS = (r"(?<!qual\ssai\s)(?<!qual\sfica\s)(?<!qual\se\s)(?<!qual\seh\s)(?<!que\ssai\s)(?<!cual\ssale\s)"
             r"(?<!cual\ses\s)(?<!cual\squeda\s)")


_COUNTER_OFFER = PrefilteredPattern(re.compile(
    # ("pago 149 por mes pra passar mal?" states what the customer pays: a complaint's fact, not an offer)
    rf"\b(?<!ja\s)(?!pago\s(?:{CURRENCY}\s?)?\d[\d.,]*\s?(?:(?:por|ao|al|a|per)\s(?:mes|ano|month|year)\b"
    r"(?![,.]?\s(?:se|si|if|fechado|fechamos|e\sfechamos|topa|trato|deal|pode\sser)\b)|/\s?mes))"
    r"(?:faz|faria|fecha|fecho|fechamos|deixa|deixo|sai|pago|pagaria|levo|dou|doy|hace|haces|dejame|dejalo|"
    r"cierro|llevo|i\Wll\s(?:do|pay|take|give)|would\s(?:you|u)\s(?:do|take)|can\s(?:you|u)\sdo|will\s(?:you|u)\s(?:do|take)|"
    r"how\sabout|what\sabout)\s(?:(?:por|em|a|pra|por\so|for|at|en|tudo\spor|los|las|os|as)\s)?"
    rf"(?:{CURRENCY}\s?)?\d[\d.,]*(?!\d|[.,]?\d|\s?(?:dias?|horas?|h\b|hs\b|meses|mes|anos?|semanas?|minutos?|min\b|"
    r"days?|hours?|weeks?|months?|years?|dias?\b|an[oi]s?|generac\w*|generations?|decadas|vezes|veces|times))"
    r"|\d[\d.,]*\s?(?:k|mil)?\s?(?:reais|pesos|dolares|dollars|bucks)?\s?(?:que|y|and|e)\s(?:eu\s)?"
    r"(?:levo|fecho|fechamos|pego|compro|llevo|cierro|cerramos|take\sit|buy|close)"
    r"|\d+\s?%\s?(?:off|de\sdesconto|de\sdescuento|desconto|descuento|menos|discount)"
    rf"|\b(?:{_WHICH_IS}mais\sbarato|menor\spreco|melhor\spreco|mejor\sprecio|precio\sespecial|best\sprice|better\sprice|"
    r"cobr\w+\smenos|(?:nao|no)\s(?:fica|sai|sale|queda|faz|hace|deixa|deja)\s(?:por\s|en\s)?menos"
    r"(?=\s?(?:$|[?!.,]|por\sisso|pra\smim|para\smi|no\spix|se\s|assim))|(?:com|con|with)\s(?:r\$\s?|\$\s?)?\d[\d.,]*\s(?:mil\s|k\s)?(?:reais\s|pesos\s)?"
    r"(?:cerramos|cierro|fechamos|fecho|(?:cerrado|fechado)(?=\s?(?:$|[?!.,]))|we\Wre\sdone|it\Ws\sa\sdeal)|baixa\w*\so\svalor|abaixa\w*|rebaixa\w*|chorinho|desconto\w*|descuento\w*|discount\w*|"
    r"rebaja\w*|regateo|negocia\w*|negotia\w*|cubr\w+\s(?:el|ese|esse|este|o)\s(?:precio|preco|valor|oferta)|"
    r"iguala\w*\s(?:(?:el|ese|este|o|esse|a|essa)\s)?(?:precio|preco|valor|oferta|propuesta|proposta)|"
    r"price\smatch\w*|(?:can|could|will|would)\s(?:you|u)\s(?:match|beat)|match\w*\s(?:(?:the|their|that|this|a|his|her|my)\s)?(?:\w+\s)?(?:price|offer|quote|deal)|"
    r"beat\s(?:the|their|that|this)\s(?:price|offer|quote)|cobrir\w*\sa\soferta|"
    r"(?:vi|achei|encontrei|acharam|saw\sit|found\sit|lo\svi|la\svi|lo\sencontre|la\sencontre)\s"
    r"(?:[a-z]+\s){0,4}?(?:por|a|en|for|at)\s(?:r\$\s?|us\$\s?|\$\s?)?(?:\d[\d.,]*\d|\d)"
    r"(?![.,]?\d|\s?(?:dias?|semanas?|meses|anos?|horas?|minutos?|km|days?|weeks?|months?|years?|hours?))|"
    r"concorrente\w*|competidor\w*|competitor\w*|cancel\w*\sse|cancelar\so\scontrato|otherwise\si\W?ll\scancel|"
    # ("nada muito caro", "que nao fique muito caro", "nao muito caro" ask for something cheap, not for a lower price)
    r"(?<!seja\s)(?<!sea\s)(?<!fique\s)(?<!ficar\s)(?<!fosse\s)(?<!nada\s)(?<!quede\s)(?<!nothing\s)(?<!nao\s)"
    r"(?<!\bno\s)(?<!not\s)(?<!nem\s)"
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
    rf"{_WHICH_IS}mais\sem\sconta|da\spra\s(?:baixar(?!\s(?:(?:as|os|o|a|um|uma|pelo|pela|no|na)\s)?(?:aulas?|app|aplicativo|arquivos?|"
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
    # the lowest price asked for: "qual o menor valor que vcs fazem a diaria?"
    r"(?:qual|cual|what\Ws|what\sis)\s(?:o\s|el\s|the\s)?(?:menor|minimo|lowest)\s(?:valor|preco|precio|price)\s"
    r"(?:que\s|q\s)?(?:vcs?\s|voces\s|ustedes\s|you\s)?(?:fazem|faz|fariam|hacen|dejan|deixam|conseguem|can\sdo|"
    r"could\sdo|would\sdo)(?!\s(?:o\s|a\s|el\s|la\s|the\s)?(?:frete|entrega|envio|parcel\w*|shipping|delivery|"
    r"entregas|envios))|"
    # the price paid before, asked to be kept: "consigo continuar no valor antigo?", "honouring what I paid last time"
    r"(?:consigo|consegue|posso|podemos|da\spra|quero|queria|puedo|podemos|quiero|can\si|can\swe|could\si|could\swe)\s"
    r"continu\w+\s(?:no|com\so|pagando\so|con\sel|pagando\sel|en\sel|at\sthe|on\sthe|paying\sthe)\s"
    r"(?:valor|preco|precio|price|rate)\s(?:antigo|anterior|de\santes|viejo|old|previous)|"
    r"honou?r\w*\s(?:what\s(?:i|we)\s(?:paid|was\scharged|were\scharged)|the\s(?:old|last|previous|original)\s"
    r"(?:price|rate|quote)|(?:my|our)\s(?:old|last|previous)\s(?:price|rate|quote))|"
    r"at\swhat\syou\scharged\s(?:me|us)\s(?:back\sthen|before|last\s(?:time|year))|"
    # an ultimatum: "ou vcs me dao X ou vou pedir estorno", "ou vcs seguram o valor ou eu saio",
    # "se nao resolverem o valor vou cancelar", "cancel unless you refund"
    r"ou\s(?:eu\s)?vou\s(?:cancelar|pedir\s(?:o\s|um\s)?(?:estorno|reembolso|cancelamento)|procurar\soutr\w*)|"
    r"ou\s(?:vcs?|voces|voce)\s[^.?!]{3,80}?\sou\s(?:eu\s|entao\s)?(?:cancel\w*|saio|troco|levo|mudo|apago|desinstalo|"
    r"rescindo)|"
    r"(?:quero|exijo|quiero|exijo|i\swant|i\sdemand)\s(?:[a-z]+\s){0,4}?(?:ou|o|or)\s(?:eu\s|i\s|i\Wll\s)?"
    r"(?:cancelo|rescindo|cancel)\b|"
    r"se\s(?:vcs?\s|voces\s)?nao\s(?:[a-z]+\s){1,8}?(?:eu\s)?(?:vou\s)?cancel\w*|"
    r"si\sno\s(?:[a-z]+\s){1,8}?(?:voy\sa\s)?(?:cancel\w*|me\svoy)|"
    r"cancel\w*[^.?!]{0,40}?\b(?:unless|a\smenos\sq(?:ue)?|salvo\sque|a\snao\sser\sq(?:ue)?)|or\selse|"
    # a trade offered as part of the price: "te dou meu hb20 + 40 mil pela compass", "minha titan de entrada"
    r"(?:te\s)?dou\s(?:o\s|a\s)?(?:meu|minha)\s|te\sdoy\s(?:mi|el\smio)\s|i\Wll\sgive\syou\smy\s|"
    r"(?:meu|minha|mi)\s(?:[a-z0-9]+\s){0,3}?(?:na\stroca|como\s(?:parte|entrada)|de\sentrada|a\scuenta)|"
    r"trade\W?in|part\W?exchange|"
    # the old price or last year's deal, asked to be kept: "mantem esse valor?", "ano passado vcs fizeram 10%"
    r"(?:manter|mantem|mantenham|manterem|mantiverem|manteria|manteriam|segurar|segura|seguram|segurem|segurarem|"
    r"seguraria|segurariam|sostiene\w*|mantener|mantienen|mantengan|"
    r"keep|hold)\s(?:[a-z]+\s){0,3}?(?:preco|valor|precio|taxa|tasa|tarifa|rate|pricing|price|desconto|descuento|"
    r"discount|condic\w+)|"
    # the same, the price named first: "el precio de la promo se puede mantener?", "o valor da proposta da pra manter?"
    r"(?:preco|precio|valor|tasa|taxa|tarifa|promo\w*|desconto|descuento)\s(?:(?!e\s|que\s|y\s)[a-z0-9]+\s){0,4}?"
    r"(?:se\s)?(?:puede|pueden|podes|pode|podem|da\spra|consegue\w*)\s(?:manter|mantener|segurar)\b|(?:preco|valor|precio|rate|pricing|taxa|tarifa)\s(?:do|del|de)\s(?:ano|mes)\s"
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
    r"a\scambio\sde|em\stroca\sd[aeo]s?\b"
    # (not a swap of goods: "mandar a bota em troca do tamanho 40", "pecas novas em troca das com defeito")
    r"(?!\s(?:tamanho|numero|modelo|novo|nova|novos|novas|outr\w+|pecas?|cor|defeito|com\sdefeito))|in\sexchange\sfor|"
    # a price asked for again: "can you do the trio for 99 like last Christmas?", "faz por 80 como no ano passado?"
    r"(?:(?:do|sell|make)\s(?:[a-z0-9]+\s){0,3}?for|(?:faz|fazer|faria|deixa|hace|haces|deja)\s(?:[a-z0-9]+\s){0,3}?"
    r"(?:por|a|en))\s(?:r\$\s?|\$\s?)?\d[\d.,]*\s(?:like|as|como)\s(?:(?:o|el|no|en\sel)\s)?"
    r"(?:last\s(?:year|time|christmas|month)|ano\spassado|ano\spasado|a\sultima|la\sultima)|"
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
    r"as\spart\sof\s(?:the\s|my\s)?(?:payment|price)|"
    # ("60 mil pra dar de entrada" is money down, not a trade)
    r"(?<!mil\spra\s)(?<!mil\spara\s)(?<!reais\spra\s)(?<!reais\spara\s)(?<!k\spra\s)"
    r"(?:dar|dou|daria|aceita\w*|pega\w*|entra\w*|usar|vale)\s"
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


def is_counter_offer(folded: str) -> bool:
    """A counter-offer or a request to lower a price, in any of the shapes above, in one folded text; a trade only
    with something the customer owns."""
    return (_COUNTER_OFFER.found_in(folded) or _OFFER.found_in(folded)
            or (_TRADE.found_in(folded) and bool(_OWNED.search(folded))))
