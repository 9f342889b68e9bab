import { describe, expect, it } from 'vitest';
import { basicAuth, MAX_PENDING_VERIFICATIONS } from '../../../src/access/auth/basic/index.js';
import { compileConsumers } from '../../../src/access/consumers.js';
import { hashPassword } from '../../../src/access/secrets.js';

// HTTP Basic against real scrypt hashes: what a caller can learn from how the gateway answers.
const header = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

/** One consumer, acme, whose Basic password is "correct horse" (a real scrypt hash). */
async function acmeConsumers() {
  return compileConsumers([
    {
      id: 'c1',
      name: 'acme',
      tags: [],
      credentials: [
        { id: 'b1', kind: 'basic', username: 'acme', hash: await hashPassword('correct horse'), createdAt: '' },
      ],
      createdAt: '',
      updatedAt: '',
    },
  ]);
}

describe('basic authentication', () => {
  it('checks an unknown username with scrypt like a wrong password, so neither answers at once', async () => {
    const consumers = await acmeConsumers();
    const auth = basicAuth.create({ kind: 'basic' }, 'test');
    const unknown = auth.verify(header('nobody', 'whatever1'), consumers);
    const wrong = auth.verify(header('acme', 'whatever1'), consumers);
    // Both take the slow path (a promise of a scrypt check), never a synchronous refusal.
    expect(unknown).toBeInstanceOf(Promise);
    expect(wrong).toBeInstanceOf(Promise);
    expect(await unknown).toMatchObject({
      ok: false,
      code: 'AUTH_FAILED',
      reason: 'unknown username or wrong password',
    });
    expect(await wrong).toMatchObject({ ok: false, code: 'AUTH_FAILED', reason: 'unknown username or wrong password' });
    // The right password verifies once, and is then answered from the verified cache.
    expect(await auth.verify(header('acme', 'correct horse'), consumers)).toMatchObject({ ok: true });
    expect(auth.verify(header('acme', 'correct horse'), consumers)).toMatchObject({ ok: true });
  });

  it('answers AUTH_BUSY at once past the bound on password checks in flight, and checks again once they end', async () => {
    const consumers = await acmeConsumers();
    const auth = basicAuth.create({ kind: 'basic' }, 'test');
    // A password that verified once is answered from the cache, never counted against the bound.
    expect(await auth.verify(header('acme', 'correct horse'), consumers)).toMatchObject({ ok: true });
    const flood = Array.from({ length: MAX_PENDING_VERIFICATIONS }, (_, i) =>
      auth.verify(header('acme', `guess-${i}-xx`), consumers),
    );
    expect(flood.every((o) => o instanceof Promise)).toBe(true);
    // One more is refused synchronously (no scrypt queued), with AUTH_BUSY, whoever asks.
    expect(auth.verify(header('acme', 'another guess'), consumers)).toMatchObject({ ok: false, code: 'AUTH_BUSY' });
    expect(auth.verify(header('nobody', 'another guess'), consumers)).toMatchObject({ ok: false, code: 'AUTH_BUSY' });
    expect(auth.verify(header('acme', 'correct horse'), consumers)).toMatchObject({ ok: true });
    const outcomes = await Promise.all(flood);
    expect(outcomes.every((o) => !o.ok && o.code === 'AUTH_FAILED')).toBe(true);
    // The bound is free again: the next check runs (a promise), and fails as a wrong password.
    const next = auth.verify(header('acme', 'after the flood'), consumers);
    expect(next).toBeInstanceOf(Promise);
    expect(await next).toMatchObject({ ok: false, code: 'AUTH_FAILED' });
  }, 60_000);
});
