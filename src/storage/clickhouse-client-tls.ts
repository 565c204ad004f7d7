import type { ClickHouseClientConfigOptions } from '@clickhouse/client';
import { rootCertificates } from 'node:tls';
import type { Logger } from '../admin/logger.js';
import { loadClientTls, TlsFileError, type ClientTlsFiles } from '../tls/tls-files.js';

/** The client's TLS options for `storage.clickhouse.tls`, read from their files. */
export async function clickhouseClientTls(
  files: ClientTlsFiles,
  url: string,
  password: string | undefined,
  logger: Logger,
): Promise<Pick<ClickHouseClientConfigOptions, 'tls'>> {
  const owner = 'storage.clickhouse.tls';
  // Over http:// the client would ignore the TLS options and send everything in the clear.
  if (new URL(url).protocol !== 'https:') throw new TlsFileError(`${owner} is set, but the url ${url} is not https://`);
  const { ca, cert, key } = await loadClientTls(files, owner);
  // The client insists on a CA; Node's own roots stand in when the config names none.
  const caCert = ca ?? Buffer.from(rootCertificates.join('\n'));
  if (cert === undefined || key === undefined) return { tls: { ca_cert: caCert } };
  if (password !== undefined && password !== '') {
    logger.warn('storage.clickhouse.tls has a client certificate and a password: ClickHouse refuses certificate authentication with a password');
  }
  return { tls: { ca_cert: caCert, cert, key } };
}
