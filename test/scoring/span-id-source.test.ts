import { describe, expect, it } from 'vitest';
import { newSpanId } from '../../src/scoring/span-id-source.js';

describe('newSpanId', () => {
  it('gives distinct, non-zero 16-hex-digit ids across many refills of its pool', () => {
    const ids = new Set<string>();
    for (let i = 0; i < 5_000; i++) {
      const id = newSpanId();
      expect(id).toMatch(/^[0-9a-f]{16}$/);
      expect(id).not.toBe('0000000000000000');
      ids.add(id);
    }
    expect(ids.size).toBe(5_000);
  });
});
