// The official openai SDK for Node against a running tiergate: TIERGATE_URL (…/ai) and TIERGATE_KEY are set by
// tests/integration/test_compat_openai_node.py, which runs `npm ci` here, then `node --test`.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import OpenAI, { NotFoundError, BadRequestError } from 'openai';
import { zodResponseFormat } from 'openai/helpers/zod';
import { z } from 'zod';

const client = new OpenAI({ baseURL: process.env.TIERGATE_URL, apiKey: process.env.TIERGATE_KEY, maxRetries: 0 });
const PROTOCOLS = { openai: 'tier2/gpt-3.5-turbo', anthropic: 'tier2/claude-haiku', gemini: 'tier1/gemini-flash' };
const hello = [{ role: 'user', content: 'Olá, tudo bem?' }];

for (const [protocol, model] of Object.entries(PROTOCOLS)) {
  test(`create answers through ${protocol}`, async () => {
    const answer = await client.chat.completions.create({ model, messages: hello });
    assert.equal(answer.model, model);
    assert.ok(answer.choices[0].message.content);
    assert.ok(answer.usage.completion_tokens > 0);
  });

  test(`stream answers through ${protocol}, with usage`, async () => {
    const stream = await client.chat.completions.create({
      model, messages: hello, stream: true, stream_options: { include_usage: true },
    });
    let text = '';
    let usage = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta?.content ?? '';
      usage = chunk.usage ?? usage;
    }
    assert.ok(text);
    assert.ok(usage && usage.completion_tokens > 0);
  });

  test(`parse with a json_schema through ${protocol}`, async () => {
    const Lead = z.object({ name: z.string(), seats: z.number().int(), interested: z.boolean() });
    const completion = await client.chat.completions.parse({
      model, messages: [{ role: 'user', content: 'Sou a Ana, quero 30 licenças' }],
      response_format: zodResponseFormat(Lead, 'lead'),
    });
    const parsed = completion.choices[0].message.parsed;
    assert.ok(parsed && typeof parsed.name === 'string' && Number.isInteger(parsed.seats));
  });

  test(`tools through ${protocol}`, async () => {
    const answer = await client.chat.completions.create({
      model, messages: [{ role: 'user', content: 'Tem o SKU 42?' }],
      tools: [{ type: 'function', function: { name: 'check_stock', parameters: {
        type: 'object', properties: { sku: { type: 'string' } }, required: ['sku'] } } }],
    });
    const call = answer.choices[0].message.tool_calls[0];
    assert.equal(answer.choices[0].finish_reason, 'tool_calls');
    assert.deepEqual([call.function.name, JSON.parse(call.function.arguments)], ['check_stock', { sku: 'sim' }]);
  });

  test(`n=2 through ${protocol}`, async () => {
    const answer = await client.chat.completions.create({ model, messages: hello, n: 2 });
    assert.deepEqual(answer.choices.map((c) => c.index), [0, 1]);
  });
}

test('models.retrieve and models.list', async () => {
  const model = await client.models.retrieve('tier2/claude-haiku');
  assert.equal(model.id, 'tier2/claude-haiku');
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes('tier1/gemini-flash'));
});

test('an unknown model is a NotFoundError with code model_not_found', async () => {
  await assert.rejects(client.models.retrieve('tier9/nope'),
    (error) => error instanceof NotFoundError && error.code === 'model_not_found');
  await assert.rejects(client.chat.completions.create({ model: 'gpt-17', messages: hello }),
    (error) => error instanceof NotFoundError && error.code === 'model_not_found');
});

test('a parameter a pinned model cannot honour is a BadRequestError naming it', async () => {
  await assert.rejects(client.chat.completions.create({ model: PROTOCOLS.anthropic, messages: hello, logprobs: true }),
    (error) => error instanceof BadRequestError && error.param === 'logprobs');
});
