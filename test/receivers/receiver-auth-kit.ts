import { expect } from 'vitest';
import type { ApiKeySpec } from '../../src/auth/api-key-spec.js';
import { ApiKeys } from '../../src/auth/api-keys.js';
import type { SpanRow } from '../../src/pipeline/span-row.js';
import { encodeRequest, spanObject } from './receiver-test-kit.js';

/** Keys and requests shared by the HTTP and gRPC auth tests. */

export const INSTANCE = 'replica-7';

export const KEY = {
  /** Sends to every project. */
  exporter: 'ssk_exporter-test-key',
  /** Sends to `shop` only. */
  shop: 'ssk_shop-test-key',
  /** May read and update, but not ingest. */
  reader: 'ssk_reader-test-key',
  /** Configured nowhere. */
  unknown: 'ssk_unknown-test-key',
} as const;

const SPECS: ApiKeySpec[] = [
  { name: 'exporter', sha256: ApiKeys.hash(KEY.exporter), projects: ['*'], permissions: ['ingest'] },
  { name: 'shop-ingest', sha256: ApiKeys.hash(KEY.shop), projects: ['shop', 'shop-eu'], permissions: ['ingest'] },
  { name: 'reader', sha256: ApiKeys.hash(KEY.reader), projects: ['*'], permissions: ['read', 'update'] },
];

export const configuredKeys = (): ApiKeys => new ApiKeys(SPECS);

export const bearer = (key: string): string => `Bearer ${key}`;

export interface ResourceSpec {
  service: string;
  /** The resource attribute `spanscore.project`, when set. */
  project?: string;
  /** Also sent, to see that the receiver overwrites it. */
  instance?: string;
  spanName?: string;
}

/** A protobuf request with one span per resource. */
export function resourcesRequest(resources: ResourceSpec[]): Buffer {
  return encodeRequest({
    resourceSpans: resources.map((resource) => ({
      resource: {
        attributes: [
          { key: 'service.name', value: { stringValue: resource.service } },
          ...(resource.project === undefined ? [] : [{ key: 'spanscore.project', value: { stringValue: resource.project } }]),
          ...(resource.instance === undefined ? [] : [{ key: 'spanscore.instance', value: { stringValue: resource.instance } }]),
        ],
      },
      scopeSpans: [{ scope: { name: 'auth-test' }, spans: [spanObject({ name: resource.spanName ?? resource.service })] }],
    })),
  });
}

/** Each row's project and instance, by span name. */
export function stamps(rows: SpanRow[]): Record<string, [project: string | undefined, instance: string | undefined]> {
  return Object.fromEntries(rows.map((row) => [row.SpanName, [row.ResourceAttributes['spanscore.project'], row.ResourceAttributes['spanscore.instance']]]));
}

/** The refusals that must be explained the same way by both transports. */
export const REFUSALS: {
  label: string;
  key?: string;
  project?: string;
  body: () => Buffer;
  status: 401 | 403;
  message: RegExp;
}[] = [
  { label: 'no key', body: () => resourcesRequest([{ service: 'shop' }]), status: 401, message: /missing API key/ },
  { label: 'an unknown key', key: KEY.unknown, body: () => resourcesRequest([{ service: 'shop' }]), status: 401, message: /^unknown API key$/ },
  {
    label: 'a key without the ingest permission',
    key: KEY.reader,
    body: () => resourcesRequest([{ service: 'shop' }]),
    status: 403,
    message: /^API key "reader" lacks the "ingest" permission$/,
  },
  {
    label: 'a project header the key does not cover',
    key: KEY.shop,
    project: 'billing',
    body: () => resourcesRequest([{ service: 'shop', project: 'shop' }]),
    status: 403,
    message: /^API key "shop-ingest" does not cover project "billing" \(it covers: shop, shop-eu\)$/,
  },
  {
    label: 'a resource attribute project the key does not cover',
    key: KEY.shop,
    body: () => resourcesRequest([{ service: 'shop', project: 'billing' }]),
    status: 403,
    message: /does not cover project "billing"/,
  },
  {
    label: 'a service.name project the key does not cover',
    key: KEY.shop,
    body: () => resourcesRequest([{ service: 'checkout' }]),
    status: 403,
    message: /does not cover project "checkout"/,
  },
  {
    label: 'one uncovered resource among covered ones',
    key: KEY.shop,
    body: () => resourcesRequest([{ service: 'shop' }, { service: 'x', project: 'shop-eu' }, { service: 'billing' }]),
    status: 403,
    message: /does not cover project "billing"/,
  },
];

/** No message of a refusal may carry a key. */
export function expectNoKeyIn(text: string): void {
  for (const key of Object.values(KEY)) expect(text).not.toContain(key);
}
