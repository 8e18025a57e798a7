import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface Service {
  readonly ports?: readonly (string | { readonly host_ip?: string; readonly published?: string | number })[];
  readonly environment?: Record<string, string> | readonly string[];
  readonly entrypoint?: readonly string[] | string;
}

const text = readFileSync(new URL('../../docker-compose.yml', import.meta.url), 'utf8');
const compose = parse(text) as { services: Record<string, Service> };
const services = Object.entries(compose.services);
const env = (name: string): Record<string, string> => {
  const environment = compose.services[name]?.environment ?? {};
  return Array.isArray(environment) ? {} : (environment as Record<string, string>);
};

describe('docker-compose.yml is safe to start on a laptop on a shared network', () => {
  it('publishes every port on 127.0.0.1 only', () => {
    const published = services.flatMap(([name, service]) => (service.ports ?? []).map((port) => [name, port] as const));
    expect(published.length).toBeGreaterThan(0);
    for (const [name, port] of published) {
      const host = typeof port === 'string' ? port.split(':').slice(0, -2).join(':') : port.host_ip;
      expect(host, `${name} publishes ${JSON.stringify(port)}`).toBe('127.0.0.1');
    }
  });

  it('takes ADMIN_TOKEN from the environment and refuses to start without it', () => {
    expect(env('worker').ADMIN_TOKEN).toBe('${ADMIN_TOKEN:?set ADMIN_TOKEN}');
  });

  it('leaves the dashboard off', () => {
    expect(['false', undefined]).toContain(env('worker').ADMIN_DASHBOARD);
  });

  it('has no literal MinIO credentials: they come from the environment', () => {
    const minio = env('minio');
    expect(minio.MINIO_ROOT_USER).toMatch(/^\$\{MINIO_ROOT_USER[:?-]/);
    expect(minio.MINIO_ROOT_PASSWORD).toMatch(/^\$\{MINIO_ROOT_PASSWORD:\?/);
    expect(env('worker').AWS_SECRET_ACCESS_KEY).toMatch(/^\$\{MINIO_ROOT_PASSWORD:\?/);
    expect(JSON.stringify(compose.services)).not.toContain('minioadmin');
  });
});
