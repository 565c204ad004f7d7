import { describe, expect, it } from 'vitest';
import { decodeJson, decodeProtobuf } from '../../src/receivers/otlp-decoder.js';
import { resourcesRequest, stamps } from './receiver-auth-kit.js';
import { encodeRequest, goodJsonRequest, spanObject } from './receiver-test-kit.js';

describe('span mapping: project and instance', () => {
  it('project = request header, else resource attribute, else service.name', () => {
    const body = resourcesRequest([
      { service: 'svc-a', spanName: 'service' },
      { service: 'svc-b', project: 'attr', spanName: 'attribute' },
      { service: 'svc-c', project: '', spanName: 'empty-attribute' },
    ]);
    expect(stamps(decodeProtobuf(body).rows)).toEqual({
      service: ['svc-a', undefined],
      attribute: ['attr', undefined],
      'empty-attribute': ['svc-c', undefined],
    });
    expect(stamps(decodeProtobuf(body, { project: 'header' }).rows)).toEqual({
      service: ['header', undefined],
      attribute: ['header', undefined],
      'empty-attribute': ['header', undefined],
    });
    // An empty header is no header.
    expect(stamps(decodeProtobuf(body, { project: '' }).rows).attribute).toEqual(['attr', undefined]);
  });

  it('stamps the instance, replacing one the client sent', () => {
    const body = resourcesRequest([{ service: 's', instance: 'spoofed', spanName: 'a' }, { service: 's', spanName: 'b' }]);
    expect(stamps(decodeProtobuf(body, { instanceId: 'replica-2' }).rows)).toEqual({ a: ['s', 'replica-2'], b: ['s', 'replica-2'] });
  });

  it('an empty project for a resource with no service and no project', () => {
    const { rows } = decodeProtobuf(encodeRequest({ resourceSpans: [{ scopeSpans: [{ spans: [spanObject()] }] }] }));
    expect(rows[0]!.ResourceAttributes).toEqual({ 'spanscore.project': '' });
  });

  it('keeps one ResourceAttributes object per resource, project and instance included', () => {
    const body = encodeRequest({
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'checkout' } }] },
          scopeSpans: [{ spans: [spanObject({ name: 'a' }), spanObject({ name: 'b' })] }, { spans: [spanObject({ name: 'c' })] }],
        },
      ],
    });
    const { rows } = decodeProtobuf(body, { instanceId: 'r' });
    expect(rows).toHaveLength(3);
    expect(rows[1]!.ResourceAttributes).toBe(rows[0]!.ResourceAttributes);
    expect(rows[2]!.ResourceAttributes).toBe(rows[0]!.ResourceAttributes);
    expect(rows[0]!.ResourceAttributes).toEqual({ 'service.name': 'checkout', 'spanscore.project': 'checkout', 'spanscore.instance': 'r' });
  });

  it('OTLP/JSON requests get the same stamps', () => {
    const { rows } = decodeJson(goodJsonRequest('json'), { project: 'p', instanceId: 'r' });
    expect(stamps(rows)).toEqual({ json: ['p', 'r'] });
  });
});
