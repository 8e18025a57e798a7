import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CognitoEmulator, FaultConfigError } from '../../src/emulator/index.js';
import type { PoolSeedOptions } from '../../src/emulator/index.js';
import { FaultInjector, mergeFaults, DEFAULT_FAULTS } from '../../src/emulator/fault-injector.js';
import { AWS_WRITE_QUOTAS, QuotaMeter } from '../../src/emulator/quota-meter.js';
import type { QuotaRates } from '../../src/emulator/quota-meter.js';
import { RandomSource } from '../../src/emulator/random-source.js';
import { StoredUser } from '../../src/emulator/stored-user.js';
import { UserPool } from '../../src/emulator/user-pool.js';
import { DEFAULT_PASSWORD_POLICY, passwordProblem, UserPoolSchema } from '../../src/emulator/user-pool-schema.js';
import { assertSeedOptions, seedUsers } from '../../src/emulator/user-seeder.js';
import { WriteRecorder } from '../../src/emulator/write-recorder.js';

function fakeClock(): { now: () => number; advance: (ms: number) => void } {
  let t = 5000;
  return { now: () => t, advance: (ms) => (t += ms) };
}

const READS_OFF: QuotaRates = { userListRps: null, resourceReadRps: 20, resourceReadPoolRps: 5 };
const WRITES_ON: QuotaRates = { ...READS_OFF, write: AWS_WRITE_QUOTAS };

function accepted(meter: QuotaMeter, attempts: number, operation: string, account: string, pool: string | null): number {
  let n = 0;
  for (let i = 0; i < attempts; i++) if (meter.tryTake(operation, account, pool)) n++;
  return n;
}

describe('the write quotas of the quota meter', () => {
  it('are off unless rates are given, whatever the read quotas', () => {
    for (const rates of [READS_OFF, { ...READS_OFF, write: null }, { ...READS_OFF, userListRps: 30 }]) {
      const meter = new QuotaMeter(rates, fakeClock().now);
      expect(accepted(meter, 500, 'AdminCreateUser', 'a', 'p')).toBe(500);
      expect(accepted(meter, 500, 'CreateGroup', 'a', 'p')).toBe(500);
    }
  });

  it('put each operation in its Cognito category', () => {
    expect(QuotaMeter.category('AdminCreateUser')).toBe('UserCreation');
    for (const op of ['AdminUpdateUserAttributes', 'AdminDeleteUserAttributes', 'AdminDeleteUser', 'AdminDisableUser', 'AdminEnableUser', 'AdminLinkProviderForUser']) {
      expect(QuotaMeter.category(op)).toBe('UserUpdate');
    }
    expect(QuotaMeter.category('AdminAddUserToGroup')).toBe('UserResourceUpdate');
    expect(QuotaMeter.category('AdminRemoveUserFromGroup')).toBe('UserResourceUpdate');
    for (const op of ['CreateGroup', 'UpdateGroup', 'DeleteGroup']) expect(QuotaMeter.category(op)).toBe('UserPoolResourceUpdate');
    expect(QuotaMeter.category('CreateUserPool')).toBe('UserPoolUpdate');
    expect(QuotaMeter.category('AdminGetUser')).toBeUndefined();
    // throttleRate keeps to the reads it always applied to.
    expect(QuotaMeter.meters('AdminCreateUser')).toBe(false);
    expect(QuotaMeter.meters('ListUsers')).toBe(true);
  });

  it('hold AdminCreateUser to 50 per account and second, each account on its own', () => {
    const clock = fakeClock();
    const meter = new QuotaMeter(WRITES_ON, clock.now);
    expect(accepted(meter, 200, 'AdminCreateUser', 'a', 'p1')).toBe(50);
    expect(accepted(meter, 200, 'AdminCreateUser', 'b', 'p2')).toBe(50);
    clock.advance(100);
    expect(accepted(meter, 200, 'AdminCreateUser', 'a', 'p1')).toBe(5);
  });

  it('share one UserUpdate bucket of 25 between the user-update operations, across pools', () => {
    const meter = new QuotaMeter(WRITES_ON, fakeClock().now);
    const n = accepted(meter, 10, 'AdminUpdateUserAttributes', 'a', 'p1') + accepted(meter, 10, 'AdminDisableUser', 'a', 'p2') + accepted(meter, 10, 'AdminLinkProviderForUser', 'a', 'p3');
    expect(n).toBe(25);
    // Another category is another bucket.
    expect(accepted(meter, 100, 'AdminAddUserToGroup', 'a', 'p1')).toBe(25);
    expect(accepted(meter, 100, 'AdminCreateUser', 'a', 'p1')).toBe(50);
  });

  it('hold each group operation to 5 per pool, and the account to 15 across pools', () => {
    const clock = fakeClock();
    const meter = new QuotaMeter(WRITES_ON, clock.now);
    expect(accepted(meter, 20, 'CreateGroup', 'a', 'p1')).toBe(5);
    expect(accepted(meter, 20, 'DeleteGroup', 'a', 'p1')).toBe(5); // per operation
    expect(accepted(meter, 20, 'CreateGroup', 'a', 'p2')).toBe(5);
    expect(accepted(meter, 20, 'CreateGroup', 'a', 'p3')).toBe(0); // the account's 15 are spent
    // A call the account refused cost its pool nothing: p3 still has its 5 once the account refills.
    clock.advance(1000);
    expect(accepted(meter, 20, 'CreateGroup', 'a', 'p3')).toBe(5);
  });

  it('leave a category set to null unmetered', () => {
    const meter = new QuotaMeter({ ...READS_OFF, write: { ...AWS_WRITE_QUOTAS, UserCreation: null, UserPoolResourceUpdatePerPool: null } }, fakeClock().now);
    expect(accepted(meter, 500, 'AdminCreateUser', 'a', 'p')).toBe(500);
    expect(accepted(meter, 20, 'CreateGroup', 'a', 'p')).toBe(15);
  });
});

describe('the writeQuotas setting', () => {
  it('is off by default, and an object turns it on with AWS rates for what it leaves out', () => {
    expect(DEFAULT_FAULTS.writeQuotas).toBeNull();
    expect(mergeFaults(DEFAULT_FAULTS, { writeQuotas: {} }).writeQuotas).toEqual(AWS_WRITE_QUOTAS);
    expect(AWS_WRITE_QUOTAS).toEqual({ UserCreation: 50, UserUpdate: 25, UserResourceUpdate: 25, UserPoolUpdate: 15, UserPoolResourceUpdate: 15, UserPoolResourceUpdatePerPool: 5 });
    const some = mergeFaults(DEFAULT_FAULTS, { writeQuotas: { UserCreation: 10, UserUpdate: null } });
    expect(some.writeQuotas).toEqual({ ...AWS_WRITE_QUOTAS, UserCreation: 10, UserUpdate: null });
    // A new object replaces the old one; null turns it off.
    expect(mergeFaults(some, { writeQuotas: { UserUpdate: 3 } }).writeQuotas).toEqual({ ...AWS_WRITE_QUOTAS, UserUpdate: 3 });
    expect(mergeFaults(some, { writeQuotas: null }).writeQuotas).toBeNull();
    expect(mergeFaults(some, { latencyMs: 1 }).writeQuotas).toEqual(some.writeQuotas);
  });

  it('refuses unknown categories and rates that are not positive', () => {
    expect(() => mergeFaults(DEFAULT_FAULTS, { writeQuotas: { UserWrite: 5 } })).toThrow(FaultConfigError);
    expect(() => mergeFaults(DEFAULT_FAULTS, { writeQuotas: { UserCreation: 0 } })).toThrow(/writeQuotas\.UserCreation/);
  });

  it('reaches the meter as full rates', () => {
    const faults = new FaultInjector({ writeQuotas: { UserCreation: 7 } }, new RandomSource(1));
    expect(faults.quotaRates.write).toEqual({ ...AWS_WRITE_QUOTAS, UserCreation: 7 });
    expect(new FaultInjector({}, new RandomSource(1)).quotaRates.write).toBeNull();
  });
});

describe('the default password policy', () => {
  const problem = (password: string): string | undefined => passwordProblem(password, DEFAULT_PASSWORD_POLICY)?.message;

  it("answers each rule's breach with Cognito's message", () => {
    expect(passwordProblem('Short1!', DEFAULT_PASSWORD_POLICY)).toMatchObject({ code: 'InvalidPasswordException' });
    expect(problem('Short1!')).toBe('Password does not conform to policy: Password not long enough');
    expect(problem('NOLOWER1!')).toBe('Password does not conform to policy: Password must have lowercase characters');
    expect(problem('noupper1!')).toBe('Password does not conform to policy: Password must have uppercase characters');
    expect(problem('NoDigits!')).toBe('Password does not conform to policy: Password must have numeric characters');
    expect(problem('NoSymbol12')).toBe('Password does not conform to policy: Password must have symbol characters');
    expect(problem('Good pass1')).toBeUndefined(); // an inner space is a symbol
    expect(problem(' Goodpass1')).toBe('Password does not conform to policy: Password must have symbol characters');
    expect(problem('Abcdef1^')).toBeUndefined();
  });

  it('follows a policy that asks for less', () => {
    expect(passwordProblem('abcdef', { minimumLength: 6, requireUppercase: false, requireLowercase: true, requireNumbers: false, requireSymbols: false })).toBeNull();
  });
});

describe('a pool schema', () => {
  const user = (attributes: string[]): StoredUser => new StoredUser('s', 'u', true, 'CONFIRMED', 0, 0, attributes, null);

  it('undeclared, knows the standard attributes and the custom ones its users have held', () => {
    const schema = new UserPoolSchema();
    const users = [user(['email', 'a@b', 'custom:tenant', 'x'])];
    expect(schema.isDeclared).toBe(false);
    expect(schema.knows('email_verified', () => users)).toBe(true);
    expect(schema.knows('custom:tenant', () => users)).toBe(true);
    expect(schema.knows('custom:x', () => users)).toBe(false);
    expect(schema.knows('nonsense', () => users)).toBe(false);
    schema.learn('custom:x');
    expect(schema.knows('custom:x', () => [])).toBe(true);
    // Held once is known for good, as AWS never drops a schema attribute.
    users.length = 0;
    expect(schema.knows('custom:tenant', () => users)).toBe(true);
  });

  it('declared, knows exactly its declarations, prefixed or not', () => {
    const schema = new UserPoolSchema(['tenant', { name: 'custom:plan', type: 'Number', mutable: false }]);
    const users = [user(['custom:other', '1'])];
    expect(schema.isDeclared).toBe(true);
    expect(schema.knows('custom:tenant', () => users)).toBe(true);
    expect(schema.knows('custom:other', () => users)).toBe(false);
    expect(schema.definition('custom:plan')).toEqual({ name: 'custom:plan', type: 'Number', mutable: false });
    expect(new UserPoolSchema([]).isDeclared).toBe(true);
  });
});

describe('the write recorder', () => {
  it('counts changing and unchanging writes by operation and pool, and messages by pool', () => {
    const recorder = new WriteRecorder();
    recorder.forOperation('AdminAddUserToGroup').wrote('p1', true);
    recorder.forOperation('AdminAddUserToGroup').wrote('p1', false);
    recorder.forOperation('AdminCreateUser').message('p2', 'EMAIL');
    expect(recorder.snapshot()).toEqual({
      changed: { AdminAddUserToGroup: 1 },
      unchanged: { AdminAddUserToGroup: 1 },
      pools: {
        p1: { changed: { AdminAddUserToGroup: 1 }, unchanged: { AdminAddUserToGroup: 1 }, messages: { EMAIL: 0, SMS: 0 } },
        p2: { changed: {}, unchanged: {}, messages: { EMAIL: 1, SMS: 0 } },
      },
    });
    recorder.reset();
    expect(recorder.snapshot()).toEqual({ changed: {}, unchanged: {}, pools: {} });
  });
});

describe('seeding federated and unconfirmed users', () => {
  // Fingerprints of what these seeds gave before federatedShare and unconfirmedShare existed.
  const BEFORE: [PoolSeedOptions, string][] = [
    [{ users: 3000, seed: 1 }, '9a4c9f4d66929d636a4367f54c5109d7b009653b8597698e355f6257cd3756f6'],
    [{ users: 2000, seed: 7, subSkew: 0.5, groups: 40 }, 'dbdac368e9c89ff257de6cb2a0cf79af5800d7cec75931cd07b2af4b00c7e31d'],
    [{ users: 500, seed: 3, groups: 120, bigGroupShare: 0.3, tailShare: 2 }, '6fb501a78ed9f7d5b5e8a013d7e80597f47854c1552ee327d3acac72bd33289f'],
  ];

  it('gives, without the new options, the very users and groups existing seeds gave', async () => {
    const emulator = await CognitoEmulator.start({ randomSeed: 5 });
    try {
      for (const [options, fingerprint] of BEFORE) {
        const id = emulator.createPoolWithUsers(options);
        const groups = emulator.listAllGroups(id);
        const members = groups.map((g) => [g.GroupName, emulator.listAllMembers(id, g.GroupName!).map((u) => u.Username)]);
        const json = JSON.stringify([emulator.listAllUsers(id), groups.map((g) => ({ ...g, UserPoolId: undefined })), members]);
        expect(createHash('sha256').update(json).digest('hex')).toBe(fingerprint);
      }
    } finally {
      await emulator.stop();
    }
  });

  function seeded(options: { federatedShare?: number; unconfirmedShare?: number }): UserPool {
    const pool = new UserPool('us-east-1_test12345', 'test', 0);
    seedUsers(pool, { users: 4000, seed: 9, ...options });
    return pool;
  }

  it('makes federatedShare of the users EXTERNAL_PROVIDER users with a provider-prefixed username and an identities attribute', () => {
    const users = seeded({ federatedShare: 0.6 }).users;
    const federated = users.filter((u) => u.status === 'EXTERNAL_PROVIDER');
    expect(federated.length / users.length).toBeGreaterThan(0.57);
    expect(federated.length / users.length).toBeLessThan(0.63);
    for (const user of federated) {
      const [identity] = JSON.parse(user.attribute('identities')!) as { providerName: string; userId: string }[];
      // A username already taken gets a digit appended, as the seeder always did.
      expect(user.username.startsWith(`${identity!.providerName}_${identity!.userId}`)).toBe(true);
    }
    expect(new Set(federated.map((u) => u.username.split('_')[0]))).toEqual(new Set(['Google', 'Facebook', 'SignInWithApple', 'LoginWithAmazon', 'OktaSAML']));
    expect(seeded({ federatedShare: 0 }).users.some((u) => u.status === 'EXTERNAL_PROVIDER' || u.attribute('identities') !== undefined)).toBe(false);
    expect(seeded({ federatedShare: 1 }).users.every((u) => u.status === 'EXTERNAL_PROVIDER')).toBe(true);
  });

  it('makes unconfirmedShare of the native users UNCONFIRMED, keeping the other statuses', () => {
    const users = seeded({ unconfirmedShare: 0.5 }).users;
    const native = users.filter((u) => u.status !== 'EXTERNAL_PROVIDER');
    const share = native.filter((u) => u.status === 'UNCONFIRMED').length / native.length;
    expect(share).toBeGreaterThan(0.46);
    expect(share).toBeLessThan(0.54);
    expect(new Set(native.map((u) => u.status))).toEqual(new Set(['UNCONFIRMED', 'CONFIRMED', 'FORCE_CHANGE_PASSWORD', 'RESET_REQUIRED']));
    expect(seeded({ unconfirmedShare: 0 }).users.some((u) => u.status === 'UNCONFIRMED')).toBe(false);
  });

  it('is deterministic with the new options, and refuses shares outside 0..1', () => {
    expect(seeded({ federatedShare: 0.3, unconfirmedShare: 0.2 }).users.map((u) => u.toSdk())).toEqual(
      seeded({ federatedShare: 0.3, unconfirmedShare: 0.2 }).users.map((u) => u.toSdk()),
    );
    expect(() => assertSeedOptions({ users: 1, federatedShare: 1.5 })).toThrow('Expected `federatedShare` to be a number from 0 to 1, got `1.5`');
    expect(() => assertSeedOptions({ users: 1, unconfirmedShare: -0.1 })).toThrow(RangeError);
  });
});
