"""The personal data of issue 14's report never reaches the audit trail: not through GET /ai/admin/audit, not
through `tiergate audit export`, whether the request was answered or refused."""

from __future__ import annotations

import subprocess
import sys
import time
from typing import Any

import httpx
import orjson
import pytest

from tests.harness import ROOT, Gateway

pytestmark = pytest.mark.integration

#: As the report wrote them, and the forms its masking missed.
SECRETS = ["+55 11 91234-5678", "ana.souza@exemplo.com.br", "123.456.789-09", "4111 1111 1111 1111",
           "123 456 789 09", "91234-5678", "4111.1111.1111.1111", "joao@cliente.com"]
#: What must never be found in the stored text, whatever JSON did to it.
FRAGMENTS = ["1234-5678", "ana.souza", "exemplo.com", "456.789", "456 789", "4111 1111", "4111.1111", "joao@",
             "cliente.com"]


def _body(model: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "messages": [
            {"role": "user", "content": "Meu CPF é 123 456 789 09 e meu celular 91234-5678."},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "call_1", "type": "function",
                 "function": {"name": "pay", "arguments": "{\"card\": \"4111.1111.1111.1111\"}"}}]},
            {"role": "tool", "tool_call_id": "call_1", "content": "ok, recibo para joao@cliente.com"},
            {"role": "user", "content": "Obrigado, pedido #123456 de R$ 1.234,56 para o CEP 01310-100."}],
        "metadata": {"organization_id": "org_privacy", "user_id": "+55 11 91234-5678",
                     "conversation_id": "ana.souza@exemplo.com.br",
                     "extra": {"cpf": "123.456.789-09", "card": "4111 1111 1111 1111"},
                     "tags": ["123.456.789-09"]},
    }
    if model:
        body["model"] = model
    return body


def _records_for(gateway: Gateway, request_id: str) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        found = httpx.get(f"{gateway.ai_url}/admin/audit", params={"request_id": request_id},
                          headers=gateway.headers(), timeout=10).json()["data"]
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"no audit record for {request_id} within 10 s")


def _assert_clean(text: str, where: str) -> None:
    for fragment in FRAGMENTS:
        assert fragment not in text, f"{fragment!r} reached {where}"


def test_personal_data_never_reaches_the_audit_trail_or_its_export(gateway: Gateway) -> None:
    answered = httpx.post(f"{gateway.ai_url}/chat/completions", json=_body(), headers=gateway.headers(), timeout=30)
    assert answered.status_code == 200, answered.text
    refused = httpx.post(f"{gateway.ai_url}/chat/completions", json=_body("tier4"), headers=gateway.headers(),
                         timeout=30)  # the default plan stops at tier3: refused after the body was read
    assert refused.status_code == 403, refused.text
    for response in (answered, refused):
        records = _records_for(gateway, response.headers["x-request-id"])
        text = orjson.dumps(records).decode()
        _assert_clean(text, "GET /ai/admin/audit")
        record = records[0]
        assert record["user_id"].startswith("[PHONE]~") and record["conversation_id"] == "[EMAIL]"
        assert record["metadata"]["extra"] == {"cpf": "[CPF]", "card": "[CARD]"}
        assert record["metadata"]["tags"] == ["[CPF]"]
        # what is not personal survives, so the trail stays useful
        assert "pedido #123456 de R$ 1.234,56 para o CEP 01310-100" in text
    assert "[CARD]" in orjson.dumps(_records_for(gateway, answered.headers["x-request-id"])[0]["messages"]).decode()
    export = subprocess.run([sys.executable, "-m", "cli.main", "audit", "export", "--organization-id", "org_privacy"],
                            env=gateway.env, cwd=ROOT, capture_output=True, text=True, timeout=60, check=True)
    lines = export.stdout.splitlines()
    exported_ids = {orjson.loads(line)["request_id"] for line in lines}
    assert {answered.headers["x-request-id"], refused.headers["x-request-id"]} <= exported_ids
    _assert_clean(export.stdout, "tiergate audit export")
    gateway.wait_recorded([answered.headers["x-request-id"]])
    usage = httpx.get(f"{gateway.ai_url}/usage", params={"organization_id": "org_privacy"},
                      headers=gateway.headers(), timeout=10)
    _assert_clean(usage.text, "GET /ai/usage")
    assert [user for user in usage.json()["by_user"] if user.startswith("[PHONE]~")], usage.json()["by_user"]
