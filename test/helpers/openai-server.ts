import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A local stand-in for an OpenAI-compatible chat-completions API, on 127.0.0.1, speaking the
 * real wire format (JSON bodies, `tool_calls`, `usage`, error objects, `Retry-After`). The one
 * test double the suite allows: a paid LLM API cannot exist here.
 *
 * Each request is answered by the next scripted reply (`enqueue`), or by the default handler.
 */

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: unknown;
  /** `performance.now()` when the request arrived. */
  at: number;
}

export type Reply =
  /** A forced-tool-call answer choosing `choice`. */
  | { kind: 'choice'; choice: string; reasons?: string; usage?: { prompt_tokens: number; completion_tokens: number }; delayMs?: number }
  /** An error status with an OpenAI error body; `retryAfter` sets the `Retry-After` header (seconds). */
  | { kind: 'error'; status: number; message?: string; code?: string; retryAfter?: string; retryAfterMs?: string }
  /** Any JSON body with status 200. */
  | { kind: 'json'; body: unknown }
  /** Destroys the socket without answering (a connection error for the client). */
  | { kind: 'hangup' };

export type ReplyHandler = (request: RecordedRequest) => Reply;

export interface OpenAiServer {
  /** e.g. http://127.0.0.1:PORT/v1 */
  baseUrl: string;
  requests: RecordedRequest[];
  /** Replies used in order, one per request, before the default handler. */
  enqueue(...replies: Reply[]): void;
  setDefault(handler: ReplyHandler): void;
  close(): Promise<void>;
}

/** The chat-completions response for a tool call choosing `choice`. */
export function choiceCompletion(request: RecordedRequest, reply: Extract<Reply, { kind: 'choice' }>): unknown {
  const body = (request.body ?? {}) as { model?: string; tool_choice?: { function?: { name?: string } }; tools?: Array<{ function?: { name?: string } }> };
  const toolName = body.tool_choice?.function?.name ?? body.tools?.[0]?.function?.name ?? 'select_choice';
  const usage = reply.usage ?? { prompt_tokens: 100, completion_tokens: 20 };
  return {
    id: `chatcmpl-${Math.random().toString(36).slice(2)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: body.model ?? 'unknown',
    choices: [
      {
        index: 0,
        message: {
          role: 'assistant',
          content: null,
          tool_calls: [
            {
              id: 'call_1',
              type: 'function',
              function: { name: toolName, arguments: JSON.stringify({ reasons: reply.reasons ?? `chose ${reply.choice}`, choice: reply.choice }) },
            },
          ],
        },
        finish_reason: 'tool_calls',
      },
    ],
    usage: { ...usage, total_tokens: usage.prompt_tokens + usage.completion_tokens },
  };
}

export async function startOpenAiServer(defaultHandler: ReplyHandler = () => ({ kind: 'choice', choice: 'Y' })): Promise<OpenAiServer> {
  const requests: RecordedRequest[] = [];
  const queue: Reply[] = [];
  let handler = defaultHandler;

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = text === '' ? undefined : JSON.parse(text);
      } catch {
        // kept as text: the client sent something that is not JSON, the test will see it
      }
      const recorded: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, at: performance.now() };
      requests.push(recorded);
      const reply = queue.shift() ?? handler(recorded);
      answer(res, recorded, reply);
    });
  });
  // undici keeps a socket for the hinted timeout minus 1 s: a 1 s hint would mean a new connection per request.
  server.keepAliveTimeout = 10_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  return {
    baseUrl: `http://127.0.0.1:${port}/v1`,
    requests,
    enqueue: (...replies) => queue.push(...replies),
    setDefault: (next) => {
      handler = next;
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function answer(res: ServerResponse, request: RecordedRequest, reply: Reply): void {
  const send = (status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };
  switch (reply.kind) {
    case 'choice': {
      const respond = () => send(200, choiceCompletion(request, reply));
      if (reply.delayMs) setTimeout(respond, reply.delayMs);
      else respond();
      return;
    }
    case 'json':
      send(200, reply.body);
      return;
    case 'error': {
      const headers: Record<string, string> = {};
      if (reply.retryAfter !== undefined) headers['retry-after'] = reply.retryAfter;
      if (reply.retryAfterMs !== undefined) headers['retry-after-ms'] = reply.retryAfterMs;
      send(reply.status, { error: { message: reply.message ?? `error ${reply.status}`, type: 'test_error', code: reply.code ?? null } }, headers);
      return;
    }
    case 'hangup':
      res.socket?.destroy();
      return;
  }
}
