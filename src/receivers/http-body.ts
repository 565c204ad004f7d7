import type { IncomingMessage } from 'node:http';
import zlib from 'node:zlib';

/** Reading an OTLP/HTTP request body: decompressed on the fly, bounded in size. */

export type ContentCoding = 'identity' | 'gzip' | 'deflate';

export const SUPPORTED_CONTENT_CODINGS = 'gzip, deflate, identity';

/** The body (raw or decompressed) passed the size limit. */
export class BodyTooLargeError extends Error {
  override readonly name = 'BodyTooLargeError';
}

/** The compressed stream is corrupt or truncated. */
export class BodyEncodingError extends Error {
  override readonly name = 'BodyEncodingError';
}

/** The client went away before sending the whole body: there is nobody to answer. */
export class RequestAbortedError extends Error {
  override readonly name = 'RequestAbortedError';
}

/** `Content-Encoding` → coding, undefined when not supported. */
export function parseContentEncoding(header: string | undefined): ContentCoding | undefined {
  const coding = (header ?? '').trim().toLowerCase();
  if (coding === '' || coding === 'identity' || coding === 'none') return 'identity';
  if (coding === 'gzip' || coding === 'x-gzip') return 'gzip';
  if (coding === 'deflate') return 'deflate';
  return undefined;
}

/**
 * Reads the whole body, decompressing as it arrives and failing as soon as the
 * decompressed size passes `maxBytes`, so that a gzip bomb costs at most `maxBytes` of
 * memory. The raw (compressed) size is held to the same limit. On failure the request is
 * left paused and partially read: the caller answers, then drains or drops it.
 */
export function readRequestBody(request: IncomingMessage, coding: ContentCoding, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let rawSize = 0;
    let settled = false;
    // deflate is the zlib format (RFC 1950), as in the Collector (Go's zlib.NewReader).
    const decompressor = coding === 'gzip' ? zlib.createGunzip() : coding === 'deflate' ? zlib.createInflate() : undefined;

    const settle = (error: Error | undefined) => {
      if (settled) return;
      settled = true;
      request.off('data', onRawData);
      request.off('end', onRawEnd);
      request.off('close', onClose);
      request.off('error', onError);
      if (decompressor !== undefined) {
        request.unpipe(decompressor);
        decompressor.off('data', onData);
        decompressor.destroy();
      }
      if (error === undefined) {
        resolve(Buffer.concat(chunks, size));
      } else {
        request.pause();
        reject(error);
      }
    };

    const tooLarge = (what: string) =>
      settle(new BodyTooLargeError(`request body ${what} exceeds the limit of ${maxBytes} bytes`));

    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) tooLarge(decompressor === undefined ? 'size' : 'size after decompression');
      else chunks.push(chunk);
    };
    const onRawData = (chunk: Buffer) => {
      rawSize += chunk.length;
      if (rawSize > maxBytes) tooLarge('size');
      else if (decompressor === undefined) onData(chunk);
    };
    const onRawEnd = () => {
      if (decompressor === undefined) settle(undefined);
    };
    const onClose = () => {
      if (!request.complete) settle(new RequestAbortedError('client closed the connection before the body was complete'));
    };
    const onError = (error: Error) => settle(new RequestAbortedError(`request stream failed: ${error.message}`));

    request.on('data', onRawData);
    request.on('end', onRawEnd);
    request.on('close', onClose);
    request.on('error', onError);
    if (decompressor !== undefined) {
      decompressor.on('data', onData);
      decompressor.on('end', () => settle(undefined));
      decompressor.on('error', (error) =>
        settle(new BodyEncodingError(`request body is not valid ${coding} data: ${error.message}`)),
      );
      // pipe() gives backpressure: the raw body is not read faster than zlib inflates it.
      request.pipe(decompressor);
    }
  });
}
