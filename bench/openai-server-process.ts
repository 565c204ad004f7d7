import { startOpenAiServer } from '../test/helpers/openai-server.js';

/**
 * The local OpenAI-compatible server as its own process, so that a benchmark measures only
 * its own CPU. Prints the base URL on stdout, then serves until killed.
 */
const server = await startOpenAiServer(() => ({ kind: 'choice', choice: 'same', reasons: 'The answer states the same facts as the reference.', usage: { prompt_tokens: 350, completion_tokens: 40 } }));
process.stdout.write(`${server.baseUrl}\n`);
process.on('SIGTERM', () => void server.close().then(() => process.exit(0)));
