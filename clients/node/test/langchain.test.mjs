// LangChain JS's ChatOpenAI on the Responses API.
import { test } from 'node:test';
import { ChatOpenAI } from '@langchain/openai';
import { baseURL, apiKey, videoURL, assertSummary } from '../env.mjs';

const model = new ChatOpenAI({ model: 'bibigpt', apiKey, useResponsesApi: true, maxRetries: 0, configuration: { baseURL: `${baseURL}/v1` } });

// LangChain gives Responses content as a string or as a list of blocks.
function text(content) {
  return typeof content === 'string' ? content : content.filter((b) => b.type === 'text').map((b) => b.text).join('');
}

test('ChatOpenAI({useResponsesApi: true}).invoke', async () => {
  const msg = await model.invoke(`Summarize ${videoURL}`);
  assertSummary(text(msg.content));
});

test('ChatOpenAI({useResponsesApi: true}).stream', async () => {
  let out = '';
  for await (const chunk of await model.stream(`Main points of ${videoURL}`)) out += text(chunk.content);
  assertSummary(out);
});
