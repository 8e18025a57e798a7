import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/app-config.js';
import { parseExportConfig } from '../../src/config/config-file.js';
import { isSecretVariable } from '../../src/config/environment-reference.js';

/**
 * The deployment files under deploy/ (docs/deploy-aws.md), checked against the code they deploy:
 * variable names against the config reader, ports and probes against the admin port, the stop
 * timeouts against what a worker does on SIGTERM, the IAM policy against the AWS calls it makes.
 */

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DEPLOY = join(ROOT, 'deploy');
const read = (path: string): string => readFileSync(join(ROOT, path), 'utf8');

// ---------------------------------------------------------------------------------------------
// Placeholders: every file uses ${NAME} for what differs per installation, filled in by envsubst
// with an explicit list (docs/deploy-aws.md). The test fills them with these values.

const SAMPLE: Readonly<Record<string, string>> = {
  ACCOUNT_ID: '111122223333',
  REGION: 'eu-west-1',
  IMAGE: '111122223333.dkr.ecr.eu-west-1.amazonaws.com/cognito-export:0.1.0',
  EXPORT_BUCKET: 'example-exports',
  EXPORT_PREFIX: 'cognito',
  USER_POOL_ID: 'eu-west-1_AbCdEf123',
  KMS_KEY_ID: '1234abcd-12ab-34cd-56ef-1234567890ab',
  SECRETS_KMS_KEY_ID: '5678abcd-12ab-34cd-56ef-1234567890ab',
  ADMIN_TOKEN_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:cognito-export/admin-token-AbCdEf',
  PSEUDONYMIZATION_KEY_SECRET_ARN: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:cognito-export/pseudonymization-key-GhIjKl',
  OIDC_PROVIDER: 'oidc.eks.eu-west-1.amazonaws.com/id/EXAMPLED539D4633E53DE1B71EXAMPLE',
};

/** Values for the variables the manifests take from a secret store, valid for loadConfig. */
const SECRET_VALUES: Readonly<Record<string, string>> = {
  ADMIN_TOKEN: randomBytes(32).toString('hex'),
  PSEUDONYMIZATION_KEY: randomBytes(32).toString('hex'),
  REDIS_URL: 'rediss://cognito-export:password@master.cognito-export.abcdef.euw1.cache.amazonaws.com:6379',
};

const PLACEHOLDER = /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g;
const placeholders = (text: string): string[] => [...text.matchAll(PLACEHOLDER)].map((match) => match[1] ?? '');
const fill = (text: string): string => text.replace(PLACEHOLDER, (whole, name: string) => SAMPLE[name] ?? whole);

function filesUnder(directory: string): string[] {
  return readdirSync(directory, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(directory, entry.name)) : [join(directory, entry.name)],
  );
}

const deployFiles = filesUnder(DEPLOY)
  .filter((path) => /\.(ya?ml|json)$/.test(path))
  .map((path) => relative(ROOT, path))
  .sort();
/** Every deploy/ file, placeholders filled in and parsed (JSON is YAML). */
const parsed = new Map<string, unknown>(deployFiles.map((path) => [path, parse(fill(read(path))) as unknown]));
const file = <T>(path: string): T => {
  const value = parsed.get(path);
  if (value === undefined) throw new Error(`${path} is missing or empty`);
  return value as T;
};

// ---------------------------------------------------------------------------------------------
// What the code says.

/** Every variable loadConfig reads (src/config/app-config.ts): a renamed one fails the test. */
const CONFIG_VARIABLES: ReadonlySet<string> = (() => {
  const names = new Set<string>();
  loadConfig(
    new Proxy<NodeJS.ProcessEnv>({}, {
      get: (_target, name) => {
        if (typeof name === 'string') names.add(name);
        return undefined;
      },
    }),
  );
  return names;
})();

/** Variables the manifests may set that the app's config does not read, and who reads them. */
const NOT_APP_CONFIG: Readonly<Record<string, string>> = {
  NODE_OPTIONS: 'Node itself: the heap cap, as in the Dockerfile',
};

const DEFAULTS = loadConfig({});
/** The admin port when ADMIN_PORT is unset (9464): /healthz and /metrics. */
const ADMIN_PORT = DEFAULTS.adminPort ?? 0;

/** The heap cap the Dockerfile sets, which the manifests repeat (NODE_OPTIONS replaces it when set). */
const DOCKERFILE = read('Dockerfile');
const DOCKERFILE_NODE_OPTIONS = /NODE_OPTIONS=(--max-old-space-size=\d+)/.exec(DOCKERFILE)?.[1];

/** A request timeout of an AWS client (ms), read from its source. */
function requestTimeoutMs(path: string): number {
  const match = /requestTimeout:\s*([\d_]+)/.exec(read(path));
  if (!match?.[1]) throw new Error(`no requestTimeout in ${path}`);
  return Number(match[1].replace(/_/g, ''));
}

/**
 * The least time a worker needs between SIGTERM and exit (src/cli/worker-command.ts →
 * ExportWorker.close → the shard walk's `stop`): the Cognito call in flight is not abandoned
 * (src/limits/retry-policy.ts keeps a response that arrives), so it may take its whole request
 * timeout; then each open file is sealed, its last part uploaded (the S3 request timeout), before
 * its checkpoint is written to Redis and the job handed back. A worker killed before that loses
 * nothing, but its shards wait one to two WORKER_LOCK_DURATION_MS and refetch their open files.
 */
const SEAL_FLOOR_S = (requestTimeoutMs('src/cognito/cognito-client.ts') + requestTimeoutMs('src/storage/s3-client.ts')) / 1000;
/** The most ECS allows for a container's stopTimeout on Fargate. */
const ECS_MAX_STOP_TIMEOUT_S = 120;
/** Peak RSS of a worker with the heap cap, exporting a million users (docs/benchmarks.md). */
const PEAK_RSS_MIB = 160;

// ---------------------------------------------------------------------------------------------
// Kubernetes shapes (only what is checked).

interface Labels {
  readonly [name: string]: string;
}
interface EnvVar {
  readonly name: string;
  readonly value?: string;
  readonly valueFrom?: { readonly secretKeyRef?: { readonly name: string; readonly key: string; readonly optional?: boolean } };
}
interface Probe {
  readonly httpGet?: { readonly path: string; readonly port: number | string };
  readonly failureThreshold?: number;
  readonly periodSeconds?: number;
}
interface Container {
  readonly name: string;
  readonly image: string;
  readonly command?: readonly string[];
  readonly args?: readonly string[];
  readonly ports?: readonly { readonly name?: string; readonly containerPort: number }[];
  readonly env?: readonly EnvVar[];
  readonly resources?: { readonly requests?: Labels; readonly limits?: Labels };
  readonly startupProbe?: Probe;
  readonly readinessProbe?: Probe;
  readonly livenessProbe?: Probe;
  readonly securityContext?: { readonly runAsNonRoot?: boolean; readonly readOnlyRootFilesystem?: boolean; readonly allowPrivilegeEscalation?: boolean; readonly capabilities?: { readonly drop?: readonly string[] } };
  readonly volumeMounts?: readonly { readonly name: string; readonly mountPath: string }[];
}
interface PodSpec {
  readonly serviceAccountName?: string;
  readonly terminationGracePeriodSeconds?: number;
  readonly securityContext?: { readonly runAsNonRoot?: boolean; readonly runAsUser?: number };
  readonly containers: readonly Container[];
  readonly volumes?: readonly { readonly name: string; readonly configMap?: { readonly name: string } }[];
}
interface Deployment {
  readonly kind: 'Deployment';
  readonly spec: { readonly replicas?: number; readonly selector: { readonly matchLabels: Labels }; readonly template: { readonly metadata: { readonly labels: Labels }; readonly spec: PodSpec } };
}
interface Metadata {
  readonly name: string;
  readonly labels?: Labels;
  readonly annotations?: Labels;
}

const K8S = 'deploy/kubernetes';
const kustomization = file<{ readonly namespace: string; readonly resources: readonly string[] }>(`${K8S}/kustomization.yaml`);
const deployment = file<Deployment & { readonly metadata: Metadata }>(`${K8S}/deployment.yaml`);
const pod = deployment.spec.template.spec;
const worker = pod.containers[0] as Container;
const podLabels = deployment.spec.template.metadata.labels;
const service = file<{ readonly metadata: Metadata; readonly spec: { readonly selector: Labels; readonly ports: readonly { readonly name: string; readonly port: number; readonly targetPort: number | string }[] } }>(`${K8S}/service.yaml`);
const serviceMonitor = file<{ readonly spec: { readonly selector: { readonly matchLabels: Labels }; readonly endpoints: readonly { readonly port: string; readonly path: string }[] } }>(`${K8S}/servicemonitor.yaml`);
const pdb = file<{ readonly spec: { readonly minAvailable?: number; readonly maxUnavailable?: number; readonly selector: { readonly matchLabels: Labels } } }>(`${K8S}/poddisruptionbudget.yaml`);
const serviceAccount = file<{ readonly metadata: Metadata }>(`${K8S}/serviceaccount.yaml`);
const configMap = file<{ readonly metadata: Metadata; readonly data: Labels }>(`${K8S}/configmap.yaml`);
const networkPolicy = file<{ readonly spec: { readonly podSelector: { readonly matchLabels: Labels }; readonly ingress: readonly { readonly ports: readonly { readonly port: number | string }[] }[] } }>(`${K8S}/networkpolicy.yaml`);

/** True when every label of `selector` is on `labels` (and the selector selects something). */
const selects = (selector: Labels, labels: Labels): boolean =>
  Object.keys(selector).length > 0 && Object.entries(selector).every(([name, value]) => labels[name] === value);

/** A container port by number or by name. */
const containerPort = (port: number | string): number | undefined =>
  typeof port === 'number' ? port : worker.ports?.find((candidate) => candidate.name === port)?.containerPort;

/** Mebibytes of a Kubernetes memory quantity (`256Mi`, `1Gi`). */
function mebibytes(quantity: string | undefined): number {
  const match = /^(\d+)(Mi|Gi)$/.exec(quantity ?? '');
  if (!match?.[1]) throw new Error(`unexpected memory quantity ${quantity}`);
  return Number(match[1]) * (match[2] === 'Gi' ? 1024 : 1);
}

/** The environment a container gets: literal values, and the sample secrets for secret references. */
function containerEnv(variables: readonly { readonly name: string; readonly value?: string | undefined }[], secrets: readonly string[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const variable of variables) if (variable.value !== undefined) env[variable.name] = variable.value;
  for (const name of secrets) env[name] = SECRET_VALUES[name] ?? `no sample value for ${name}`;
  return env;
}

// ---------------------------------------------------------------------------------------------
// ECS shapes.

interface TaskDefinition {
  readonly networkMode: string;
  readonly requiresCompatibilities: readonly string[];
  readonly cpu: string;
  readonly memory: string;
  readonly taskRoleArn: string;
  readonly executionRoleArn: string;
  readonly containerDefinitions: readonly {
    readonly name: string;
    readonly image: string;
    readonly essential: boolean;
    readonly command: readonly string[];
    readonly readonlyRootFilesystem?: boolean;
    readonly stopTimeout?: number;
    readonly portMappings: readonly { readonly containerPort: number }[];
    readonly environment: readonly { readonly name: string; readonly value: string }[];
    readonly secrets: readonly { readonly name: string; readonly valueFrom: string }[];
    readonly healthCheck: { readonly command: readonly string[]; readonly interval: number; readonly timeout: number; readonly retries: number; readonly startPeriod: number };
    readonly logConfiguration: { readonly logDriver: string; readonly options: Labels };
  }[];
}
const taskDefinition = file<TaskDefinition>('deploy/ecs/task-definition.json');
const ecsWorker = taskDefinition.containerDefinitions[0] as TaskDefinition['containerDefinitions'][number];

// ---------------------------------------------------------------------------------------------
// IAM.

interface Statement {
  readonly Sid?: string;
  readonly Effect: 'Allow' | 'Deny';
  readonly Action: string | readonly string[];
  readonly Resource: string | readonly string[];
  readonly Principal?: unknown;
  readonly Condition?: Record<string, Record<string, string | readonly string[]>>;
}
interface Policy {
  readonly Version: string;
  readonly Statement: readonly Statement[];
}
const list = (value: string | readonly string[]): readonly string[] => (typeof value === 'string' ? [value] : value);
/** The resources an Allow statement grants `action` on (case-insensitive, as IAM compares actions). */
const grants = (policy: Policy, action: string): string[] =>
  policy.Statement.filter((statement) => statement.Effect === 'Allow' && list(statement.Action).some((granted) => granted.toLowerCase() === action.toLowerCase())).flatMap(
    (statement) => list(statement.Resource),
  );
/** IAM's wildcard match of a resource pattern (`*`, `?`). */
const matchesArn = (pattern: string, arn: string): boolean =>
  new RegExp(`^${pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.')}$`).test(arn);

const workerPolicy = file<Policy>('deploy/iam/worker-policy.json');

/**
 * Every IAM action the worker's calls need, and the calls that need it. s3:ListMultipartUploadParts
 * is not here: the worker never calls ListParts (a staged file's parts are in its checkpoint).
 * sts:GetCallerIdentity is not here either: it needs no permission (src/limits/rate-limit-scope.ts
 * calls it when AWS_ACCOUNT_ID is unset; a Deny cannot stop it).
 */
const REQUIRED_ACTIONS: Readonly<Record<string, { readonly on: 'pool' | 'object' | 'bucket' | 'key' | 'role'; readonly why: string }>> = {
  // src/cognito/list-users.ts: ListUsersCommand, the users walk of every shard.
  'cognito-idp:ListUsers': { on: 'pool', why: 'ListUsers' },
  // src/cognito/list-groups.ts: ListGroupsCommand, the groups job.
  'cognito-idp:ListGroups': { on: 'pool', why: 'ListGroups' },
  // src/cognito/list-groups.ts: ListUsersInGroupCommand, the membership shards.
  'cognito-idp:ListUsersInGroup': { on: 'pool', why: 'ListUsersInGroup' },
  // jobs/start-run-job.ts: DescribeUserPoolCommand, EstimatedNumberOfUsers for the progress and ETA.
  'cognito-idp:DescribeUserPool': { on: 'pool', why: 'DescribeUserPool' },
  // src/storage/s3-staged-upload.ts: CreateMultipartUpload and UploadPart (staging a file);
  // src/storage/s3-sink.ts: CompleteMultipartUpload (publish), PutObject (putText: manifests;
  // putIfVersion: latest.json with If-Match / If-None-Match; probeConditions).
  's3:PutObject': { on: 'object', why: 'CreateMultipartUpload, UploadPart, CompleteMultipartUpload, PutObject' },
  // src/storage/s3-sink.ts: GetObject (getText, getVersioned: pointers; readStream: change diffs and
  // retention; verify: a read-back where no checksum is kept) and HeadObject (verify after publish).
  's3:GetObject': { on: 'object', why: 'GetObject, HeadObject' },
  // src/storage/s3-sink.ts: DeleteObjects (deleteObjects: withdrawals, stray files, retention, the probe object).
  's3:DeleteObject': { on: 'object', why: 'DeleteObjects' },
  // src/storage/s3-sink.ts: AbortMultipartUpload (discardStaged, sweepStaged).
  's3:AbortMultipartUpload': { on: 'object', why: 'AbortMultipartUpload' },
  // src/storage/s3-sink.ts: HeadBucket (preflight), ListObjectsV2 (listObjects, forbidden()).
  's3:ListBucket': { on: 'bucket', why: 'HeadBucket, ListObjectsV2' },
  // src/storage/s3-sink.ts: ListMultipartUploads (listUploads: staged uploads no checkpoint lists).
  's3:ListBucketMultipartUploads': { on: 'bucket', why: 'ListMultipartUploads' },
  // SSE-KMS buckets (bucket default encryption; the worker sets no SSE header): PutObject,
  // CreateMultipartUpload and UploadPart need a data key.
  'kms:GenerateDataKey': { on: 'key', why: 'writes to an SSE-KMS bucket' },
  // SSE-KMS: GetObject, and CompleteMultipartUpload of a multipart upload, decrypt the data key.
  'kms:Decrypt': { on: 'key', why: 'reads and multipart uploads in an SSE-KMS bucket' },
  // jobs/export-runtime.ts: fromTemporaryCredentials, for a pool's role_arn or s3_role_arn.
  'sts:AssumeRole': { on: 'role', why: 'cross-account roles' },
};

const RESOURCE_SHAPE: Readonly<Record<(typeof REQUIRED_ACTIONS)[string]['on'], RegExp>> = {
  pool: /^arn:aws:cognito-idp:[a-z0-9-]+:\d{12}:userpool\/.+$/,
  // Object-level S3 actions act on objects: granted on a bucket ARN they do nothing.
  object: /^arn:aws:s3:::[^/]+\/.+$/,
  // Bucket-level S3 actions act on the bucket: granted on `bucket/*` they do nothing.
  bucket: /^arn:aws:s3:::[^/]+$/,
  key: /^arn:aws:kms:[a-z0-9-]+:\d{12}:key\/.+$/,
  role: /^arn:aws:iam::(\d{12}|\*):role\/.+$/,
};

// ---------------------------------------------------------------------------------------------

describe('deploy/ files', () => {
  it('parse, and use only the documented placeholders', () => {
    expect(deployFiles).toEqual(expect.arrayContaining(['deploy/ecs/task-definition.json', 'deploy/iam/worker-policy.json', `${K8S}/deployment.yaml`]));
    for (const path of deployFiles) {
      const unknown = placeholders(read(path)).filter((name) => !(name in SAMPLE));
      expect(unknown, `${path} has placeholders docs/deploy-aws.md does not list`).toEqual([]);
      expect(parsed.get(path), path).toBeTypeOf('object');
    }
  });

  it('are the placeholders docs/deploy-aws.md lists', () => {
    const documented = read('docs/deploy-aws.md');
    for (const name of Object.keys(SAMPLE)) expect(documented, `docs/deploy-aws.md does not list \${${name}}`).toContain(`\${${name}}`);
  });

  it('never hold a secret as a literal value', () => {
    const literal = [
      ...(worker.env ?? []).filter((variable) => variable.value !== undefined).map((variable) => variable.name),
      ...ecsWorker.environment.map((variable) => variable.name),
    ];
    for (const name of literal) expect(isSecretVariable(name), `${name} is a secret: take it from a secret store`).toBe(false);
  });
});

describe('Kubernetes (deploy/kubernetes)', () => {
  it('lists every manifest in kustomization.yaml', () => {
    const manifests = deployFiles.filter((path) => path.startsWith(`${K8S}/`) && !path.endsWith('/kustomization.yaml')).map((path) => path.slice(K8S.length + 1));
    expect([...kustomization.resources].sort()).toEqual(manifests);
  });

  it('runs the worker from the image, as the Dockerfile builds it', () => {
    expect(pod.containers).toHaveLength(1);
    expect(worker.image).toBe(SAMPLE.IMAGE);
    expect(read(`${K8S}/deployment.yaml`)).toContain('image: ${IMAGE}');
    // The image's ENTRYPOINT is the CLI; a `command` would replace it.
    expect(DOCKERFILE).toMatch(/ENTRYPOINT \["node", "dist\/src\/cli\.js"\]/);
    expect(worker.command).toBeUndefined();
    expect(worker.args?.[0]).toBe('worker');
  });

  it('opens the admin port the app listens on', () => {
    expect(ADMIN_PORT).toBe(9464);
    expect(DOCKERFILE).toContain(`EXPOSE ${ADMIN_PORT}`);
    expect(worker.ports?.map((port) => port.containerPort)).toEqual([ADMIN_PORT]);
    const env = containerEnv(worker.env ?? [], []);
    if (env.ADMIN_PORT !== undefined) expect(Number(env.ADMIN_PORT)).toBe(ADMIN_PORT);
  });

  it('probes /healthz on the admin port, and restarts a worker only after a Redis failover would be over', () => {
    for (const [kind, probe] of [['startup', worker.startupProbe], ['readiness', worker.readinessProbe], ['liveness', worker.livenessProbe]] as const) {
      expect(probe?.httpGet?.path, `${kind} probe`).toBe('/healthz');
      expect(containerPort(probe?.httpGet?.port ?? -1), `${kind} probe port`).toBe(ADMIN_PORT);
    }
    // /healthz is 503 while Redis does not answer; the worker reconnects by itself.
    const liveness = worker.livenessProbe ?? {};
    expect((liveness.periodSeconds ?? 10) * (liveness.failureThreshold ?? 3)).toBeGreaterThanOrEqual(60);
  });

  it(`gives a stopping worker at least ${SEAL_FLOOR_S} s to seal its files and hand its jobs back`, () => {
    expect(SEAL_FLOOR_S).toBeGreaterThan(0);
    expect(pod.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(SEAL_FLOOR_S);
  });

  it('runs as a non-root user, on a read-only root filesystem, without privileges', () => {
    expect(pod.securityContext?.runAsNonRoot).toBe(true);
    // The image's USER is `node`, a name: the kubelet can only check runAsNonRoot with a number.
    expect(pod.securityContext?.runAsUser).toBeGreaterThan(0);
    expect(worker.securityContext?.readOnlyRootFilesystem).toBe(true);
    expect(worker.securityContext?.allowPrivilegeEscalation).toBe(false);
    expect(worker.securityContext?.capabilities?.drop).toContain('ALL');
  });

  it('sets only variables the app reads, with values it accepts', () => {
    const names = (worker.env ?? []).map((variable) => variable.name);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(CONFIG_VARIABLES.has(name) || name in NOT_APP_CONFIG, `${name} is not read by src/config/app-config.ts`).toBe(true);
    const secrets = (worker.env ?? []).filter((variable) => variable.valueFrom?.secretKeyRef).map((variable) => variable.name);
    const config = loadConfig(containerEnv(worker.env ?? [], secrets));
    expect(config.adminHost).toBe('0.0.0.0');
    expect(config.awsAccountId).toBe(SAMPLE.ACCOUNT_ID);
  });

  it('takes ADMIN_TOKEN, PSEUDONYMIZATION_KEY and REDIS_URL from a Secret', () => {
    const fromSecret = new Map((worker.env ?? []).map((variable) => [variable.name, variable.valueFrom?.secretKeyRef]));
    for (const name of ['ADMIN_TOKEN', 'PSEUDONYMIZATION_KEY', 'REDIS_URL']) {
      expect(fromSecret.get(name), name).toMatchObject({ name: 'cognito-export', key: name });
    }
  });

  it('caps the heap as the Dockerfile does, within memory sized for the measured RSS', () => {
    expect(DOCKERFILE_NODE_OPTIONS).toBe('--max-old-space-size=160');
    expect(containerEnv(worker.env ?? [], []).NODE_OPTIONS).toBe(DOCKERFILE_NODE_OPTIONS);
    expect(mebibytes(worker.resources?.requests?.memory)).toBeGreaterThanOrEqual(PEAK_RSS_MIB * 1.5);
    expect(mebibytes(worker.resources?.limits?.memory)).toBeGreaterThanOrEqual(PEAK_RSS_MIB * 3);
  });

  it('mounts the schedules file the worker is started with', () => {
    const config = worker.args?.[worker.args.indexOf('--config') + 1] ?? '';
    const mount = worker.volumeMounts?.find((candidate) => config.startsWith(`${candidate.mountPath}/`));
    expect(mount, `no volume mounted at ${config}`).toBeDefined();
    const volume = pod.volumes?.find((candidate) => candidate.name === mount?.name);
    expect(volume?.configMap?.name).toBe(configMap.metadata.name);
    const text = configMap.data[config.slice((mount?.mountPath.length ?? 0) + 1)];
    expect(text, `ConfigMap ${configMap.metadata.name} has no ${config}`).toBeDefined();
    const schedules = parseExportConfig(text ?? '', { source: 'configmap.yaml', env: {} });
    expect(schedules.pools.length).toBeGreaterThan(0);
    // Every destination is one the IAM policy lets the worker write to.
    for (const pool of schedules.pools) {
      const match = /^s3:\/\/([^/]+)\/(.+)$/.exec(pool.destination);
      expect(match, pool.destination).not.toBeNull();
      const object = `arn:aws:s3:::${match?.[1]}/${match?.[2]}/part.ndjson.gz`;
      expect(grants(workerPolicy, 's3:PutObject').some((resource) => matchesArn(resource, object)), `the policy does not cover ${pool.destination}`).toBe(true);
      expect(grants(workerPolicy, 'cognito-idp:ListUsers').some((resource) => resource.endsWith(`/${pool.userPoolId}`) || resource.endsWith('/*'))).toBe(true);
    }
  });

  it('uses the IRSA role whose trust policy names this service account', () => {
    expect(pod.serviceAccountName).toBe(serviceAccount.metadata.name);
    expect(serviceAccount.metadata.annotations?.['eks.amazonaws.com/role-arn']).toBe(taskDefinition.taskRoleArn);
    const trust = file<Policy>('deploy/iam/irsa-trust-policy.json');
    const condition = trust.Statement[0]?.Condition?.StringEquals ?? {};
    expect(condition[`${SAMPLE.OIDC_PROVIDER}:sub`]).toBe(`system:serviceaccount:${kustomization.namespace}:${serviceAccount.metadata.name}`);
    expect(condition[`${SAMPLE.OIDC_PROVIDER}:aud`]).toBe('sts.amazonaws.com');
    expect(list(trust.Statement[0]?.Action ?? [])).toEqual(['sts:AssumeRoleWithWebIdentity']);
  });

  it('selects the Deployment\'s pods from the PodDisruptionBudget, the Service and the NetworkPolicy', () => {
    expect(selects(deployment.spec.selector.matchLabels, podLabels)).toBe(true);
    expect(pdb.spec.selector.matchLabels).toEqual(deployment.spec.selector.matchLabels);
    // With one worker a drain could never proceed; with two, one keeps working.
    expect(deployment.spec.replicas).toBeGreaterThanOrEqual(2);
    expect(pdb.spec.minAvailable ?? (deployment.spec.replicas ?? 1) - (pdb.spec.maxUnavailable ?? 0)).toBeLessThan(deployment.spec.replicas ?? 1);
    expect(selects(service.spec.selector, podLabels)).toBe(true);
    expect(selects(networkPolicy.spec.podSelector.matchLabels, podLabels)).toBe(true);
    for (const rule of networkPolicy.spec.ingress) for (const port of rule.ports) expect(containerPort(port.port)).toBe(ADMIN_PORT);
  });

  it('scrapes /metrics through the Service port the ServiceMonitor names', () => {
    expect(selects(serviceMonitor.spec.selector.matchLabels, service.metadata.labels ?? {})).toBe(true);
    const names = service.spec.ports.map((port) => port.name);
    for (const endpoint of serviceMonitor.spec.endpoints) {
      expect(names).toContain(endpoint.port);
      expect(endpoint.path).toBe('/metrics');
      const port = service.spec.ports.find((candidate) => candidate.name === endpoint.port);
      expect(containerPort(port?.targetPort ?? -1)).toBe(ADMIN_PORT);
    }
  });
});

describe('ECS (deploy/ecs/task-definition.json)', () => {
  it('is a Fargate task with its own task role and execution role', () => {
    expect(taskDefinition.requiresCompatibilities).toEqual(['FARGATE']);
    expect(taskDefinition.networkMode).toBe('awsvpc');
    expect(taskDefinition.taskRoleArn).toMatch(/^arn:aws:iam::\d{12}:role\/.+$/);
    expect(taskDefinition.executionRoleArn).toMatch(/^arn:aws:iam::\d{12}:role\/.+$/);
    expect(taskDefinition.executionRoleArn).not.toBe(taskDefinition.taskRoleArn);
    expect(taskDefinition.containerDefinitions).toHaveLength(1);
    expect(ecsWorker.image).toBe(SAMPLE.IMAGE);
    expect(ecsWorker.essential).toBe(true);
    expect(ecsWorker.command[0]).toBe('worker');
  });

  it(`stops a worker no sooner than ${SEAL_FLOOR_S} s after SIGTERM, within what Fargate allows`, () => {
    expect(ecsWorker.stopTimeout).toBeGreaterThanOrEqual(SEAL_FLOOR_S);
    expect(ecsWorker.stopTimeout).toBeLessThanOrEqual(ECS_MAX_STOP_TIMEOUT_S);
  });

  it('maps the admin port and sets only variables the app reads, with values it accepts', () => {
    expect(ecsWorker.portMappings.map((port) => port.containerPort)).toEqual([ADMIN_PORT]);
    const names = [...ecsWorker.environment.map((variable) => variable.name), ...ecsWorker.secrets.map((secret) => secret.name)];
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) expect(CONFIG_VARIABLES.has(name) || name in NOT_APP_CONFIG, `${name} is not read by src/config/app-config.ts`).toBe(true);
    const config = loadConfig(containerEnv(ecsWorker.environment, ecsWorker.secrets.map((secret) => secret.name)));
    expect(config.adminPort).toBe(ADMIN_PORT);
    expect(config.adminToken).toBe(SECRET_VALUES.ADMIN_TOKEN);
  });

  it('takes ADMIN_TOKEN, PSEUDONYMIZATION_KEY and REDIS_URL from Secrets Manager or SSM, readable by the execution role', () => {
    expect(ecsWorker.secrets.map((secret) => secret.name).sort()).toEqual(['ADMIN_TOKEN', 'PSEUDONYMIZATION_KEY', 'REDIS_URL']);
    const execution = file<Policy>('deploy/iam/ecs-execution-policy.json');
    for (const secret of ecsWorker.secrets) {
      const service = /^arn:aws:(secretsmanager|ssm):/.exec(secret.valueFrom)?.[1];
      expect(service, `${secret.name}: ${secret.valueFrom}`).toBeDefined();
      // A Secrets Manager reference may name a JSON key after the ARN (`arn:…:secret:name-AbCdEf:KEY::`).
      const arn = service === 'secretsmanager' ? secret.valueFrom.split(':').slice(0, 7).join(':') : secret.valueFrom;
      const action = service === 'secretsmanager' ? 'secretsmanager:GetSecretValue' : 'ssm:GetParameters';
      expect(grants(execution, action).some((resource) => matchesArn(resource, arn)), `the execution role cannot read ${secret.name}`).toBe(true);
    }
  });

  it('checks /healthz on ADMIN_PORT, as the Dockerfile does on its default', async () => {
    const { command } = ecsWorker.healthCheck;
    expect(command[0]).toBe('CMD');
    expect(command.join(' ')).toContain('/healthz');
    expect(command.join(' ')).toContain('process.env.ADMIN_PORT');
    // Run it against a stand-in admin port: 200 is healthy, 503 (Redis unreachable) is not.
    for (const [status, exit] of [[200, 0], [503, 1]] as const) {
      const server = createServer((request, response) => response.writeHead(request.url === '/healthz' ? status : 404).end());
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as AddressInfo;
      const code = await new Promise<number>((resolve) => {
        execFile(process.execPath, command.slice(2), { env: { ADMIN_PORT: String(port) }, timeout: 10_000 }, (error) => resolve(error ? Number(error.code ?? -1) : 0));
      });
      server.close();
      expect(code, `health check against a /healthz answering ${status}`).toBe(exit);
    }
    expect(command[1]).toBe('node');
    const { interval, retries, timeout } = ecsWorker.healthCheck;
    // /healthz waits up to 2 s for Redis; a failover must not get the task replaced.
    expect(timeout).toBeGreaterThan(2);
    expect(interval * retries).toBeGreaterThanOrEqual(60);
  });

  it('logs to CloudWatch, caps the heap as the Dockerfile does, and has memory for the measured RSS', () => {
    expect(ecsWorker.logConfiguration.logDriver).toBe('awslogs');
    expect(ecsWorker.logConfiguration.options['awslogs-group']).toBeTruthy();
    expect(ecsWorker.logConfiguration.options['awslogs-region']).toBe(SAMPLE.REGION);
    expect(ecsWorker.environment.find((variable) => variable.name === 'NODE_OPTIONS')?.value).toBe(DOCKERFILE_NODE_OPTIONS);
    expect(Number(taskDefinition.memory)).toBeGreaterThanOrEqual(PEAK_RSS_MIB * 3);
    expect(ecsWorker.readonlyRootFilesystem).toBe(true);
  });
});

describe('IAM (deploy/iam)', () => {
  it('are IAM policy documents with only Allow statements', () => {
    for (const path of deployFiles.filter((candidate) => candidate.startsWith('deploy/iam/'))) {
      const policy = file<Policy>(path);
      expect(policy.Version, path).toBe('2012-10-17');
      expect(policy.Statement.length, path).toBeGreaterThan(0);
      for (const statement of policy.Statement) expect(statement.Effect, path).toBe('Allow');
    }
  });

  it.each(Object.entries(REQUIRED_ACTIONS))('the worker policy grants %s on the right kind of resource', (action, { on }) => {
    const resources = grants(workerPolicy, action);
    expect(resources.length, `${action} is missing`).toBeGreaterThan(0);
    for (const resource of resources) expect(resource, `${action} on ${resource}`).toMatch(RESOURCE_SHAPE[on]);
  });

  it('grants nothing else, and no wildcard actions', () => {
    const granted = workerPolicy.Statement.flatMap((statement) => list(statement.Action));
    expect([...new Set(granted)].sort()).toEqual(Object.keys(REQUIRED_ACTIONS).sort());
  });

  it('lets S3 alone use the KMS key', () => {
    const statement = workerPolicy.Statement.find((candidate) => list(candidate.Action).some((action) => action.startsWith('kms:')));
    expect([...list(statement?.Action ?? [])].sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    expect(statement?.Condition?.StringEquals?.['kms:ViaService']).toBe(`s3.${SAMPLE.REGION}.amazonaws.com`);
  });

  it('lets only ECS tasks assume the task role', () => {
    const trust = file<Policy>('deploy/iam/ecs-task-trust-policy.json');
    expect(trust.Statement[0]?.Principal).toEqual({ Service: 'ecs-tasks.amazonaws.com' });
    expect(list(trust.Statement[0]?.Action ?? [])).toEqual(['sts:AssumeRole']);
  });
});
