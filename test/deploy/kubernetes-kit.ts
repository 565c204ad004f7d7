import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { parseAllDocuments } from 'yaml';
import { PACKAGE_ROOT } from '../helpers/package-root.js';

/**
 * Offline validation of the Kubernetes manifests against the API's OpenAPI schemas, as vendored
 * by kubernetes-models 4.5 (Kubernetes 1.33; 5.x needs Node 22). Those schemas, like the API
 * server's, allow unknown fields, so a misspelt key (`readinesProbe`) would pass them silently;
 * `unknownFields` catches that, as `kubectl apply --validate=strict` would.
 */

// Plain objects, not class instances: the check runs on the parsed YAML as kubectl sends it.
export type K8sObject = { apiVersion: string; kind: string; metadata: { name: string; namespace?: string; [key: string]: unknown }; [key: string]: unknown };

interface ModelClass {
  new (data: never): { validate(): void };
  prototype: { validate(this: unknown): void };
}

const MODELS: Record<string, ModelClass> = {
  'apps/v1/Deployment': Deployment as unknown as ModelClass,
  'policy/v1/PodDisruptionBudget': PodDisruptionBudget as unknown as ModelClass,
  'v1/ConfigMap': ConfigMap as unknown as ModelClass,
  'v1/Namespace': Namespace as unknown as ModelClass,
  'v1/Secret': Secret as unknown as ModelClass,
  'v1/Service': Service as unknown as ModelClass,
};

/** Kinds whose schema kubernetes-models does not carry (CRDs): the tests check them by hand. */
export const CUSTOM_KINDS = new Set(['opentelemetry.io/v1beta1/OpenTelemetryCollector']);

export const typeOf = (doc: { apiVersion: string; kind: string }) => `${doc.apiVersion}/${doc.kind}`;

/** Schema errors of one object, plus its unknown fields; empty when it is valid. */
export function schemaProblems(doc: K8sObject): string[] {
  const model = MODELS[typeOf(doc)];
  if (!model) return [`no schema for ${typeOf(doc)}: add it to MODELS in test/deploy/kubernetes-kit.ts`];
  try {
    new model(doc as never).validate();
  } catch (error) {
    return [(error as Error).message];
  }
  return unknownFields(model, doc).map((path) => `${path}: unknown field`);
}

/**
 * Runs the compiled schema validator on a proxy of the object and records which keys it reads.
 * The validator reads every property its schema declares and enumerates the keys of maps
 * (labels, data); a key of a schema'd object that it never read is not in the schema.
 */
export function unknownFields(model: ModelClass, doc: object): string[] {
  const read = new Map<object, Set<PropertyKey>>();
  const enumerated = new Set<object>();
  const proxies = new WeakMap<object, object>();
  const wrap = (value: unknown): unknown => {
    if (value === null || typeof value !== 'object') return value;
    let proxy = proxies.get(value);
    if (!proxy) {
      read.set(value, new Set());
      proxy = new Proxy(value, {
        get: (target, key, receiver) => (read.get(target)!.add(key), wrap(Reflect.get(target, key, receiver))),
        has: (target, key) => (read.get(target)!.add(key), Reflect.has(target, key)),
        ownKeys: (target) => (enumerated.add(target), Reflect.ownKeys(target)),
      });
      proxies.set(value, proxy);
    }
    return proxy;
  };
  try {
    model.prototype.validate.call(wrap(doc));
  } catch {
    // Invalid objects are reported by the schema check; only the reads matter here.
  }
  const unknown: string[] = [];
  const walk = (value: unknown, path: string) => {
    if (value === null || typeof value !== 'object') return;
    if (Array.isArray(value)) return value.forEach((item, i) => walk(item, `${path}[${i}]`));
    const keys = read.get(value);
    const schemaless = !keys || keys.size === 0;
    for (const [key, child] of Object.entries(value)) {
      if (!schemaless && !enumerated.has(value) && !keys.has(key)) unknown.push(`${path}.${key}`);
      walk(child, `${path}.${key}`);
    }
  };
  walk(doc, typeOf(doc as K8sObject));
  return unknown;
}

export interface YamlDocument {
  file: string;
  index: number;
  value: unknown;
  errors: string[];
}

export function parseYamlDocuments(text: string, file: string): YamlDocument[] {
  return parseAllDocuments(text, { uniqueKeys: true })
    .map((doc, index) => ({ file, index, value: doc.toJS() as unknown, errors: [...doc.errors, ...doc.warnings].map((e) => e.message) }))
    .filter((doc) => doc.value !== null || doc.errors.length > 0);
}

/** Every .yaml / .yml file under a directory, relative to the package root. */
export function yamlFilesUnder(dir: string): string[] {
  return readdirSync(join(PACKAGE_ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && /\.ya?ml$/.test(entry.name))
    .map((entry) => relative(PACKAGE_ROOT, join(entry.parentPath, entry.name)))
    .sort();
}

/** The kubectl on PATH and its version, or undefined. */
export function findKubectl(): { path: string; version: string } | undefined {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    if (dir === '') continue;
    try {
      const output = execFileSync(join(dir, 'kubectl'), ['version', '--client'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      return { path: join(dir, 'kubectl'), version: /v\d+\.\d+\.\d+/.exec(output)?.[0] ?? 'unknown version' };
    } catch {
      // not here
    }
  }
  return undefined;
}

export function kustomizeBuild(kubectl: string, dir: string): K8sObject[] {
  const output = execFileSync(kubectl, ['kustomize', join(PACKAGE_ROOT, dir)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const docs = parseYamlDocuments(output, `kubectl kustomize ${dir}`);
  for (const doc of docs) if (doc.errors.length > 0) throw new Error(`${doc.file}: ${doc.errors.join('; ')}`);
  return docs.map((doc) => doc.value as K8sObject);
}

/** `768Mi` -> bytes, `100m` -> 0.1 (Kubernetes quantities). */
export function quantity(text: string | number): number {
  if (typeof text === 'number') return text;
  const match = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(text);
  if (!match) throw new Error(`not a quantity: ${text}`);
  const factors: Record<string, number> = { m: 1e-3, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, k: 1e3, M: 1e6, G: 1e9, T: 1e12 };
  return Number(match[1]) * (match[2] ? factors[match[2]]! : 1);
}

/** A syntactically valid stand-in for a Secret value: `sha256:<hex>` for key hashes, distinct per key. */
export function fakeSecretValue(key: string): string {
  const hex = createHash('sha256').update(`fake ${key}`).digest('hex');
  return key.endsWith('_HASH') ? `sha256:${hex}` : `fake-${key.toLowerCase()}-${hex.slice(0, 8)}`;
}
