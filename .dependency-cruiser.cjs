/**
 * The import rules of the codebase, checked by dependency-cruiser (`npm run depcheck`, part of
 * `npm run lint`): no cycles, and every folder imports only the folders below it. Type-only
 * imports count too: a type pulled from above is a dependency on above.
 *
 * Layers, lowest first (a folder may import itself and any lower layer; folders on one line are
 * peers and do not import each other):
 */
const LAYERS = [
  ['redis', 'limits'], // the Redis connection and key names; rate limits, retries, what errors mean
  ['cognito', 'storage'], // the two outside services: Cognito page sources; sinks, layout, manifest
  ['walk'], // the table-agnostic shard walk: part files, checkpoints
  ['tables'], // one module per table: its page source and record mapping
  ['changes'], // change tables: the diff of one partition of two snapshots, what changed in a record
  ['warehouse'], // what warehouses see: the tables' columns and types, generated DDL
  ['restore'], // a snapshot back into a user pool: what to write, the restore's own tables
  ['runs'], // what a run is: spec, shards, requests, run state in Redis
  ['ops'], // the operator's surface: metrics, logger, admin HTTP server
  ['config'], // the environment and the config file, validated with the validators below
  ['jobs'], // BullMQ queues and job processors, and the runtime they share
  ['cli'], // the commands
];

const path = (folder) => {
  if (folder === 'jobs') return '^jobs/';
  if (folder === 'cli') return '^src/(cli/|cli\\.ts$)';
  return `^src/${folder}/`;
};

const layering = LAYERS.flatMap((layer, level) =>
  layer.flatMap((folder) => {
    const notAllowed = [
      ...layer.filter((peer) => peer !== folder),
      ...LAYERS.slice(level + 1).flat(),
    ];
    if (notAllowed.length === 0) return [];
    return {
      name: `layering-${folder}`,
      comment: `${folder}/ may import only ${LAYERS.slice(0, level).flat().join(', ') || 'nothing else in the project'}`,
      severity: 'error',
      from: { path: path(folder) },
      to: { path: `(${notAllowed.map(path).join('|')})` },
    };
  }),
);

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      comment: 'Data flows one way through the pipeline: no import cycles, type-only ones included.',
      severity: 'error',
      from: {},
      to: { circular: true },
    },
    ...layering,
    {
      name: 'emulator-stands-alone',
      comment: 'The emulator is a separate program: it shares only the ListUsers filter parser with the product.',
      severity: 'error',
      from: { path: '^src/emulator/' },
      to: { path: '^(src|jobs)/', pathNot: '^src/(emulator/|cognito/cognito-filter\\.ts$)' },
    },
    {
      name: 'product-does-not-need-the-emulator',
      comment: 'Only the commands (emulator, demo) start the emulator; the product never imports it.',
      severity: 'error',
      from: { path: '^(src|jobs)/', pathNot: '^src/(emulator/|cli/|cli\\.ts$)' },
      to: { path: '^src/emulator/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    includeOnly: '^(src|jobs)/',
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
