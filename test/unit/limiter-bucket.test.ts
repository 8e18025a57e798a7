import { describe, expect, it } from 'vitest';
import {
  applyBucketEvent,
  DEFAULT_BUCKET,
  throttlesPerMinute,
  waitingTickets,
  type BucketEvent,
  type BucketFields,
  type BucketSettings,
  type SlotReply,
  type ThrottleReply,
} from '../../src/limits/limiter-bucket.js';
import { DEFAULT_CONTROLLER } from '../../src/limits/rate-controller.js';

const settings: BucketSettings = { ...DEFAULT_CONTROLLER, ...DEFAULT_BUCKET, maxRps: 10 };
const T0 = 1_800_000_000_000;

/** A bucket on a fixed clock: `at(ms)` moves it. */
function bucket() {
  const fields: BucketFields = {};
  let now = T0;
  const run = (event: BucketEvent) => applyBucketEvent(fields, settings, now, event);
  return {
    fields,
    at(ms: number) {
      now = T0 + ms;
    },
    acquire: (flow: string, priority?: number) => run({ op: 'acquire', flow, ...(priority === undefined ? {} : { priority }) }) as SlotReply,
    poll: (flow: string, ticket: number, priority?: number) => run({ op: 'poll', flow, ticket, ...(priority === undefined ? {} : { priority }) }) as SlotReply,
    cancel: (flow: string, ticket: number) => run({ op: 'cancel', flow, ticket }) as SlotReply,
    throttle: (sentAt: number) => run({ op: 'throttle', sentAt: T0 + sentAt }) as ThrottleReply,
  };
}

describe('the bucket', () => {
  it('grants the first call at once and the next one slot later, never sooner', () => {
    const b = bucket();
    expect(b.acquire('a').granted).toBe(true);
    const second = b.acquire('a');
    expect(second).toMatchObject({ granted: false, ticket: 2, waitMs: 100 });
    b.at(99);
    expect(b.poll('a', 2).granted).toBe(false);
    b.at(100);
    expect(b.poll('a', 2).granted).toBe(true);
  });

  it('tells a caller deep in the queue about when its turn comes', () => {
    const b = bucket();
    for (let i = 0; i < 5; i++) b.acquire('a');
    // Ticket 5 is granted with the fifth slot: 400 ms after the first.
    expect(b.poll('a', 5).waitMs).toBe(400);
  });

  it('lets slots nobody waits for lapse: no burst after an idle spell', () => {
    const b = bucket();
    b.acquire('a');
    b.at(10_000);
    expect(b.acquire('a').granted).toBe(true);
    expect(b.acquire('a')).toMatchObject({ granted: false, waitMs: 100 });
  });

  it('hands slots to waiting flows in turn, however many callers each has', () => {
    const b = bucket();
    for (let i = 0; i < 6; i++) b.acquire('many');
    // The busy flow got the first slot; the next one goes to the flow that just arrived.
    expect(b.acquire('one')).toMatchObject({ granted: false, waitMs: 100 });
    b.at(100);
    expect(b.poll('one', 1).granted).toBe(true);
    expect(b.poll('many', 2).granted).toBe(false);
    b.at(200);
    expect(b.poll('many', 2).granted).toBe(true);
  });

  it('serves a flow of a higher priority first, and tells each flow its wait accordingly', () => {
    const b = bucket();
    for (let i = 0; i < 4; i++) b.acquire('users'); // the first is granted at once
    // An unsplittable walk arrives: it takes the next slot although the users flow was waiting first.
    expect(b.acquire('members', 1)).toMatchObject({ granted: false, ticket: 1, waitMs: 100 });
    expect(b.acquire('members', 1)).toMatchObject({ granted: false, ticket: 2, waitMs: 200 });
    // The users' second ticket waits behind both of them.
    expect(b.poll('users', 2).waitMs).toBe(300);
    b.at(100);
    expect(b.poll('members', 1, 1).granted).toBe(true);
    expect(b.poll('users', 2).granted).toBe(false);
    b.at(200);
    expect(b.poll('members', 2, 1).granted).toBe(true);
    // Nothing of the higher priority waits: the users flow gets every slot again.
    b.at(300);
    expect(b.poll('users', 2).granted).toBe(true);
    b.at(400);
    expect(b.poll('users', 3).granted).toBe(true);
    expect(b.fields['p:members']).toBe(1);
    expect(b.fields['p:users']).toBe(0);
  });

  it('gives all the slots to a flow alone', () => {
    const b = bucket();
    for (let i = 0; i < 4; i++) b.acquire('many');
    b.at(300);
    expect(b.poll('many', 4).granted).toBe(true);
  });

  it('passes over a cancelled ticket without spending a slot on it', () => {
    const b = bucket();
    for (let i = 0; i < 4; i++) b.acquire('a'); // 1 granted, 2..4 waiting
    b.cancel('a', 2);
    expect(waitingTickets(b.fields, 'a')).toBe(2);
    b.at(100);
    expect(b.poll('a', 3).granted).toBe(true);
    expect(b.fields['x:a:2']).toBeUndefined();
  });

  it('takes back the newest ticket when its caller gives up', () => {
    const b = bucket();
    for (let i = 0; i < 3; i++) b.acquire('a');
    b.cancel('a', 2);
    b.cancel('a', 3);
    expect(b.fields['i:a']).toBe(1);
    expect(b.fields['c:a']).toBe(0);
    expect(b.acquire('a').ticket).toBe(2);
  });

  it('moves the next slot out when a throttle cuts the rate: nothing more goes out at the old rate', () => {
    const b = bucket();
    b.acquire('a');
    b.acquire('a');
    b.at(50);
    const cut = b.throttle(40);
    expect(cut).toMatchObject({ cut: true, rate: 4 });
    // The next slot was 50 ms away at 10/s; at 4/s it is 125 ms away.
    expect(b.fields.next).toBeCloseTo(T0 + 175, 6);
    b.at(174);
    expect(b.poll('a', 2).granted).toBe(false);
    b.at(175);
    expect(b.poll('a', 2).granted).toBe(true);
  });

  it('counts throttles over the last minute, old ones fading out', () => {
    const b = bucket();
    const minuteStart = Math.ceil(T0 / 60_000) * 60_000 - T0;
    b.at(minuteStart + 1_000);
    b.throttle(minuteStart);
    b.throttle(minuteStart - 10_000);
    expect(throttlesPerMinute(b.fields, T0 + minuteStart + 1_000)).toBe(2);
    // Half way through the next minute, half of the last minute's count.
    expect(throttlesPerMinute(b.fields, T0 + minuteStart + 90_000)).toBeCloseTo(1, 6);
    expect(throttlesPerMinute(b.fields, T0 + minuteStart + 130_000)).toBe(0);
  });

  it('forgets a flow a minute after it last asked, and gives a ticket it no longer knows a fresh one', () => {
    const b = bucket();
    b.acquire('old');
    b.at(61_000);
    b.acquire('new');
    expect(b.fields['i:old']).toBeUndefined();
    const reply = b.poll('old', 7);
    expect(reply.ticket).toBe(1);
  });
});
