import { expect } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { parseConfigText } from '../../src/config/config-loader.js';

/** The smallest valid config: embedded storage, everything else default. */
export const minimal = `
storage:
  clickhouse:
    embedded:
      path: ./data/x
`;

/** The issues a config text is refused with (fails the test when it is accepted). */
export function issuesOf(text: string, env: NodeJS.ProcessEnv = {}) {
  try {
    parseConfigText(text, 'spanscore.yaml', env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
  throw new Error('expected the config to be refused');
}
