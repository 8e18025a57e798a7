import { MAX_GROUPS_PER_POOL, MAX_GROUPS_PER_USER } from './group-directory.js';
import { RandomSource } from './random-source.js';
import { StoredGroup } from './stored-group.js';
import type { StoredUser } from './stored-user.js';
import type { UserPool } from './user-pool.js';

// Shares that give about one membership per user: most users in one big group, the rest spread over a long tail.
const BIG_GROUP_SHARE = 0.6;
const TAIL_SHARE = 0.4;

/** What to seed into a pool's groups. */
export interface GroupSeedOptions {
  /** How many groups to add, 0 to 10,000 (Cognito's limit per pool, existing groups included). */
  groups: number;
  /** Same seed (and same pool contents before) → same groups and memberships. @default 1 */
  seed?: number;
  /** Share of the users (power users aside) in the big group, `everyone`, 0 to 1. @default 0.6 */
  bigGroupShare?: number;
  /** Memberships of the long tail of groups, as a share of the users, 0 to 50. @default 0.4 */
  tailShare?: number;
}

/** Throws a RangeError naming the option when a group seed request is out of range for this pool. */
export function assertGroupSeedOptions(options: GroupSeedOptions, existingGroups = 0): void {
  const { groups, seed = 1 } = options;
  const room = MAX_GROUPS_PER_POOL - existingGroups;
  if (!Number.isInteger(groups) || groups < 0 || groups > room) {
    throw new RangeError(`Expected \`groups\` to be an integer from 0 to ${room}, got \`${groups}\``);
  }
  if (!Number.isFinite(seed)) throw new RangeError(`Expected \`seed\` to be a finite number, got \`${seed}\``);
  const { bigGroupShare = BIG_GROUP_SHARE, tailShare = TAIL_SHARE } = options;
  if (!(bigGroupShare >= 0 && bigGroupShare <= 1)) {
    throw new RangeError(`Expected \`bigGroupShare\` to be a number from 0 to 1, got \`${bigGroupShare}\``);
  }
  if (!(tailShare >= 0 && tailShare <= 50)) throw new RangeError(`Expected \`tailShare\` to be a number from 0 to 50, got \`${tailShare}\``);
}

// Names that put every character an exporter must survive into a group name: / \ : * ? " = % and
// unicode. No spaces: Cognito's pattern for group names ([\p{L}\p{M}\p{S}\p{N}\p{P}]+) refuses them.
const SPECIAL_NAMES = [
  'admins', 'tenant/acme', 'CORP\\finance', 'role:reader', 'wild*card', 'why?', 'say"hi"', 'a=b', '100%',
  'Ünïcödé-Gruppe', 'グループ', 'Σύνολο', '🚀-launch', 'ops/on-call:primary', '"quoted"', 'C:\\Users\\*.*',
];
const WORDS = ['alpha', 'beta', 'sales', 'support', 'eng', 'hr', 'legal', 'ops', 'Zürich', 'São-Paulo', '東京', 'Kraków'];
const TEMPLATES: readonly ((word: string, n: number) => string)[] = [
  (w, n) => `team-${w}-${n}`,
  (w, n) => `project/${w}/${n}`,
  (w, n) => `dept\\${w}:${n}`,
  (w, n) => `region=${w}-${n}`,
  (w, n) => `${w}%${n}`,
  (w, n) => `${w}*${n}?`,
  (w, n) => `"${w}"-${n}`,
];
const DESCRIPTIONS: readonly ((name: string) => string)[] = [
  (name) => `Members of ${name}`,
  (name) => `Access for "${name}" — managed by IT`,
  () => 'Line one\nline two',
  () => 'Back\\slash and 100% sure',
  () => 'Ünïcödé description ✓',
  (name) => `Synced from the HR system (${name})`,
];

const CREATED_FROM = Date.UTC(2019, 0, 1);
const CREATED_TO = Date.UTC(2025, 0, 1);
const MODIFIED_TO = Date.UTC(2025, 5, 1);

function withFraction(ms: number): number {
  return ms % 1000 === 0 ? ms + 1 : ms;
}

function groupNames(count: number, rng: RandomSource, taken: (name: string) => boolean): string[] {
  const names: string[] = [];
  const used = new Set<string>();
  for (let i = 0; names.length < count; i++) {
    let name = i === 0 ? 'everyone' : i <= SPECIAL_NAMES.length ? (SPECIAL_NAMES[i - 1] as string) : rng.pick(TEMPLATES)(rng.pick(WORDS), i);
    for (let k = 2; used.has(name) || taken(name); k++) name = `${name.replace(/~\d+$/, '')}~${k}`;
    used.add(name);
    names.push(name);
  }
  return names;
}

/** Index lists of members, one per group, drawn with the skew described on {@link seedGroups}. */
function drawMemberships(users: number, groups: number, rng: RandomSource, shares: { big: number; tail: number }): number[][] {
  const members: number[][] = Array.from({ length: groups }, () => []);
  if (users === 0 || groups === 0) return members;
  // Some groups stay empty, but never so many that the 100-group user has too few groups to be in.
  let empty = groups < 3 ? 0 : Math.max(1, Math.floor(groups / 20));
  if (groups >= MAX_GROUPS_PER_USER) empty = Math.min(empty, groups - MAX_GROUPS_PER_USER);
  const nonEmpty = groups - empty; // groups 0..nonEmpty-1 get members; the rest stay empty
  const counts = new Uint8Array(users);

  // Power users, in many groups: the first in exactly 100 (or every non-empty group when there are fewer).
  const power = Math.min(users, 1 + Math.floor(users / 20_000), 50);
  const order = Array.from({ length: nonEmpty }, (_, g) => g);
  for (let p = 0; p < power; p++) {
    let user: number;
    do user = rng.int(users);
    while (counts[user] !== 0);
    const many = p === 0 ? Math.min(MAX_GROUPS_PER_USER, nonEmpty) : rng.intBetween(Math.min(10, nonEmpty), Math.min(MAX_GROUPS_PER_USER - 1, nonEmpty));
    for (let k = 0; k < many; k++) {
      const j = k + rng.int(nonEmpty - k);
      [order[k], order[j]] = [order[j] as number, order[k] as number];
      (members[order[k] as number] as number[]).push(user);
    }
    counts[user] = MAX_GROUPS_PER_USER; // full: the draws below skip power users
  }

  const big = members[0] as number[];
  for (let user = 0; user < users; user++) {
    if (counts[user] === 0 && rng.chance(shares.big)) {
      big.push(user);
      counts[user] = 1;
    }
  }

  // A long tail: group k of the tail gets a share ∝ 1/(k+1) of the tail memberships (Zipf).
  const tail = nonEmpty - 1;
  let harmonic = 0;
  for (let k = 0; k < tail; k++) harmonic += 1 / (k + 1);
  let available = counts.reduce((n, c) => n + (c < MAX_GROUPS_PER_USER ? 1 : 0), 0);
  const stamp = new Uint16Array(users);
  for (let k = 0; k < tail && available > 0; k++) {
    const group = members[k + 1] as number[];
    const size = Math.min(available, Math.max(1, Math.round((users * shares.tail) / harmonic / (k + 1))));
    const mark = (k % 65_535) + 1;
    const take = (user: number): void => {
      group.push(user);
      stamp[user] = mark;
      if (++(counts[user] as number) === MAX_GROUPS_PER_USER) available--;
    };
    if (size * 2 > available || available * 4 < users) {
      // Dense: selection sampling over the users that still have room (rejection would crawl).
      let needed = size;
      let left = available;
      for (let user = 0; user < users && needed > 0; user++) {
        if ((counts[user] as number) >= MAX_GROUPS_PER_USER || stamp[user] === mark) continue;
        if (rng.int(left--) < needed) {
          take(user);
          needed--;
        }
      }
    } else {
      while (group.length < size) {
        const user = rng.int(users);
        if ((counts[user] as number) < MAX_GROUPS_PER_USER && stamp[user] !== mark) take(user);
      }
    }
  }
  return members;
}

/**
 * Adds `options.groups` deterministic groups to a pool, with memberships skewed as real pools are:
 * one group (`everyone`) holding most users, a long tail of ever smaller groups, a few empty groups,
 * and a few users in many groups — one in exactly 100 (Cognito's limit) when there are 100 groups
 * to be in. Names use every one of `/ \ : * ? " = %` and unicode; most groups have a description,
 * some a RoleArn and a Precedence. About one membership per user in all by default
 * (`bigGroupShare` 0.6 + `tailShare` 0.4); the shares set other shapes.
 */
export function seedGroups(pool: UserPool, options: GroupSeedOptions): void {
  assertGroupSeedOptions(options, pool.groups.size);
  const rng = new RandomSource(options.seed ?? 1).fork();
  const names = groupNames(options.groups, rng, (name) => pool.groups.get(name) !== undefined);
  const users = pool.users;
  const shares = { big: options.bigGroupShare ?? BIG_GROUP_SHARE, tail: options.tailShare ?? TAIL_SHARE };
  const memberships = drawMemberships(users.length, names.length, rng, shares);
  names.forEach((name, g) => {
    const createdMs = withFraction(CREATED_FROM + Math.floor(rng.next() * (CREATED_TO - CREATED_FROM)));
    const modifiedMs = rng.chance(0.5) ? createdMs : withFraction(createdMs + Math.floor(rng.next() * (MODIFIED_TO - createdMs)));
    const description = rng.chance(0.9) ? rng.pick(DESCRIPTIONS)(name) : null;
    const roleArn = rng.chance(0.4) ? `arn:aws:iam::${pool.account}:role/cognito-group-${g}` : null;
    const precedence = rng.chance(0.5) ? rng.int(100) : null;
    const indexes = Uint32Array.from(memberships[g] as number[]).sort();
    // Sized up front: an array grown by pushes keeps up to half again its length in spare slots.
    const members = new Array<StoredUser>(indexes.length);
    for (let k = 0; k < indexes.length; k++) members[k] = users[indexes[k] as number] as StoredUser;
    pool.groups.add(new StoredGroup(name, description, roleArn, precedence, createdMs, modifiedMs, members));
  });
}
