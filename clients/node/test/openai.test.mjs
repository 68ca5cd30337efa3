// openai-node, the official client, against /v1.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { baseURL, apiKey, videoURL, assertSummary } from '../env.mjs';

const client = new OpenAI({ baseURL: `${baseURL}/v1`, apiKey, maxRetries: 0 });

test('responses.create', async () => {
  const r = await client.responses.create({ model: 'bibigpt', input: `Summarize ${videoURL}` });
  assert.equal(r.status, 'completed');
  assertSummary(r.output_text);
  const msg = r.output.find((o) => o.type === 'message');
  assert.deepEqual(msg.content[0].annotations, []);
});

test('responses.stream().finalResponse()', async () => {
  const stream = client.responses.stream({ model: 'bibigpt', input: `In short: ${videoURL}` });
  let deltas = '';
  stream.on('response.output_text.delta', (ev) => { deltas += ev.delta; });
  const final = await stream.finalResponse();
  assert.equal(final.status, 'completed');
  assertSummary(final.output_text);
  assert.equal(deltas, final.output_text);
});

test('chat.completions.create, streaming and not', async () => {
  const c = await client.chat.completions.create({ model: 'bibigpt', messages: [{ role: 'user', content: videoURL }] });
  assertSummary(c.choices[0].message.content);
  const stream = await client.chat.completions.create({
    model: 'bibigpt', stream: true, messages: [{ role: 'user', content: `Three lines on ${videoURL}` }],
  });
  let text = '';
  for await (const chunk of stream) text += chunk.choices[0]?.delta?.content ?? '';
  assertSummary(text);
});

test('models.list', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.ok(ids.includes('bibigpt'), ids.join(' '));
});
