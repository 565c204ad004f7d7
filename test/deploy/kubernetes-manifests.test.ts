import { readFileSync } from 'node:fs';
import { basename, dirname, join, posix } from 'node:path';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseConfigText } from '../../src/config/config-loader.js';
import type { SpanscoreConfig } from '../../src/config/spanscore-config.js';
import { PACKAGE_ROOT } from '../helpers/package-root.js';
import { parseDockerfile } from './dockerfile-lint.js';
import {
  CUSTOM_KINDS, fakeSecretValue, findKubectl, type K8sObject, kustomizeBuild, parseYamlDocuments, quantity, schemaProblems, typeOf, unknownFields, yamlFilesUnder,
} from './kubernetes-kit.js';

const ROOT = 'deploy/kubernetes';
const BASE = `${ROOT}/base`;
const GATEWAY = `${ROOT}/overlays/gateway`;
const OPERATOR = `${ROOT}/opentelemetry-operator`;
const read = (file: string) => readFileSync(join(PACKAGE_ROOT, file), 'utf8');

interface EnvVar { name: string; value?: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }
interface Probe { httpGet?: { path: string; port: number | string } }
interface Container {
  name: string; image: string; args?: string[]; env?: EnvVar[]; restartPolicy?: string;
  ports?: { name?: string; containerPort: number }[];
  startupProbe?: Probe; livenessProbe?: Probe; readinessProbe?: Probe;
  lifecycle?: { preStop?: { sleep?: { seconds: number } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: { runAsUser?: number; runAsNonRoot?: boolean; readOnlyRootFilesystem?: boolean; allowPrivilegeEscalation?: boolean; capabilities?: { drop?: string[] } };
  volumeMounts?: { name: string; mountPath: string; readOnly?: boolean; subPath?: string }[];
}
interface PodSpec {
  containers: Container[]; initContainers?: Container[]; terminationGracePeriodSeconds?: number;
  securityContext?: { runAsNonRoot?: boolean };
  volumes?: { name: string; configMap?: { name: string } }[];
  topologySpreadConstraints?: { topologyKey: string; labelSelector: { matchLabels: Record<string, string> } }[];
}
interface DeploymentObject { metadata: { name: string }; spec: { replicas: number; selector: { matchLabels: Record<string, string> }; template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: PodSpec } } }

/** Kustomizations are written for kustomize v2.0.3 (Debian's kubectl) and v5: only keys both know without a deprecation warning. */
const KUSTOMIZATION_KEYS = new Set(['apiVersion', 'kind', 'namespace', 'resources', 'configMapGenerator', 'generatorOptions', 'images']);

/** Files a kustomization turns into a ConfigMap: spanscore configs, not Kubernetes objects. */
const configFiles = new Set(
  yamlFilesUnder(ROOT)
    .filter((file) => basename(file) === 'kustomization.yaml')
    .flatMap((file) => ((parse(read(file)) as { configMapGenerator?: { files: string[] }[] }).configMapGenerator ?? []).flatMap((g) => g.files.map((f) => join(dirname(file), f)))),
);

function loadSpanscoreConfig(text: string, env: Record<string, string>): SpanscoreConfig {
  return parseConfigText(text, 'spanscore.yaml', env);
}

describe('every YAML file under deploy/kubernetes', () => {
  const files = yamlFilesUnder(ROOT);

  it('includes the base, the gateway overlay and the Operator example', () => {
    expect(files).toEqual(expect.arrayContaining([`${BASE}/kustomization.yaml`, `${BASE}/deployment.yaml`, `${GATEWAY}/kustomization.yaml`, `${GATEWAY}/service.yaml`, `${OPERATOR}/collector-sidecar.yaml`]));
  });

  it.each(files)('%s parses and validates', (file) => {
    const docs = parseYamlDocuments(read(file), file);
    expect(docs.flatMap((d) => d.errors)).toEqual([]);
    expect(docs.length).toBeGreaterThan(0);
    if (basename(file) === 'kustomization.yaml') {
      const kustomization = docs[0]!.value as Record<string, unknown> & { resources?: string[] };
      expect(Object.keys(kustomization).filter((k) => !KUSTOMIZATION_KEYS.has(k))).toEqual([]);
      for (const resource of kustomization.resources ?? []) expect(yamlFilesUnder(dirname(file)), resource).toContain(join(dirname(file), resource));
    } else if (configFiles.has(file)) {
      // Every variable it names, set to something valid; the Deployment's own env is checked below.
      const env = Object.fromEntries([...read(file).matchAll(/\$\{env:(\w+)\}/g)].map(([, name]) => [name!, name!.endsWith('_URL') ? 'http://clickhouse:8123' : fakeSecretValue(name!)]));
      expect(() => loadSpanscoreConfig(read(file), env)).not.toThrow();
    } else {
      for (const doc of docs) {
        const object = doc.value as K8sObject;
        expect(object.metadata?.name, `${file} document ${doc.index}`).toBeTruthy();
        if (!CUSTOM_KINDS.has(typeOf(object))) expect(schemaProblems(object), `${file} document ${doc.index}`).toEqual([]);
      }
    }
  });

  it('hold placeholders, never real keys, in their Secrets', () => {
    const secrets = files.flatMap((file) => parseYamlDocuments(read(file), file)).map((d) => d.value as K8sObject & { stringData?: Record<string, string>; data?: unknown }).filter((o) => o.kind === 'Secret');
    expect(secrets.length).toBe(3);
    for (const secret of secrets) {
      expect(secret.data).toBeUndefined();
      for (const value of Object.values(secret.stringData!)) expect(value).toMatch(/^REPLACE_ME_/);
    }
  });
});

describe('the unknown-field check', () => {
  const deployment = parse(read(`${BASE}/deployment.yaml`)) as DeploymentObject;
  it('passes the manifests as written', () => {
    expect(unknownFields(Deployment as never, deployment)).toEqual([]);
  });
  it('finds a misspelt key that the schemas alone let through', () => {
    const typo = structuredClone(deployment);
    const sidecar = typo.spec.template.spec.initContainers![0]! as Container & Record<string, unknown>;
    sidecar.livenesProbe = sidecar.livenessProbe;
    delete sidecar.livenessProbe;
    expect(() => new Deployment(typo as never).validate()).not.toThrow();
    expect(schemaProblems(typo as unknown as K8sObject)).toEqual(['apps/v1/Deployment.spec.template.spec.initContainers[0].livenesProbe: unknown field']);
  });
  it('knows native sidecars (restartPolicy on init containers) and the preStop sleep action', () => {
    const pod = deployment.spec.template.spec;
    expect(pod.initContainers![0]!.restartPolicy).toBe('Always');
    expect(pod.containers[0]!.lifecycle!.preStop!.sleep).toBeDefined();
    // Fields the schema lacked would be reported just like the misspelt ones next to them.
    const misspelt = structuredClone(deployment) as unknown as { spec: { template: { spec: { initContainers: Record<string, unknown>[]; containers: { lifecycle: { preStop: Record<string, unknown> } }[] } } } };
    misspelt.spec.template.spec.initContainers[0]!.restartPolicyy = 'Always';
    misspelt.spec.template.spec.containers[0]!.lifecycle.preStop.sleeep = { seconds: 5 };
    expect(unknownFields(Deployment as never, misspelt)).toEqual([
      'apps/v1/Deployment.spec.template.spec.initContainers[0].restartPolicyy',
      'apps/v1/Deployment.spec.template.spec.containers[0].lifecycle.preStop.sleeep',
    ]);
  });
});

const kubectl = findKubectl();
const builds = new Map<string, K8sObject[]>();
function build(dir: string): K8sObject[] {
  // Fails rather than skips: CI installs kubectl (.ci/run), and skipped manifests are untested manifests.
  if (!kubectl) throw new Error('no kubectl on PATH: install one (Debian: apt-get install kubernetes-client) to build the kustomizations');
  if (!builds.has(dir)) builds.set(dir, kustomizeBuild(kubectl.path, dir));
  return builds.get(dir)!;
}
const only = <T>(objects: K8sObject[], kind: string): T => {
  const found = objects.filter((o) => o.kind === kind);
  expect(found.map((o) => o.metadata.name), kind).toHaveLength(1);
  return found[0] as unknown as T;
};

describe.each([BASE, GATEWAY])(`kubectl kustomize %s (kubectl ${kubectl?.version ?? 'missing'})`, (dir) => {
  it('builds, and every object validates against its schema', () => {
    const objects = build(dir);
    expect(objects.length).toBeGreaterThan(0);
    for (const object of objects) expect(schemaProblems(object), `${object.kind}/${object.metadata.name}`).toEqual([]);
  });

  const setup = () => {
    const objects = build(dir);
    const deployment = only<DeploymentObject>(objects, 'Deployment');
    const pod = deployment.spec.template.spec;
    const all = [...(pod.initContainers ?? []), ...pod.containers];
    const spanscore = all.find((c) => c.name === 'spanscore')!;
    const secrets = new Map(objects.filter((o) => o.kind === 'Secret').map((o) => [o.metadata.name, o as unknown as { stringData: Record<string, string> }]));
    const env: Record<string, string> = {};
    for (const variable of spanscore.env ?? []) {
      const ref = variable.valueFrom?.secretKeyRef;
      if (ref) {
        expect(secrets.get(ref.name)?.stringData, `Secret ${ref.name} key ${ref.key}`).toHaveProperty(ref.key);
        env[variable.name] = fakeSecretValue(ref.key);
      } else env[variable.name] = variable.value!;
    }
    // The config the daemon reads: --config, inside a mounted ConfigMap, loaded with the container's env.
    const configPath = spanscore.args![spanscore.args!.indexOf('--config') + 1]!;
    const mount = spanscore.volumeMounts!.find((m) => m.mountPath === posix.dirname(configPath))!;
    const configMapName = pod.volumes!.find((v) => v.name === mount.name)!.configMap!.name;
    const configMap = objects.find((o) => o.kind === 'ConfigMap' && o.metadata.name === configMapName) as unknown as { data: Record<string, string> };
    const text = configMap.data[posix.basename(configPath)]!;
    const config = loadSpanscoreConfig(text, env);
    const raw = parse(text) as { scoring: { workers?: number; worker_memory_mib: number } };
    const portOf = (endpoint: string) => Number(endpoint.split(':').at(-1));
    const containerPort = (container: Container, port: number | string) => (typeof port === 'number' ? port : container.ports!.find((p) => p.name === port)!.containerPort);
    return { objects, deployment, pod, all, spanscore, secrets, config, raw, mount, configMapName, portOf, containerPort };
  };

  it('mounts the ConfigMap read-only as a directory, and its config loads with the container env', () => {
    const { spanscore, mount, config } = setup();
    expect(mount).toMatchObject({ readOnly: true });
    expect(mount.subPath).toBeUndefined();
    expect(config.storage!.url).toBe(spanscore.env!.find((e) => e.name === 'CLICKHOUSE_URL')!.value);
    expect(config.auth.keys.map((k) => k.permissions)).toContainEqual(['ingest']);
  });

  it('probes and scrapes the admin endpoint port', () => {
    const { deployment, spanscore, config, portOf, containerPort } = setup();
    const admin = portOf(config.admin.endpoint);
    const probes = [spanscore.startupProbe, spanscore.livenessProbe, spanscore.readinessProbe].filter((p): p is Probe => p !== undefined);
    expect(probes.length).toBeGreaterThanOrEqual(2);
    for (const probe of probes) expect(containerPort(spanscore, probe.httpGet!.port)).toBe(admin);
    expect(spanscore.livenessProbe!.httpGet!.path).toBe('/healthz');
    expect(spanscore.startupProbe!.httpGet!.path).toBe('/healthz');
    expect(deployment.spec.template.metadata.annotations).toMatchObject({ 'prometheus.io/scrape': 'true', 'prometheus.io/port': String(admin), 'prometheus.io/path': '/metrics' });
  });

  it('gives the pod a grace period longer than every preStop plus shutdown_timeout', () => {
    const { pod, all, config } = setup();
    const preStops = all.reduce((sum, c) => sum + (c.lifecycle?.preStop?.sleep?.seconds ?? 0), 0);
    expect(all.some((c) => c.lifecycle?.preStop)).toBe(true);
    expect(pod.terminationGracePeriodSeconds!).toBeGreaterThan(preStops + config.service.shutdownTimeoutMs / 1000);
  });

  it('sizes memory and CPU from the memory limiter and the workers', () => {
    const { spanscore, config, raw } = setup();
    const limit = quantity(spanscore.resources!.limits!.memory!);
    // The comment's arithmetic: the limiter's hard limit plus one worker heap per worker.
    expect(limit).toBeGreaterThanOrEqual(config.memoryLimiter.limitBytes + config.scoring.workers * raw.scoring.worker_memory_mib * 2 ** 20);
    expect(quantity(spanscore.resources!.requests!.memory!)).toBeLessThan(limit);
    const heap = /--max-old-space-size=(\d+)/.exec(spanscore.env!.find((e) => e.name === 'NODE_OPTIONS')!.value!)![1]!;
    expect(Number(heap) * 2 ** 20).toBeGreaterThanOrEqual(config.memoryLimiter.limitBytes);
    // Explicit: the default counts the node's cores, not the container's.
    expect(raw.scoring.workers).toBeDefined();
    expect(raw.scoring.workers!).toBeLessThanOrEqual(Math.ceil(quantity(spanscore.resources!.limits!.cpu!)));
  });

  it('hardens every container and pins every image', () => {
    const { pod, all, spanscore } = setup();
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    for (const container of all) {
      expect(container.securityContext, container.name).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] } });
      expect(container.image, container.name).toMatch(/^[^@]+:(?!latest$)[\w][\w.-]*$|@sha256:[0-9a-f]{64}$/);
    }
    const user = parseDockerfile(read('deploy/Dockerfile')).stages.at(-1)!.instructions.filter((i) => i.keyword === 'USER').at(-1)!.args;
    expect(spanscore.securityContext!.runAsUser).toBe(Number(user.split(':')[0]));
  });
});

describe('the sidecar (base)', () => {
  const setupBase = () => {
    const deployment = only<DeploymentObject>(build(BASE), 'Deployment');
    const pod = deployment.spec.template.spec;
    const config = loadSpanscoreConfig(read(`${BASE}/spanscore.yaml`), Object.fromEntries(['CLICKHOUSE_URL', 'CLICKHOUSE_PASSWORD', 'OPENAI_API_KEY', 'SPANSCORE_INGEST_KEY_HASH', 'SPANSCORE_OPERATOR_KEY_HASH'].map((n) => [n, n.endsWith('_URL') ? 'http://ch:8123' : fakeSecretValue(n)])));
    return { pod, config, app: pod.containers.find((c) => c.name === 'app')! };
  };

  it('runs spanscore as a native sidecar, without a readiness probe that would couple the app to ClickHouse', () => {
    const { pod } = setupBase();
    const sidecar = pod.initContainers!.find((c) => c.name === 'spanscore')!;
    expect(sidecar.restartPolicy).toBe('Always');
    expect(sidecar.readinessProbe).toBeUndefined();
    expect(pod.containers.map((c) => c.name)).not.toContain('spanscore');
  });

  it("points the app's exporter at the loopback OTLP/HTTP receiver, with the ingest key", () => {
    const { app, config } = setupBase();
    const env = new Map(app.env!.map((e) => [e.name, e]));
    const endpoint = new URL(env.get('OTEL_EXPORTER_OTLP_ENDPOINT')!.value!);
    expect(`${endpoint.hostname}:${endpoint.port}`).toBe(config.receivers.http!.endpoint);
    expect(env.get('OTEL_EXPORTER_OTLP_PROTOCOL')!.value).toBe('http/protobuf');
    expect(env.get('OTEL_EXPORTER_OTLP_HEADERS')!.value).toBe('Authorization=Bearer%20$(SPANSCORE_INGEST_KEY)');
    // $(VAR) expands only variables defined earlier in the list.
    const names = app.env!.map((e) => e.name);
    expect(names.indexOf('SPANSCORE_INGEST_KEY')).toBeLessThan(names.indexOf('OTEL_EXPORTER_OTLP_HEADERS'));
    expect(env.get('SPANSCORE_INGEST_KEY')!.valueFrom!.secretKeyRef).toEqual({ name: 'spanscore', key: 'SPANSCORE_INGEST_KEY' });
    expect(config.receivers.grpc!.endpoint.startsWith('127.0.0.1:')).toBe(true);
  });
});

describe('the gateway overlay', () => {
  const setupGateway = () => {
    const objects = build(GATEWAY);
    const deployment = only<DeploymentObject>(objects, 'Deployment');
    const service = only<{ metadata: { name: string; namespace: string }; spec: { selector: Record<string, string>; ports: { name: string; port: number; targetPort: string | number; appProtocol?: string }[] } }>(objects, 'Service');
    const pdb = only<{ spec: { selector: { matchLabels: Record<string, string> } } }>(objects, 'PodDisruptionBudget');
    const spanscore = deployment.spec.template.spec.containers.find((c) => c.name === 'spanscore')!;
    const config = loadSpanscoreConfig(read(`${GATEWAY}/spanscore.yaml`), Object.fromEntries(['CLICKHOUSE_URL', 'CLICKHOUSE_PASSWORD', 'OPENAI_API_KEY', 'SPANSCORE_INGEST_KEY_HASH', 'SPANSCORE_OPERATOR_KEY_HASH'].map((n) => [n, n.endsWith('_URL') ? 'http://ch:8123' : fakeSecretValue(n)])));
    return { objects, deployment, service, pdb, spanscore, config };
  };
  const labelsMatch = (selector: Record<string, string>, labels: Record<string, string>) => Object.entries(selector).every(([k, v]) => labels[k] === v);

  it('has no example app, and three spread replicas of spanscore', () => {
    const { objects, deployment } = setupGateway();
    expect(objects.filter((o) => o.kind === 'Deployment').map((o) => o.metadata.name)).toEqual(['spanscore-gateway']);
    expect(deployment.spec.replicas).toBe(3);
    const labels = deployment.spec.template.metadata.labels;
    const spread = deployment.spec.template.spec.topologySpreadConstraints!;
    expect(spread.map((s) => s.topologyKey).sort()).toEqual(['kubernetes.io/hostname', 'topology.kubernetes.io/zone']);
    for (const constraint of spread) expect(labelsMatch(constraint.labelSelector.matchLabels, labels)).toBe(true);
  });

  it("exposes the config's receivers and admin endpoint through the Service, by name", () => {
    const { deployment, service, spanscore, config } = setupGateway();
    const port = (endpoint: string) => Number(endpoint.split(':').at(-1));
    const expected = [
      { name: 'otlp-grpc', port: port(config.receivers.grpc!.endpoint), appProtocol: 'grpc' },
      { name: 'otlp-http', port: port(config.receivers.http!.endpoint), appProtocol: 'http' },
      { name: 'admin', port: port(config.admin.endpoint), appProtocol: 'http' },
    ];
    expect(service.spec.ports.map(({ name, port, appProtocol }) => ({ name, port, appProtocol }))).toEqual(expected);
    for (const servicePort of service.spec.ports) {
      const target = spanscore.ports!.find((p) => p.name === servicePort.targetPort || p.containerPort === servicePort.targetPort);
      expect(target?.containerPort, servicePort.name).toBe(servicePort.port);
    }
    expect(labelsMatch(service.spec.selector, deployment.spec.template.metadata.labels)).toBe(true);
    for (const endpoint of [config.receivers.grpc!.endpoint, config.receivers.http!.endpoint]) expect(endpoint.startsWith('0.0.0.0:')).toBe(true);
  });

  it('is ready only while it can store (readyz), and covered by a PodDisruptionBudget', () => {
    const { deployment, pdb, spanscore } = setupGateway();
    expect(spanscore.readinessProbe!.httpGet!.path).toBe('/readyz');
    expect(labelsMatch(pdb.spec.selector.matchLabels, deployment.spec.template.metadata.labels)).toBe(true);
  });
});

describe('the OpenTelemetry Operator example', () => {
  type Collector = K8sObject & { spec: { mode: string; env: EnvVar[]; config: { receivers: Record<string, unknown>; processors: Record<string, unknown>; exporters: Record<string, { endpoint: string; headers: Record<string, string> }>; service: { pipelines: Record<string, Record<'receivers' | 'processors' | 'exporters', string[]>> } } } };
  const docs = () => yamlFilesUnder(OPERATOR).flatMap((file) => parseYamlDocuments(read(file), file).map((d) => d.value as K8sObject));
  const collector = () => docs().find((d) => d.kind === 'OpenTelemetryCollector') as Collector;

  it('is a sidecar Collector whose pipeline names only components it defines', () => {
    const { apiVersion, spec } = collector();
    expect(apiVersion).toBe('opentelemetry.io/v1beta1');
    expect(spec.mode).toBe('sidecar');
    const traces = spec.config.service.pipelines.traces!;
    expect(traces.exporters).toContain('otlphttp/spanscore');
    for (const kind of ['receivers', 'processors', 'exporters'] as const) {
      for (const name of traces[kind]) expect(Object.keys(spec.config[kind]), `${kind} ${name}`).toContain(name);
    }
  });

  it("exports to the gateway Service's OTLP/HTTP port, with a key from a Secret it ships", () => {
    const { spec } = collector();
    const gateway = build(GATEWAY);
    const service = only<{ metadata: { name: string; namespace: string }; spec: { ports: { name: string; port: number }[] } }>(gateway, 'Service');
    const exporter = spec.config.exporters['otlphttp/spanscore']!;
    const url = new URL(exporter.endpoint);
    expect(url.protocol).toBe('http:');
    expect(url.hostname).toBe(`${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local`);
    expect(Number(url.port)).toBe(service.spec.ports.find((p) => p.name === 'otlp-http')!.port);
    const variable = /^Bearer \$\{env:(\w+)\}$/.exec(exporter.headers.Authorization!)?.[1];
    const ref = spec.env.find((e) => e.name === variable)?.valueFrom?.secretKeyRef;
    expect(ref).toBeDefined();
    const secret = docs().find((d) => d.kind === 'Secret' && d.metadata.name === ref!.name) as { stringData: Record<string, string> } | undefined;
    expect(secret?.stringData).toHaveProperty(ref!.key);
  });
});
