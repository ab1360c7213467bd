// Drives kvserve's HTTP front end with the official `openai` npm client (tests/integration/
// openai_http_test.py runs it and checks what it prints). Usage:
//   node openai_client_run.mjs BASE_URL MODEL [API_KEY]
// Prints one JSON object: for chat and completions, the streamed text (and the finish reason and
// usage the stream carried) and the non-streamed reply, both greedy so they must agree; the models
// list; and the error the client raised for an unknown model.
// For an https BASE_URL, KVSERVE_TLS_CA (and KVSERVE_TLS_CERT + KVSERVE_TLS_KEY for mutual TLS)
// name the PEM files the client trusts and presents.
import fs from "node:fs";
import https from "node:https";
import OpenAI from "openai";

const [baseURL, model, apiKey = "none"] = process.argv.slice(2);
const env = process.env;
const httpAgent = env.KVSERVE_TLS_CA
  ? new https.Agent({
      ca: fs.readFileSync(env.KVSERVE_TLS_CA),
      cert: env.KVSERVE_TLS_CERT ? fs.readFileSync(env.KVSERVE_TLS_CERT) : undefined,
      key: env.KVSERVE_TLS_KEY ? fs.readFileSync(env.KVSERVE_TLS_KEY) : undefined,
    })
  : undefined;
const client = new OpenAI({ baseURL, apiKey, httpAgent, maxRetries: 0, timeout: 60_000 });
const messages = [
  { role: "system", content: "You are terse." },
  { role: "user", content: "Name three colours." },
];

async function streamed(create, pick) {
  const stream = await create();
  let text = "";
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    chunks += 1;
    if (chunk.usage) usage = chunk.usage;
    for (const choice of chunk.choices) {
      text += pick(choice) ?? "";
      if (choice.finish_reason) finish = choice.finish_reason;
    }
  }
  return { text, finish, usage, chunks };
}

const out = {};
out.chat_stream = await streamed(
  () => client.chat.completions.create({
    model, messages, max_tokens: 24, temperature: 0, stream: true,
    stream_options: { include_usage: true },
  }),
  (c) => c.delta?.content);
const chat = await client.chat.completions.create({ model, messages, max_tokens: 24, temperature: 0 });
out.chat = { text: chat.choices[0].message.content, finish: chat.choices[0].finish_reason,
             role: chat.choices[0].message.role, usage: chat.usage, object: chat.object };

const prompt = "The quick brown fox";
out.completion_stream = await streamed(
  () => client.completions.create({ model, prompt, max_tokens: 16, temperature: 0, stream: true }),
  (c) => c.text);
const completion = await client.completions.create({ model, prompt, max_tokens: 16, temperature: 0 });
out.completion = { text: completion.choices[0].text, finish: completion.choices[0].finish_reason,
                   usage: completion.usage, object: completion.object };

out.models = (await client.models.list()).data.map((m) => m.id);
try {
  await client.completions.create({ model: "no-such-model", prompt, max_tokens: 2 });
  out.unknown_model = { status: 200 };
} catch (e) {
  out.unknown_model = { status: e.status, message: e.message };
}
try {
  await client.completions.create({ model, prompt, max_tokens: 0 });
  out.bad_max_tokens = { status: 200 };
} catch (e) {
  out.bad_max_tokens = { status: e.status, message: e.message };
}
console.log(JSON.stringify(out));
