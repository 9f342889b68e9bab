import { describe, expect, it } from 'vitest';
import { boundField, ACCESS_LOG_FIELD_CHARS } from '../../src/gateway/access-log-fields.js';
import { decodeName, redactQuery, redactUrl, secretNames, SECRET_QUERY_NAMES } from '../../src/gateway/log-redact.js';

// The redaction of the access log's `query` and `referer` fields: which names count as credentials
// (percent-decoded, lower-cased, the fixed list plus configured key-auth parameters), what stays, and
// that a huge query costs and yields no more than the field's bound.

const secrets = secretNames(['X-Tenant-Key']);

describe('decodeName', () => {
  it('decodes %XX (either case) and +, and leaves malformed % sequences as they are', () => {
    expect(decodeName('API%5FKEY')).toBe('API_KEY');
    expect(decodeName('api%5fkey')).toBe('api_key');
    expect(decodeName('a+b')).toBe('a b');
    expect(decodeName('%')).toBe('%');
    expect(decodeName('a%4')).toBe('a%4');
    expect(decodeName('%zz%41')).toBe('%zzA');
    expect(decodeName('%%41')).toBe('%A');
    expect(decodeName('plain')).toBe('plain');
  });
});

describe('redactQuery', () => {
  it('keeps a query without credentials as the very same string', () => {
    const q = 'select_code=temp_node&page=2&q=a%20b';
    expect(redactQuery(q, secrets)).toBe(q);
    expect(redactQuery('', secrets)).toBe('');
  });

  it('redacts every fixed-list name, compared percent-decoded and lower-cased, keeping the name as sent', () => {
    for (const name of SECRET_QUERY_NAMES) {
      expect(redactQuery(`a=1&${name}=s3cr3t&b=2`, secrets)).toBe(`a=1&${name}=[redacted]&b=2`);
      expect(redactQuery(`${name.toUpperCase()}=s3cr3t`, secrets)).toBe(`${name.toUpperCase()}=[redacted]`);
    }
    expect(redactQuery('Access%5FToken=s3cr3t&x=1', secrets)).toBe('Access%5FToken=[redacted]&x=1');
    expect(redactQuery('API%5fKEY=s3cr3t', secrets)).toBe('API%5fKEY=[redacted]');
    expect(redactQuery('%61%70%69%6b%65%79=s3cr3t', secrets)).toBe('%61%70%69%6b%65%79=[redacted]');
  });

  it('redacts configured names (key auth query parameters) the same way', () => {
    expect(redactQuery('x-tenant-key=s3cr3t&X%2DTENANT%2DKEY=s3cr3t', secrets)).toBe(
      'x-tenant-key=[redacted]&X%2DTENANT%2DKEY=[redacted]',
    );
    expect(redactQuery('x-tenant-key=s3cr3t', secretNames())).toBe('x-tenant-key=s3cr3t');
  });

  it('does not take a name with + or a space for another name', () => {
    // `api+key` decodes to `api key`, not `apikey`: kept.
    expect(redactQuery('api+key=v&to+ken=v', secrets)).toBe('api+key=v&to+ken=v');
    // A + in a value is part of the value, which is redacted whole.
    expect(redactQuery('token=a+b%2Bc', secrets)).toBe('token=[redacted]');
  });

  it('redacts every repetition of a name', () => {
    expect(redactQuery('token=a&token=b&x=1&TOKEN=c', secrets)).toBe(
      'token=[redacted]&token=[redacted]&x=1&TOKEN=[redacted]',
    );
  });

  it('keeps a name with no value, or an empty one, as it is (it hides nothing)', () => {
    expect(redactQuery('token&x=1', secrets)).toBe('token&x=1');
    expect(redactQuery('token=&x=1', secrets)).toBe('token=&x=1');
    expect(redactQuery('&&token=a&&', secrets)).toBe('&&token=[redacted]&&');
    expect(redactQuery('=a&=&token==b', secrets)).toBe('=a&=&token=[redacted]');
  });

  it('compares malformed names without throwing, and redacts only whole-name matches', () => {
    expect(redactQuery('tok%en=a&%=b&token%=c&%E0%A4%A=d', secrets)).toBe('tok%en=a&%=b&token%=c&%E0%A4%A=d');
    expect(redactQuery('tokens=a&mytoken=b&token_x=c', secrets)).toBe('tokens=a&mytoken=b&token_x=c');
  });

  it('handles a 10,000-parameter query up to the bound, its result a bounded prefix', () => {
    const plain = Array.from({ length: 10_000 }, (_, i) => `p${i}=v${i}`).join('&');
    const out = redactQuery(plain, secrets, ACCESS_LOG_FIELD_CHARS);
    expect(plain.startsWith(out)).toBe(true);
    expect(out.length).toBeGreaterThan(ACCESS_LOG_FIELD_CHARS);
    expect(out.length).toBeLessThan(ACCESS_LOG_FIELD_CHARS + 20);

    const secret = Array.from({ length: 10_000 }, (_, i) => `token=s3cr3t${i}`).join('&');
    const redacted = redactQuery(secret, secrets, ACCESS_LOG_FIELD_CHARS);
    expect(redacted).not.toContain('s3cr3t');
    expect(redacted.startsWith('token=[redacted]&token=[redacted]')).toBe(true);
    expect(redacted.length).toBeLessThan(ACCESS_LOG_FIELD_CHARS + 20);
    expect(boundField(redacted)).toHaveLength(ACCESS_LOG_FIELD_CHARS);

    // Without a bound, the whole query is redacted.
    expect(redactQuery(secret, secrets)).toBe(Array(10_000).fill('token=[redacted]').join('&'));
  });

  it('never lets a credential past the bound reach the result (the rest is left out, not kept)', () => {
    const q = `${'a'.repeat(600)}=1&token=s3cr3t`;
    expect(redactQuery(q, secrets, ACCESS_LOG_FIELD_CHARS)).not.toContain('s3cr3t');
    const q2 = `x=${'a'.repeat(600)}&token=s3cr3t`;
    expect(redactQuery(q2, secrets, ACCESS_LOG_FIELD_CHARS)).not.toContain('s3cr3t');
  });

  it('reads a very long name as no credential without decoding it', () => {
    const q = `${'%41'.repeat(5000)}=v`;
    expect(redactQuery(q, secrets)).toBe(q);
  });
});

describe('redactUrl', () => {
  it('redacts the query and the fragment of a Referer, and its user:password@', () => {
    expect(redactUrl('https://shop.test/cart?id=7&access_token=s3cr3t#x', secrets)).toBe(
      'https://shop.test/cart?id=7&access_token=[redacted]#x',
    );
    expect(redactUrl('https://app.test/cb#access_token=s3cr3t&state=abc', secrets)).toBe(
      'https://app.test/cb#access_token=[redacted]&state=abc',
    );
    expect(redactUrl('https://user:s3cr3t@shop.test/a?b=1', secrets)).toBe('https://[redacted]@shop.test/a?b=1');
    expect(redactUrl('https://shop.test/a@b?c=d', secrets)).toBe('https://shop.test/a@b?c=d');
    expect(redactUrl('https://shop.test/', secrets)).toBe('https://shop.test/');
    expect(redactUrl('not a url?token=s3cr3t', secrets)).toBe('not a url?token=[redacted]');
  });

  it('stays bounded with a long path before the query, and lets no credential through', () => {
    const url = `https://shop.test/${'p'.repeat(2000)}?token=s3cr3t#token=s3cr3t`;
    const out = redactUrl(url, secrets, ACCESS_LOG_FIELD_CHARS);
    expect(out).not.toContain('s3cr3t');
    expect(boundField(out)).toHaveLength(ACCESS_LOG_FIELD_CHARS);
  });
});

describe('boundField', () => {
  it('cuts past the bound to the bound, ending in …, and never splits a surrogate pair', () => {
    expect(boundField('a'.repeat(ACCESS_LOG_FIELD_CHARS))).toBe('a'.repeat(ACCESS_LOG_FIELD_CHARS));
    const cut = boundField('a'.repeat(2000));
    expect(cut).toHaveLength(ACCESS_LOG_FIELD_CHARS);
    expect(cut.endsWith('a…')).toBe(true);
    const emoji = boundField(`${'a'.repeat(ACCESS_LOG_FIELD_CHARS - 2)}😀😀`);
    expect(emoji.endsWith('a…')).toBe(true);
    expect(emoji.length).toBe(ACCESS_LOG_FIELD_CHARS - 1);
  });
});
