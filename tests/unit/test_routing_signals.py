"""Signals that are not keywords: amounts with currency and magnitude, quantities with units, deal shapes."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from routing import bargaining, signals
from routing.signals import parse_number, read_signals
from routing.text import fold, read_text


@pytest.mark.parametrize(("text", "number"), [
    ("1.250,00", 1250.0), ("1,250.00", 1250.0), ("2.000", 2000.0), ("2,000", 2000.0), ("1,2", 1.2),
    ("1.5", 1.5), ("10 000", 10000.0), ("850", 850.0),
])
def test_numbers_are_read_in_brazilian_and_english_formats(text: str, number: float) -> None:
    assert parse_number(text) == number


@pytest.mark.parametrize(("text", "amount"), [
    ("tenho R$ 1,2 mi pra investir", 1.2e6),
    ("orçamento de uns 2 milhões", 2e6),
    ("Soy de Córdoba, tengo US$ 450k para invertir", 450e3),
    ("presupuesto de MXN 3 millones", 3e6),
    ("we have a budget of $2,000,000", 2e6),
    ("faturamos 500 mil reais por mês", 500e3),
    ("o pedido é de R$ 1.250,00", 1250.0),
    ("around USD 20k per year", 20e3),
    ("inversión de US$ 5 MM", 5e6),
    ("facturamos 50 MM al año", 50e6),
    ("orçamento de 1,8 mi, quero algo entre 36 e 40 pes", 1.8e6),
    ("o imovel ta avaliado em 2 mi", 2e6),
    ("vendemos unos 8 MM al mes", 8e6), ("una flota de 30 MM de pesos", 30e6),
    ("qual a parcela da carta de 80 mil de carro?", 80e3), ("paguei 40 mil de entrada", 40e3),
    ("budget is 450k", 450e3),
])
def test_amounts_carry_their_currency_and_magnitude(text: str, amount: float) -> None:
    assert read_signals(fold(text)).largest_amount == pytest.approx(amount)


@pytest.mark.parametrize("text", ["tenho 3 filhos e 2 cachorros", "a sala tem 5 m de largura", "pedido 48213",
                                  "chego às 14h", "CEP 01310-100", "4 km de correia 1400mm", "manta asfáltica 4mm",
                                  "we're 20 mi away from the port", "about 300 mi north of Austin", "65 mi/h max",
                                  "it has 2 mi of fence", "queda como 2 mm separado de las muelas",
                                  "is the 1.5 mm HDPE liner still available?", "ta com 9 mm/s na axial",
                                  "choveu uns 40 mm ontem", "pozos de 89 mm. que podemos ajustar?",
                                  "reservatorio de uns 500 mil litros", "uma Hilux com 190 mil km",
                                  "deu 480 milhoes de celulas", "tenho 80 mil seguidores", "2700K ou 3000K?",
                                  "I have a 401k and a Roth IRA"])
def test_a_bare_number_is_not_money(text: str) -> None:
    assert read_signals(fold(text)).largest_amount is None


@pytest.mark.parametrize(("text", "quantity"), [
    ("somos uma rede com 14 lojas", 14), ("need 300 seats for the sales team", 300),
    ("apostilas pra 18 mil alunos por semestre", 18000),
    ("hotel com 120 quartos", 120), ("mandamos 2 mil caixas por mês", 2000), ("tenemos 6 sucursales", 6),
    ("licenças para 1.500 usuários", 1500), ("I own 12 organic beauty stores", 12),
    ("220 estações de trabalho e 12 salas", 220), ("tengo 5 consultorios odontológicos", 5),
    ("tenho uma creche com 45 crianças", 45), ("and for 400 endpoints?", 400),
    ("temos 2000 funcionários", 2000), ("em 2019 abrimos, hoje são 3 lojas", 3),
    ("precisamos cobrir 1.200m² pra expositores", 1200), ("roughly 6,000 m2 of boardwalks", 6000),
    ("we need 40k sq ft of leather", 40000), ("a developer finishing 22 houses in a gated community", 22),
    ("administro un edificio de 12 deptos", 12), ("material pras oficinas de 14 centros culturais", 14),
    ("tenemos 2,400 operadores que necesitan lentes", 2400), ("a law firm with about 600 staff", 600),
    ("una minera con 1.300 trabajadores", 1300), ("a steel plant with 900 workers", 900),
    ("uma construtora com 380 operários", 380),
])

def test_quantities_with_units_measure_the_deal(text: str, quantity: float) -> None:
    assert read_signals(fold(text)).largest_quantity == quantity


@pytest.mark.parametrize("text", ["esperei 40 min pelo operador", "coloquei 50 reais na operadora",
                                  "vcs tem atendimento 24h com operadores?", "do you have 24/7 staff?",
                                  "waited 40 mins for staff to answer"])
def test_waiting_for_an_operator_counts_no_one(text: str) -> None:
    assert read_signals(fold(text)).largest_quantity is None, text


@pytest.mark.parametrize("text", ["posso usar meu fgts de 12.500 como entrada?",
                                  "posso usar meu saldo de 89,90 na troca?",
                                  "puedo usar mi aguinaldo de 1.500.000 como parte del pie?",
                                  "posso dar meu sinal de 1.000 de entrada e o resto no boleto?"])
def test_money_offered_as_a_down_payment_is_not_a_trade(text: str) -> None:
    assert not read_signals(fold(text)).counter_offer, text


@pytest.mark.parametrize("text", [
    "faz 850 que eu levo hoje", "te doy 300 en efectivo", "I'll do 2k cash", "levo 20 se fizer 10% off",
    "o concorrente faz por 150, vcs cobrem?", "tá muito caro, não dá pra melhorar o preço?",
    "can you do better on the price?", "fecha em 1.200?", "é negociável?", "da pra fazer por 300?",
    "vi por 1.250 no site da outra loja", "lo vi a 300 en MercadoLibre", "saw it for $200 at Walmart",
    "can you match their price?", "They offer $29/seat. Can you match?", "cubren ese precio?",
    "iguala o preço da concorrência?", "can you beat their quote?",
    "o depósito da esquina tá vendendo a 98, vcs fazem o mesmo?", "na cooperativa tá 395. cobre?",
    "falou q vc dá 20% pros pacientes dela, confere?", "ficou acima do que a gente planejou, tem como melhorar?",
    "that's over our budget", "está fuera de presupuesto", "ou vcs me dão as 2 sessões ou vou pedir estorno",
    "se não resolverem o valor da mensalidade vou cancelar", "Cancel my subscription unless you refund the box",
    "preciso de 45 dias pra pagar. se topar assino essa semana", "si me lo dejan así firmo hoy",
    "if you agree to net 60 we'll sign today", "se zerarem a taxa de adesão eu trago a conta da empresa",
    "dá pra isentar o frete?", "si me quitan la comisión firmamos hoy", "if you waive the setup fee we'll sign",
    "posso pagar a entrada com minha moto?", "me dejan el precio que tenía el año pasado?",
    "se eu tirar a decoração, baixa quanto?", "could you add the extra room at the same rate?",
    "would you consider a trade? I have two old kayaks", "a taxa de entrega vc tira?", "me condonan el recargo?",
    "quero fechar mas só se incluir a instalação", "tenho 2 toneladas de sucata, vcs abatem no pedido?",
    "dá pra congelar o valor por 3 anos?", "dá pra manter os 180 do ano passado?", "389 is still steep",
    "inclui o suporte no mesmo valor?", "dá pra dar minha prensa velha de 2 ton como entrada?",
    "a outra empresa fez 31 mil, tem como chegar perto?", "tenho fazenda, posso pagar metade em café?",
    "vi que era 49 ano passado, ainda consigo?", "costaba 300 mil el año pasado", "quero o valor que eu pagava antes",
    "me dejan la tarifa de temporada baja?", "can you get close to that?", "22 tá puxado, faz 18?",
    "a matrícula é obrigatória? se tirar ela eu começo semana q vem", "would u take 18k for the civic?",
    "if you waive the setup fee we'll start in march", "we have 40 to spend, not a penny more",
    "paying the full year upfront, so the books are on the house right?", "na leroy tá 112 o m2, cobre?",
    "vou trazer 6 alunos meus, rola alguma coisa pra mim?",
    "vi a proposta, preciso q tire a taxa de hospedagem do pacote pra fechar", "done at 99?", "deal at 4.5k?",
    "necesito 12 ps5 y 24 mandos. facturan? q condiciones me dan?", "what terms can you offer for 40 units?",
    "pago metade agora e metade na entrega, mas preciso q fique pronto antes do natal", "qual o melhor q vc consegue?",
    "y si pago la mitad ahora y la otra mitad en 2 meses?", "whats the best u can do on 30 licences?",
    "o carrinho ta 650 ne? faço 500 e busco hj ainda", "faço 15 mil, fechado?",
    "3 installs same street, what can you do per unit?", "what can you do on price for that volume?",
    "troco meu casal de agapornis adulto num casal de calopsita, topa?",
    "ou vcs seguram o valor do ano passado ou eu levo pra outra corretora", "e se for 15 docs? cai mais?",
    "se eu pegar 2 carros pra mim e meu irmão sai mais barato?",
    "le cambio mi bici de ruta vieja por la inscripción al viaje", "te troco 20 sacas de café pelo trator",
    "troco ela por uma tela do meu acervo e completo a diferença", "we'll swap you 300 sacks toward the new order",
    "doy mi camioneta 2019 y pongo la diferencia en efectivo",
    "quero dar meu Valtra BH 180 2014 com 6.800 horas na troca de um novo", "faz a diária por 900 q eu fico a semana",
    "faz os 2 laudos por 1.400 em vez de 1.780?", "me deja la nueva en 95 millones?",
    "would you do the 3 week hire for $200 instead of $240?", "can you do the 5L mayo for a tenner?",
    "if I take 20 cases can you do them at 27 a case?", "would you do both trusts for $5,800 together?",
    "faz o growler por 25 pra mim?", "a clinica do lado faz a sessao a 95, vcs cobram 130",
    "faz o 13 por 2.800 no pix?", "faz a peça a 9,90 se eu levar 1 dúzia?", "fazem 2 irmaos por 550 os dois?",
    "can you do the 10 pack for 40 instead of 48?",
    "na petz tá 289 o mesmo bravecto, vcs fazem esse preço?", "faz aquele precinho de sempre? 10% e parcela em 6?",
    "se colocar os dois na mesma apólice vcs conseguem baixar o prêmio?",
    "could you lower the rate if we sign for two years?",
    "el precio de la promo de semana santa se puede mantener pa mi pedido?",
    "me pueden mantener la tasa del deposito q me cotizaron?", "ja foi usado ne... nao fica menos por isso?",
    "mi mama dice que con 380 cerramos. se puede?",
    "ou vcs seguram o preço do pão de queijo até dezembro ou vou comprar direto da fábrica",
    "posso dar plantão pras turmas do extensivo em troca da mensalidade?",
    "can you do the trio for 99 like last Christmas?", "pago 150 por mes se incluir o suporte",
    "se eu ficar com ela 6 meses direto vc faz 200 por mes?",
    "Quero ressarcimento ou cancelo tudo", "qual o menor valor que vcs fazem a diária de domingo?",
    "consigo continuar no valor antigo até terminar o tratamento?",
    "any chance of honouring what I paid last time?", "can we do it at what you charged me back then?",
    "pago 150 por mes, fechado?", "eu pago 200 por mes, topa?",
    "divulgo a linha nos stories em troca dos produtos",
])
def test_counter_offers_are_seen_without_the_word_discount(text: str) -> None:
    assert read_signals(fold(text)).counter_offer, text


@pytest.mark.parametrize("text", ["Cadê meu pedido? Já faz 10 dias", "ja faz 2 semanas que espero",
                                  "quanto custa o plano premium?", "faz entrega no sábado?", "bom dia!",
                                  "dá pra fazer upgrade do plano depois?", "qual o tamanho do negócio de vocês?",
                                  "do you sell matching bands for the wedding?", "já faz 20 que eu espero na fila",
                                  "vi isso há 2 dias no insta", "a loja fica a 1,5 km do metrô?",
                                  "vcs fazem o mesmo modelo em azul?", "o seguro cobre enchente?",
                                  "tem como mudar a data?", "se não chover vou de bike", "posso pagar com cartão?",
                                  "can i pay with a foreign credit card?", "a toalha entra no mesmo preço?",
                                  "tem isenção de anuidade?", "se chegar amanhã eu pego na loja",
                                  "a trilha é muito puxada?", "consegue chegar perto das 18h?",
                                  "quero a chaminé só se der", "em quanto tempo o kit se paga com a economia?",
                                  "hacemos malbec hace 3 generaciones", "é alumínio ou cobre?",
                                  "algo que não seja muito caro pra bar", "é o mesmo preço no site e na loja?",
                                  "is it the same price for kids?", "can i pay with my phone?",
                                  "me deixa ver o preço do frete", "a carne congelada tem preço de atacado?",
                                  "¿venden condones de sabor?", "a retirada na loja tem frete?",
                                  "os alunos bolsistas são isentos da matrícula?",
                                  "quanto reduz na conta de luz com o painel solar?", "o ônibus chega perto do hotel?",
                                  "how do I get close to that beach?", "essa semana tá puxada, posso remarcar?",
                                  "se der tempo passo na loja hoje", "si hacen envío a Córdoba compro dos",
                                  "so if you drop it off monday will it be ready friday?",
                                  "can I do a swap for a bigger size? my order came small",
                                  "meu marido vai pagar o resto em outubro",
                                  "paguei 300 no mês passado e não recebi nada",
                                  "vcs tem troco em notas de 50?", "vocês compram cobre?",
                                  "a garantia cobre?", "quero algo que não fique muito caro",
                                  "um túmulo simples, o q vcs recomendam? nada mto caro", "rola um show no sábado?",
                                  "that was done at 10 am", "is the deal for 3 months?",
                                  "the tire disposal fee is how much?",
                                  "tenho que pagar metade agora e metade na entrega?",
                                  "paguei metade ontem e o resto hoje, já caiu?",
                                  "qual o melhor que vcs fazem pra cabelo cacheado?",
                                  "qual o melhor que vc pode me indicar pra pele oleosa?",
                                  "what is the best you can recommend for a beginner?",
                                  "faço 3 coleções por ano, umas 12 referências", "faço 30 anos amanhã, quero um bolo",
                                  "faço 40 e poucos km por dia, qual bike?", "troco meu pedido por um número maior?",
                                  "what can you do for beginners?", "what can you do about my order, it is late",
                                  "o que vcs conseguem fazer pra cabelo cacheado?",
                                  "ou vcs entregam sexta ou segunda, qual é melhor?",
                                  "a internet cai mais? tá instável", "o preço cai mais no natal?",
                                  "se eu trocar de plano pago a diferença?", "troco por um tamanho maior?",
                                  "posso trocar meu pedido pelo modelo azul?", "le cambian el aceite al auto?",
                                  "tenho uma cota de 70 mil, completo a diferença à vista. como fica a vistoria?",
                                  "faz o bolo pra 20 pessoas?", "faz o bolo por 1.400 pessoas?",
                                  "faz a festa por 3 horas?", "could you do a table for 6?",
                                  "could you do a dinner for 6 that works for both of us?",
                                  "can you do the call at 10?", "can you do the delivery at 10:30?",
                                  "hace envíos a 5 ciudades?", "can you do it for 12 people?",
                                  "faz o orçamento por 100 camisetas?", "faz a revisão por 10.000 km?",
                                  "faz o quadro 50 por 70?", "vcs fazem escala 12 por 36?", "faz a troca do 38 por 40?",
                                  "faz o box 1,20 por 1,90?", "vcs fazem promoção 2 por 1?", "faz o bolo por 2 quilos?",
                                  "faz a troca por 1 tamanho maior?", "faz o rodízio por 2 no almoço?",
                                  "me atende por 11 98765-4321?", "faz a mesa por 10?",
                                  "me haces las zapatillas en 38?",
                                  "deja el aire a 22?", "me deja el turno a 15?", "faz a entrega no bloco a 12?",
                                  "can you do a table for 12 on friday?", "can you do the delivery for 10.30?",
                                  "can you give me a quote for 200 t-shirts?", "can you do the screen for 13 pro?",
                                  "can you do the battery for 2019 hilux?", "como faço pra baixar o app?",
                                  "pode baixar o boleto pra mim?", "can you lower the volume on the speaker?",
                                  "o preço pode mudar?", "el precio se puede pagar en cuotas?",
                                  "nao fica menos de 3 dias?", "com 2 quartos fechado?", "no sale menos que eso",
                                  "ta um forno. Pago 149 por mês pra passar mal?", "pago 1.400/mes pra isso",
                                  "qual sai mais em conta por xícara?", "qual sai mais barato no fim?",
                                  "queria praia bonita, sossego, não muito caro",
                                  "tenho uns 60 mil pra dar de entrada, quero parcela até 1.500",
                                  "a cor nao fica menos viva depois de lavar?", "vem com 12 fechado e 2 abertos?",
                                  "qual o menor valor que vcs fazem entrega?", "a fatura continua com o valor antigo",
                                  "can I get a receipt for what you charged me last time?",
                                  "não sei se pauso ou cancelo a assinatura",
                                  "posso mandar a bota em troca do tamanho 40?",
                                  "can we book a table for 6 like last year?", "o bolo da promoção pode congelar?",
                                  "qual o menor valor da parcela?", "posso pausar o plano ou cancelo?"])
def test_ordinary_turns_are_not_counter_offers(text: str) -> None:
    assert not read_signals(fold(text)).counter_offer, text


@pytest.mark.parametrize("text", ["desde 2015 atendemos famílias", "a diária de 320 é por pessoa?",
                                  "the 40 a night is per person?"])
def test_years_and_prices_per_head_are_not_quantities(text: str) -> None:
    assert read_signals(fold(text)).largest_quantity is None, text


@pytest.mark.parametrize(("text", "terms"), [("casamos dia 14/09 e o bolo ficou lindo", False),
                                             ("30/60/90 no boleto", True), ("pode ser 28/56?", True)])
def test_a_date_is_not_a_payment_term(text: str, terms: bool) -> None:
    assert read_signals(fold(text)).payment_terms is terms


@pytest.mark.parametrize(("text", "chain"), [
    ("somos uma rede com 14 lojas", True), ("I own 12 organic beauty stores in California", True),
    ("tengo 3 salones de belleza en Buenos Aires", True), ("We manage 22 office buildings across Houston", True),
    ("temos 2 lojas", False), ("tenho 3 filhos em 3 escolas diferentes", False),
    ("buscar gente em 3 hoteis diferentes", False), ("preciso de 40 maquinas", False),
    ("administro un edificio de 12 deptos con el gas cortado", True),
])
def test_a_chain_is_a_customer_with_three_or_more_business_units(text: str, chain: bool) -> None:
    assert read_signals(fold(text)).chain is chain


@pytest.mark.parametrize(("text", "field"), [
    ("preciso de 60 dias no boleto pelo volume que compro", "payment_terms"),
    ("pay net 30?", "payment_terms"),
    ("net-60 is standard for us", "payment_terms"),
    ("fecho hoje se vc confirmar", "urgency"),
    ("lo necesito para hoy", "urgency"),
    ("o sistema dá erro 500 ao salvar", "problem"),
    ("el sistema no funciona desde ayer", "problem"),
    ("I want a refund, this is unacceptable", "complaint"),
    ("pessimo servico, nunca mais compro aqui", "complaint"),
    ("cade meu reembolso? ja faz 20 dias", "complaint"), ("quero reembolso do ingresso", "complaint"),
    ("cade o reembolso que a empresa prometeu?", "complaint"), ("nao recebi o reembolso da operadora", "complaint"),
])
def test_terms_urgency_problems_and_complaints_are_signals(text: str, field: str) -> None:
    signals = read_signals(fold(text))
    assert getattr(signals, field), (text, signals)


@pytest.mark.parametrize("text", ["sou péssimo com tecnologia, me ajuda a configurar?",
                                  "o reembolso do plano cobre consulta com especialista?",
                                  "preciso do recibo da consulta pra pedir reembolso no plano",
                                  "manda a 2a via da nota, preciso pro reembolso da firma",
                                  "pode mandar o recibo de janeiro? minha empresa reembolsa",
                                  "qué diferencia hay entre la tarifa flexible y la no reembolsable?",
                                  "i'm terrible at picking sizes, which one fits?"])
def test_a_customer_who_is_not_unhappy_is_not_a_complaint(text: str) -> None:
    assert not read_signals(fold(text)).complaint, text


def test_signals_become_feature_names_and_words_for_the_reasons() -> None:
    signals = read_signals(fold("tenho R$ 1,2 mi, 14 lojas, faz 900 que eu fecho hoje"))
    assert {"amount:1e6", "qty:1e1", "counter_offer", "urgency"} <= set(signals.features())
    assert signals.features("ctx_")[0].startswith("ctx_amount:")
    assert signals.describe()[:2] == ["amount r$ 1,2 mi", "quantity 14 lojas"]


def _folded_messages() -> list[str]:
    data = Path(__file__).resolve().parents[1] / "data"
    return [read_text(message["content"]).folded
            for path in sorted(data.glob("routing_*.jsonl"))[::2]
            for line in path.read_text().splitlines() if line
            for message in json.loads(line)["messages"] if message["role"] == "user"]


def test_amounts_searched_near_digits_are_the_amounts_re_finds_anywhere() -> None:
    texts = [*_folded_messages(), "dolares 1.000 e 2 mil reais", "us$ 5 mm", "x" * 50 + " dollars 300", "r$1,2 mi"]
    def spans(matches: Iterable[re.Match[str]]) -> list[tuple[object, ...]]:
        return [(m.span(), *m.groups()) for m in matches]
    assert all(spans(signals._amounts(t)) == spans(signals._AMOUNT.finditer(t)) for t in texts)
    longest_currency = max(len(c.replace("\\", "")) for c in bargaining.CURRENCY[3:-1].split("|"))
    assert longest_currency + 1 <= signals.AMOUNT_LEAD_CHARS  # the currency and a space before the digit


def test_numbers_match_as_the_plain_two_way_pattern_did() -> None:
    """_NUMBER has its first digit outside the alternation, for speed; it must match what the plain form did."""
    plain = re.compile(r"\d{1,3}(?:[.,\s]\d{3})+(?:[.,]\d{1,2})?|\d+(?:[.,]\d+)?")
    factored = re.compile(signals._NUMBER)
    texts = [*_folded_messages(), "1.250,00", "1,250.00", "10 000 000", "1,2", "850", "12.34.567", "1 2 3"]
    assert all([m.span() for m in plain.finditer(t)] == [m.span() for m in factored.finditer(t)] for t in texts)


@pytest.mark.parametrize("text", ["orçamento de 1,8 mi, quero algo entre 36 e 40 pés", "tengo US$ 450k para invertir",
                                  "our budget is 500,000 dollars", "budget is 450k", "a fazenda ta 12 mi ne?",
                                  "R$ 350.000 de entrada e o resto financiado", "a budget of about $2 million"])
def test_a_large_amount_of_plain_worth_shows_a_high_value_lead(text: str) -> None:
    assert read_signals(fold(text)).large_amount, text


@pytest.mark.parametrize("text", ["uns 740 mil", "presupuesto de 3 millones de pesos", "US$ 250k",
                                  "comprei uma colheitadeira de 3 milhões e to decepcionado",
                                  "a cobrança de R$ 400.000 veio errada, erro no sistema",
                                  "soy del depto 305 mi consulta es sobre el gas", "o app tem 2 milhoes de usuarios"])
def test_pesos_a_bare_mil_small_sums_and_complaints_are_not_large_amounts(text: str) -> None:
    assert not read_signals(fold(text)).large_amount, text


@pytest.mark.parametrize("text", ["yeah we've got four stores now", "temos quatro lojas em BH",
                                  "tenemos tres sucursales de la ferretería"])
def test_a_chain_counted_in_words_is_a_chain(text: str) -> None:
    assert read_signals(fold(text)).chain, text


@pytest.mark.parametrize("text", ["i have three kids", "tengo dos tiendas", "somos tres hermanos con dos tiendas",
                                  "comparei com tres lojas e vcs estao mais caros",
                                  "I have visited three stores already"])
def test_fewer_than_three_units_or_no_units_are_not_a_chain(text: str) -> None:
    assert not read_signals(fold(text)).chain, text


def test_a_number_too_long_for_a_float_is_not_an_amount() -> None:
    signals = read_signals(fold("R$ " + "9" * 400))
    assert signals.largest_amount is None
    assert signals.features() == []
