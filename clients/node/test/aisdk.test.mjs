// The AI SDK (ai + @ai-sdk/openai): its default provider speaks the
// Responses API and validates every reply against OpenAI's schema.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateText, streamText } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { baseURL, apiKey, videoURL, assertSummary } from '../env.mjs';

const openai = createOpenAI({ baseURL: `${baseURL}/v1`, apiKey });

test('generateText(openai(model))', async () => {
  const { text, finishReason, usage } = await generateText({ model: openai('bibigpt'), prompt: `Summarize ${videoURL}`, maxRetries: 0 });
  assertSummary(text);
  assert.equal(finishReason, 'stop');
  assert.ok(usage.outputTokens > 0, JSON.stringify(usage));
});

test('streamText(openai(model))', async () => {
  const errors = [];
  const result = streamText({ model: openai('bibigpt'), prompt: `The gist of ${videoURL}`, maxRetries: 0, onError: ({ error }) => errors.push(error) });
  let text = '';
  for await (const part of result.textStream) text += part;
  assert.deepEqual(errors, []);
  assertSummary(text);
  assert.equal(await result.finishReason, 'stop');
  assertSummary(await result.text);
});

test('generateText(openai.chat(model))', async () => {
  const { text } = await generateText({ model: openai.chat('bibigpt'), prompt: videoURL, maxRetries: 0 });
  assertSummary(text);
});
