import fc from 'fast-check'
import { SignJWT, type JWTPayload } from 'jose'
import t from 'tap'
import { canonicalJson } from '../../src/audit/canonical-json.js'
import { cachedVerifier, InvalidTokenError, tokenVerifier, type Principal } from '../../src/auth/tokens.js'
import { subject } from '../../src/http/schemas.js'

/** A verifier that counts its calls; tokens named "bad…" are refused. */
function countingVerifier(expiresAtMs: number) {
  const calls: string[] = []
  const verify = async (token: string): Promise<Principal> => {
    calls.push(token)
    if (token.startsWith('bad')) throw new InvalidTokenError('the token signature does not verify')
    return { sub: token, role: 'finance', name: undefined, sozialraeume: [], expiresAtMs }
  }
  return { calls, verify }
}

t.test('a verified token is trusted again without verifying it, until its exp', async (t) => {
  let now = 1_000_000
  const { calls, verify } = countingVerifier(1_030_000)
  const cached = cachedVerifier(verify, { now: () => now, maxAgeMs: 60_000 })
  t.equal((await cached('anna')).sub, 'anna')
  t.equal((await cached('anna')).sub, 'anna')
  t.same(calls, ['anna'], 'verified once')
  now = 1_030_000
  await cached('anna')
  t.same(calls, ['anna', 'anna'], 'verified again at its exp')
})

t.test('a verified token is verified again after maxAgeMs, even before its exp', async (t) => {
  let now = 0
  const { calls, verify } = countingVerifier(10_000_000)
  const cached = cachedVerifier(verify, { now: () => now, maxAgeMs: 60_000 })
  await cached('anna')
  now = 59_999
  await cached('anna')
  t.equal(calls.length, 1, 'still trusted just before maxAgeMs')
  now = 60_000
  await cached('anna')
  t.equal(calls.length, 2, 'verified again at maxAgeMs')
})

t.test('a refused token is never cached', async (t) => {
  const { calls, verify } = countingVerifier(10_000_000)
  const cached = cachedVerifier(verify, { now: () => 0 })
  await t.rejects(cached('bad-1'), InvalidTokenError)
  await t.rejects(cached('bad-1'), InvalidTokenError)
  t.same(calls, ['bad-1', 'bad-1'], 'verified (and refused) each time')
})

t.test('the cache holds at most maxEntries tokens, dropping the least recently used', async (t) => {
  const { calls, verify } = countingVerifier(10_000_000)
  const cached = cachedVerifier(verify, { now: () => 0, maxEntries: 2 })
  await cached('a')
  await cached('b')
  await cached('a') // a is now the most recently used
  await cached('c') // drops b
  calls.length = 0
  await cached('a')
  await cached('c')
  t.same(calls, [], 'a and c are still cached')
  await cached('b')
  t.same(calls, ['b'], 'b was dropped and is verified again')
})

const SECRET = 'a-secret-for-the-iat-tests-that-is-long-enough-0123456789'
const nowSeconds = (): number => Math.floor(Date.now() / 1000)

/** Signs exactly these claims with SECRET (HS256). */
const signed = (payload: JWTPayload): Promise<string> =>
  new SignJWT(payload).setProtectedHeader({ alg: 'HS256', typ: 'JWT' }).sign(new TextEncoder().encode(SECRET))

t.test('a token issued in the future (iat beyond the 30 s clock tolerance) is refused', async (t) => {
  const verify = tokenVerifier({ kind: 'secret', secret: SECRET })
  const claims = (iat: number | undefined): JWTPayload => ({
    sub: 'anna',
    role: 'finance',
    exp: nowSeconds() + 3600,
    ...(iat === undefined ? {} : { iat }),
  })
  await t.rejects(verify(await signed(claims(nowSeconds() + 60))), InvalidTokenError, 'iat a minute ahead')
  await t.rejects(verify(await signed(claims(nowSeconds() + 3600))), /not valid yet: its "iat" claim lies in the future/, 'iat an hour ahead, and the reason says so')
  t.equal((await verify(await signed(claims(nowSeconds() + 10)))).sub, 'anna', 'iat 10 s ahead: within the tolerance')
  t.equal((await verify(await signed(claims(nowSeconds())))).sub, 'anna', 'iat now')
  t.equal((await verify(await signed(claims(nowSeconds() - 600)))).sub, 'anna', 'iat ten minutes ago')
  t.equal((await verify(await signed(claims(undefined)))).sub, 'anna', 'no iat: nothing to check (iat is not required)')
})

/** Characters that tempt a sub to be two people, or to break what stores it: mixed with plain letters. */
const TRICKY = ['\u0000', '\u001f', '\u007f', '\u0085', ' ', '\u00a0', '\t', '\n', '\u200b', '\u200c', '\u202e', '\u2066', '\ufeff', '\ud800', '\udc00', '\ud83d\ude00', 'ä', 'a', 'Z', '-', '@', '.']

t.test('property: a sub the token rule takes is safe to record, show and hash', async (t) => {
  const isWellFormed = (text: string) => !/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/.test(text)
  let accepted = 0
  fc.assert(
    fc.property(fc.array(fc.constantFrom(...TRICKY), { minLength: 1, maxLength: 12 }), (parts) => {
      const sub = parts.join('')
      if (!subject.safeParse(sub).success) return
      accepted += 1
      if (/[\u0000-\u001f\u007f-\u009f]/.test(sub)) throw new Error(`a control character: ${JSON.stringify(sub)}`)
      if (!isWellFormed(sub)) throw new Error(`a lone surrogate: ${JSON.stringify(sub)}`)
      if (/[\u202e\u2066]/.test(sub)) throw new Error(`a bidirectional control: ${JSON.stringify(sub)}`)
      if (!/[^\s\u200b\u200c\ufeff]/.test(sub)) throw new Error(`nothing visible: ${JSON.stringify(sub)}`)
      canonicalJson({ sub })
    }),
    { numRuns: 3_000 },
  )
  t.ok(accepted > 10, `the rule takes ordinary subs too (${accepted} of 3,000; about 8 % expected)`)
})
