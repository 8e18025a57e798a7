import { describe, expect, it } from 'vitest';
import { AssumeRoleDenied, CredentialIssuer, rootPrincipal } from '../../src/emulator/credential-issuer.js';
import { RandomSource } from '../../src/emulator/random-source.js';

const NOW = Date.UTC(2025, 0, 2, 3, 4, 5, 678);
const ROLE = 'arn:aws:iam::111111111111:role/exporter';

function issuer(): CredentialIssuer {
  const i = new CredentialIssuer('000000000000', new RandomSource(1));
  i.createRole({ roleArn: ROLE });
  i.createRole({ roleArn: 'arn:aws:iam::222222222222:role/team/guarded', externalId: 'ext-123' });
  return i;
}

describe('the credential issuer', () => {
  it('puts static keys and unsigned requests in the default account, as its root', () => {
    const i = issuer();
    expect(i.authenticate('AKIDEXAMPLE', null, NOW, null)).toEqual({ kind: 'ok', principal: rootPrincipal('000000000000') });
    expect(i.authenticate(null, null, NOW, null)).toEqual({ kind: 'ok', principal: { account: '000000000000', arn: 'arn:aws:iam::000000000000:root', userId: '000000000000' } });
  });

  it('refuses static keys off the allow list, and unsigned requests while there is one', () => {
    const i = issuer();
    expect(i.authenticate('other', null, NOW, ['allowed']).kind).toBe('invalid');
    expect(i.authenticate('allowed', null, NOW, ['allowed']).kind).toBe('ok');
    expect(i.authenticate(null, null, NOW, ['allowed']).kind).toBe('missing');
  });

  it('issues ASIA keys for a registered role that belong to the role\'s account', () => {
    const i = issuer();
    const issued = i.assumeRole(ROLE, 'nightly', null, 3600, NOW);
    expect(issued.accessKeyId).toMatch(/^ASIA[A-Z2-7]{16}$/);
    expect(issued.secretAccessKey).toHaveLength(40);
    expect(issued.assumedRoleArn).toBe('arn:aws:sts::111111111111:assumed-role/exporter/nightly');
    expect(issued.assumedRoleId).toMatch(/^AROA[A-Z2-7]{17}:nightly$/);
    expect(issued.expiresAtMs).toBe(Date.UTC(2025, 0, 2, 4, 4, 6));
    expect(i.authenticate(issued.accessKeyId, issued.sessionToken, NOW, null)).toEqual({
      kind: 'ok',
      principal: { account: '111111111111', arn: issued.assumedRoleArn, userId: issued.assumedRoleId },
    });
  });

  it('accepts issued keys only with their own session token, and only before they expire', () => {
    const i = issuer();
    const issued = i.assumeRole(ROLE, 's1', null, 900, NOW);
    const other = i.assumeRole(ROLE, 's2', null, 900, NOW);
    expect(i.authenticate(issued.accessKeyId, null, NOW, null).kind).toBe('invalid');
    expect(i.authenticate(issued.accessKeyId, other.sessionToken, NOW, null).kind).toBe('invalid');
    expect(i.authenticate(issued.accessKeyId, issued.sessionToken, issued.expiresAtMs - 1, null).kind).toBe('ok');
    expect(i.authenticate(issued.accessKeyId, issued.sessionToken, issued.expiresAtMs, null).kind).toBe('expired');
    // Issued keys work even while static keys are restricted; a token with a key nobody issued does not.
    expect(i.authenticate(issued.accessKeyId, issued.sessionToken, NOW, ['only-this']).kind).toBe('ok');
    expect(i.authenticate('ASIAUNKNOWN', issued.sessionToken, NOW, null).kind).toBe('invalid');
  });

  it('denies an unregistered role, and a missing or wrong ExternalId where the role requires one', () => {
    const i = issuer();
    expect(() => i.assumeRole('arn:aws:iam::111111111111:role/nope', 's', null, 900, NOW)).toThrow(AssumeRoleDenied);
    expect(() => i.assumeRole('arn:aws:iam::222222222222:role/team/guarded', 's', null, 900, NOW)).toThrow(AssumeRoleDenied);
    expect(() => i.assumeRole('arn:aws:iam::222222222222:role/team/guarded', 's', 'ext-12', 900, NOW)).toThrow(AssumeRoleDenied);
    const ok = i.assumeRole('arn:aws:iam::222222222222:role/team/guarded', 's', 'ext-123', 900, NOW);
    expect(ok.assumedRoleArn).toBe('arn:aws:sts::222222222222:assumed-role/guarded/s');
    // A role without an ExternalId condition ignores one that is sent.
    expect(i.assumeRole(ROLE, 's', 'anything', 900, NOW).assumedRoleArn).toContain('111111111111');
  });

  it('keeps a role\'s id when the role is registered again, and lists roles', () => {
    const i = issuer();
    const before = i.roles().find((r) => r.roleArn === ROLE)!;
    const again = i.createRole({ roleArn: ROLE, externalId: 'now-required' });
    expect(again).toEqual({ ...before, externalIdRequired: true });
    expect(i.roles().map((r) => r.account)).toEqual(['111111111111', '222222222222']);
  });

  it('refuses malformed role ARNs, external ids and account ids', () => {
    const i = issuer();
    expect(() => i.createRole({ roleArn: 'arn:aws:iam::1111:role/x' })).toThrow(RangeError);
    expect(() => i.createRole({ roleArn: 'arn:aws:iam::111111111111:user/x' })).toThrow(RangeError);
    expect(() => i.createRole({ roleArn: ROLE, externalId: 'a b' })).toThrow(RangeError);
    expect(() => new CredentialIssuer('12', new RandomSource(1))).toThrow(RangeError);
  });

  it('issues the same credentials from the same seed', () => {
    expect(issuer().assumeRole(ROLE, 's', null, 900, NOW)).toEqual(issuer().assumeRole(ROLE, 's', null, 900, NOW));
  });
});
