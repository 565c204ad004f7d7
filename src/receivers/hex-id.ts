import type { BytesValue } from './otlp-types.js';

/** Trace/span ids as the storage row spells them: lower-case hex. */

const HEX_BYTE: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

export function bytesToHex(bytes: BytesValue): string {
  let hex = '';
  for (let i = 0; i < bytes.length; i++) hex += HEX_BYTE[bytes[i]! & 0xff];
  return hex;
}

export function isAllZero(bytes: BytesValue): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Hex id, or '' for a missing/all-zero id (the Collector's `...ToHexOrEmptyString`). */
export function idToHexOrEmpty(bytes: BytesValue | null | undefined): string {
  if (bytes == null || bytes.length === 0 || isAllZero(bytes)) return '';
  return bytesToHex(bytes);
}

const HEX_STRING = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * OTLP/JSON carries ids as hex (not the base64 ProtoJSON uses for other bytes fields).
 * Returns the base64 spelling ProtoJSON expects, or undefined when `hex` is not hex.
 */
export function hexToBase64(hex: string): string | undefined {
  if (!HEX_STRING.test(hex)) return undefined;
  return Buffer.from(hex, 'hex').toString('base64');
}
