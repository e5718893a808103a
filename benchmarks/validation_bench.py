"""The request-path checks alone: body validation (api/validation.py) and audit masking (common/redaction.py).

    .venv/bin/python -m benchmarks.validation_bench [--compare TREE ...]

Each tree runs in its own interpreter (its directory first on sys.path), the trees taking turns `--repeat`
times on the same bodies; figures are medians of microseconds per call.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

BODIES = {
    "hello": {"messages": [{"role": "user", "content": "Olá! Vocês têm o tênis azul no tamanho 42?"}],
              "metadata": {"organization_id": "org_123", "user_id": "u-1", "conversation_id": "c-9"}},
    "chat 12 turns": {"messages": [{"role": "system", "content": "Você é um vendedor atencioso. " * 20}] + [
        {"role": "user" if i % 2 else "assistant", "content": f"Mensagem {i}: quero saber o preço do plano " * 8}
        for i in range(11)], "temperature": 0.7, "max_tokens": 300, "metadata": {"organization_id": "org_123"}},
    "tools": {"messages": [{"role": "user", "content": "Cadê meu pedido 123456?"},
                           {"role": "assistant", "content": None, "tool_calls": [
                               {"id": "c1", "type": "function",
                                "function": {"name": "order", "arguments": "{\"id\": 123456}"}}]},
                           {"role": "tool", "tool_call_id": "c1", "content": "{\"status\": \"enviado\"}"}],
              "tools": [{"type": "function", "function": {"name": f"tool_{i}", "description": "d" * 80, "parameters": {
                  "type": "object", "properties": {"id": {"type": "string"}, "q": {"type": "integer"}}}}}
                  for i in range(8)], "tool_choice": "auto", "stream": True, "stream_options": {"include_usage": True}},
}
TEXTS = {
    "prompt without digits": "Olá, gostaria de saber mais sobre o plano premium e as formas de pagamento. " * 6,
    "prompt with prices and dates": ("O pedido #123456 de R$ 1.234,56 chega em 12/05/2026; o plano custa "
                                     "R$ 99,90 por mês, 3 unidades, CEP 01310-100. ") * 3,
    "prompt with data": ("Meu CPF é 123.456.789-09, cartão 4111 1111 1111 1111, fone (11) 91234-5678, "
                         "pedido #123456 de R$ 1.234,56, CEP 01310-100. ") * 3,
}


def measure(rounds: int, calls: int) -> dict[str, float]:
    """Median microseconds per call of each check, in this interpreter's tree."""
    from api.validation import parse_chat_request
    from common.redaction import redact

    raw = {name: json.dumps(body).encode() for name, body in BODIES.items()}
    cases = {f"validate {n}": (lambda r=r: parse_chat_request(r)) for n, r in raw.items()}
    cases.update({f"redact {n}": (lambda t=t: redact(t)) for n, t in TEXTS.items()})
    figures = {}
    for name, call in cases.items():
        samples = []
        for _ in range(rounds):
            started = time.perf_counter()
            for _ in range(calls):
                call()
            samples.append((time.perf_counter() - started) / calls * 1e6)
        figures[name] = statistics.median(samples)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--compare", type=Path, action="append", default=[])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=5, help="turns of every tree, one after the other")
    args = parser.parse_args()
    # Each tree in its own interpreter, with that tree's directory first on sys.path (python -c puts it there).
    script = (f"import json, runpy; m = runpy.run_path({str(Path(__file__).resolve())!r}); "
              f"print(json.dumps(m['measure']({args.rounds}, {args.calls})))")
    trees = [Path.cwd(), *args.compare]
    runs: dict[str, list[dict[str, float]]] = {str(tree): [] for tree in trees}
    for _ in range(args.repeat):  # trees take turns, so a noisy moment of the machine hits each alike
        for tree in trees:
            out = subprocess.run([sys.executable, "-c", script], cwd=tree, capture_output=True, text=True, check=True)
            runs[str(tree)].append(json.loads(out.stdout))
    results = {tree: {name: statistics.median(run[name] for run in tree_runs) for name in tree_runs[0]}
               for tree, tree_runs in runs.items()}
    print(f"{'µs per call (median)':32}" + "".join(f"{Path(t).name[:18]:>20}" for t in results))
    for name in next(iter(results.values())):
        print(f"{name:32}" + "".join(f"{results[t].get(name, float('nan')):20.1f}" for t in results))


if __name__ == "__main__":
    main()
