import { describe, expect, it } from 'vitest';
import { basicAuth } from '../../../src/access/auth/basic/index.js';
import { compileConsumers } from '../../../src/access/consumers.js';
import { hashPassword } from '../../../src/access/secrets.js';

// HTTP Basic against real scrypt hashes: what a caller can learn from how the gateway answers.
const header = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('basic authentication', () => {
  it('checks an unknown username with scrypt like a wrong password, so neither answers at once', async () => {
    const consumers = compileConsumers([
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
});
