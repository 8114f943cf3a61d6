// The official `openai` npm package as a client of `python -m router serve`.
//
//   node client.mjs '{"baseURL": "http://127.0.0.1:PORT/v1", "apiKey": "...", "model": "router",
//                     "prompt": "Say hi", "maxTokens": 8}'
//
// Makes one JSON call and one streaming call (with `stream_options.include_usage`) and
// prints one JSON object on stdout: the SDK's version, and for each call the answer's
// text, usage and response headers. Any error: its status and message on stderr, exit 1.
// Used by tests/test_server_clients.py; `npm ci --prefix tests/clients/node` installs it.

import { readFileSync } from "node:fs";
import OpenAI from "openai";

const { version } = JSON.parse(
  readFileSync(new URL("./node_modules/openai/package.json", import.meta.url), "utf8"),
);

function headersOf(response) {
  const out = {};
  for (const [name, value] of response.headers.entries()) out[name.toLowerCase()] = value;
  return out;
}

async function main() {
  const spec = JSON.parse(process.argv[2] ?? "{}");
  const client = new OpenAI({
    baseURL: spec.baseURL,
    apiKey: spec.apiKey,
    maxRetries: 0,
    timeout: 60_000,
  });
  const request = {
    model: spec.model ?? "router",
    messages: [{ role: "user", content: spec.prompt }],
    max_tokens: spec.maxTokens ?? 8,
    temperature: 0,
  };

  const { data: completion, response } = await client.chat.completions
    .create(request)
    .withResponse();
  const json = {
    content: completion.choices[0]?.message?.content ?? null,
    model: completion.model,
    object: completion.object,
    usage: completion.usage ?? null,
    headers: headersOf(response),
  };

  const { data: stream, response: streamResponse } = await client.chat.completions
    .create({ ...request, stream: true, stream_options: { include_usage: true } })
    .withResponse();
  let content = "";
  let chunks = 0;
  let usage = null;
  let finishReason = null;
  for await (const chunk of stream) {
    chunks += 1;
    if (chunk.object !== "chat.completion.chunk") throw new Error(`chunk object ${chunk.object}`);
    for (const choice of chunk.choices) {
      content += choice.delta?.content ?? "";
      finishReason = choice.finish_reason ?? finishReason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  const streamed = {
    content,
    chunks,
    finish_reason: finishReason,
    usage,
    headers: headersOf(streamResponse),
  };
  process.stdout.write(`${JSON.stringify({ sdk: version, json, stream: streamed })}\n`);
}

main().catch((error) => {
  const status = error?.status ?? "-";
  process.stderr.write(`openai npm client failed: status ${status}: ${error?.message ?? error}\n`);
  process.exit(1);
});
