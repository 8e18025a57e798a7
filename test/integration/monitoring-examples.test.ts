import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { startAdminServer, type AdminServer } from '../../jobs/admin-port.js';
import { CognitoEmulator } from '../../src/emulator/index.js';
import { startHarness, type ExportHarness } from '../support/export-harness.js';

const ALERTS = fileURLToPath(new URL('../../examples/prometheus-alerts.yaml', import.meta.url));
const DASHBOARD = fileURLToPath(new URL('../../examples/grafana-dashboard.json', import.meta.url));

interface AlertRule {
  alert: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface Panel {
  title: string;
  type: string;
  targets?: { expr: string; refId: string }[];
  panels?: Panel[];
}
interface Dashboard {
  title: string;
  uid: string;
  panels: Panel[];
  templating: { list: { name: string; query?: unknown; definition?: string }[] };
}

let emulator: CognitoEmulator;
let harness: ExportHarness;
let admin: AdminServer;
let scratch: string;
/** Every metric name that has a sample in a worker's /metrics after a run. */
let exposed: Set<string>;

beforeAll(async () => {
  emulator = await CognitoEmulator.start({ port: 0 });
  scratch = await mkdtemp(join(tmpdir(), 'ce-monitoring-'));
  harness = await startHarness({ cognitoEndpoint: emulator.url });
  admin = await startAdminServer(harness.runtime, harness.queues, harness.worker, { host: '127.0.0.1', port: 0, token: undefined, dashboard: false });
  // A small run, throttled now and then so the throttle and ceiling series exist too.
  // About 25 ListUsers calls at 30% throttled: the odds of no throttle at all are about 1 in 7,500.
  const poolId = emulator.createPoolWithUsers({ users: 1500, seed: 501 });
  emulator.setFaults({ throttleRate: 0.3 });
  const status = await harness.run({ userPoolId: poolId, destination: pathToFileURL(join(scratch, 'out')).href, fileMaxRecords: 100 });
  emulator.setFaults({ throttleRate: 0 });
  expect(status.state).toBe('completed');
  const text = await (await fetch(`${admin.url}/metrics`)).text();
  exposed = new Set(text.split('\n').filter((line) => line && !line.startsWith('#')).map((line) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(line)?.[0] ?? ''));
}, 120_000);

afterAll(async () => {
  await admin?.close();
  await harness?.close();
  await emulator?.stop();
  await rm(scratch, { recursive: true, force: true });
});

/** The product's metric names a PromQL expression uses (crudely: every `cognito_export_…` identifier). */
const metricNames = (expr: string): string[] => expr.match(/cognito_export_[a-z_]+/g) ?? [];

function allPanels(panels: readonly Panel[]): Panel[] {
  return panels.flatMap((panel) => [panel, ...allPanels(panel.panels ?? [])]);
}

describe('examples/prometheus-alerts.yaml', () => {
  it('parses, and every alert uses only metrics a worker exposes', async () => {
    const file = parse(await readFile(ALERTS, 'utf8')) as { groups: { name: string; rules: AlertRule[] }[] };
    const rules = file.groups.flatMap((group) => group.rules);
    expect(rules.map((rule) => rule.alert)).toEqual([
      'CognitoExportSnapshotStale',
      'CognitoExportRunFailed',
      'CognitoExportJobsFailed',
      'CognitoExportThrottlingAccountApps',
      'CognitoExportWorkerDown',
    ]);
    for (const rule of rules) {
      expect(rule.expr, rule.alert).toEqual(expect.any(String));
      expect(rule.labels?.severity, rule.alert).toBeDefined();
      expect(rule.annotations?.summary, rule.alert).toBeDefined();
      for (const name of metricNames(rule.expr)) expect(exposed, `${rule.alert} uses ${name}`).toContain(name);
    }
    const uses = (alert: string) => rules.find((rule) => rule.alert === alert)?.expr ?? '';
    expect(uses('CognitoExportSnapshotStale')).toContain('cognito_export_last_success_timestamp_seconds');
    expect(uses('CognitoExportThrottlingAccountApps')).toContain('cognito_export_throttles_total');
    expect(uses('CognitoExportRunFailed')).toContain('outcome="failed"');
    expect(uses('CognitoExportWorkerDown')).toMatch(/^up\{job="[^"]+"\} == 0$/);
  });
});

describe('examples/grafana-dashboard.json', () => {
  it('parses, and every panel query uses only metrics a worker exposes', async () => {
    const dashboard = JSON.parse(await readFile(DASHBOARD, 'utf8')) as Dashboard;
    const panels = allPanels(dashboard.panels);
    expect(panels.length).toBeGreaterThanOrEqual(8);
    const queries = panels.flatMap((panel) => {
      expect(panel.targets?.length, panel.title).toBeGreaterThan(0);
      return (panel.targets ?? []).map((target) => ({ where: panel.title, expr: target.expr }));
    });
    for (const variable of dashboard.templating.list) if (variable.definition) queries.push({ where: `$${variable.name}`, expr: variable.definition });
    const used = new Set<string>();
    for (const { where, expr } of queries) {
      expect(expr, where).toEqual(expect.any(String));
      for (const name of metricNames(expr)) {
        used.add(name);
        expect(exposed, `${where} uses ${name}`).toContain(name);
      }
    }
    // What the dashboard is for: runs by state, users/s, calls/s against the limiter, throttles, slot waits, queue depth, last success age.
    for (const name of [
      'cognito_export_runs_finished_total',
      'cognito_export_queue_jobs',
      'cognito_export_users_exported_total',
      'cognito_export_cognito_calls_total',
      'cognito_export_rate_limit_rps',
      'cognito_export_throttles_total',
      'cognito_export_slot_wait_seconds_total',
      'cognito_export_last_success_timestamp_seconds',
    ]) {
      expect(used, name).toContain(name);
    }
  });
});
