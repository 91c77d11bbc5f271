import fc from 'fast-check'
import t from 'tap'
import { budgetStreamId } from '../../src/application/stored-event.js'
import { MAX_READ_COUNT, type RecordedEvent } from '../../src/eventstore/port.js'
import {
  budgetUrl,
  commitmentBody,
  post,
  seed,
  spendingBody,
  uuid,
  type ApiResponse,
  type Headers,
} from '../helpers/api.js'
import { startTestService } from '../helpers/service.js'
import { bearer, DEFAULT_ACTOR } from '../helpers/tokens.js'

/**
 * DOMAIN rule 7 as a property: no sequence of team-lead commands changes a budget outside the
 * lead's scope. Random sequences of team-lead writes (commitments, amendments, invoices, releases,
 * approval decisions, spending, reversals), aimed at Sozialräume in and out of scope, with mostly
 * valid bodies. After every command: out of scope means 403 and nothing written. After every
 * sequence: each budget stream only grew by events of team leads whose scope includes it; the one
 * Sozialraum no lead holds is unchanged. In scope, a command may succeed or fail by the ledger rules;
 * where the four-eyes rules decide (DOMAIN rule 6), the answer must be theirs: an approval decision
 * on a requested commitment is 403 for its requester's approval (their rejection withdraws it: 201)
 * and for a team lead on an over-budget one, else written; a requested commitment cannot be amended.
 */

const YEAR = 2025
/** Funded budgets; `prop-c` is in no lead's scope. */
const FUNDED = ['prop-a', 'prop-b', 'prop-c'] as const
/** Never registered and in no lead's scope: out of scope must be 403, not 404. */
const GHOST = 'prop-ghost'
const TARGETS = [...FUNDED, GHOST] as const
type Target = (typeof TARGETS)[number]

const LEADS = {
  'lead-a': ['prop-a'],
  'lead-b': ['prop-b'],
  'lead-ab': ['prop-a', 'prop-b'],
} as const satisfies Record<string, readonly string[]>
type Lead = keyof typeof LEADS

/** Who asks for a commitment in each budget before a run (fixed, so that a counterexample replays). */
const PREPARED_REQUESTER: Partial<Record<Target, Lead>> = { 'prop-a': 'lead-a', 'prop-b': 'lead-ab' }

const inScope = (lead: Lead, sozialraum: string): boolean => (LEADS[lead] as readonly string[]).includes(sozialraum)
/** The leads allowed to write to a budget. */
const writersOf = (sozialraum: string): string[] =>
  (Object.keys(LEADS) as Lead[]).filter((lead) => inScope(lead, sozialraum))

// Commands, as generated: references to commitments and spendings are indexes into the ids known
// in the target budget during the run, so that out-of-scope commands hit real commitments.

type Command =
  | { kind: 'create'; line: 'ambulatory' | 'flexible'; amount: string; overBudget: boolean; reuse: number | null }
  | { kind: 'amend'; ref: number; amount: string; overBudget: boolean }
  | { kind: 'invoice'; ref: number; invoiceNo: string; amount: string }
  | { kind: 'release'; ref: number }
  | { kind: 'approval'; ref: number; decision: 'approve' | 'reject' }
  | { kind: 'spending'; amount: string; reuse: number | null }
  | { kind: 'reversal'; ref: number }

interface Step {
  lead: Lead
  target: Target
  command: Command
  /** Sends a body the schema refuses (a JSON number where an amount belongs, an unknown field). */
  malformed: boolean
  idempotencyKey: string | null
}

const small = fc.constantFrom('1', '25.50', '120', '999.99', '2500.00')
/** Mostly small amounts; sometimes at or above the four-eyes threshold (10000.00). */
const amount = fc.oneof({ weight: 4, arbitrary: small }, { weight: 1, arbitrary: fc.constantFrom('10000.00', '15000') })
const signed = fc.oneof(small, small.map((text) => `-${text}`))
const ref = fc.nat({ max: 20 })
/** Now and then the id of something that exists already (409), mostly a fresh one. */
const reuse = fc.oneof({ weight: 5, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: ref })

const command: fc.Arbitrary<Command> = fc.oneof(
  fc.record({
    kind: fc.constant('create' as const),
    line: fc.constantFrom('ambulatory' as const, 'flexible' as const),
    amount,
    overBudget: fc.boolean(),
    reuse,
  }),
  fc.record({ kind: fc.constant('amend' as const), ref, amount: signed, overBudget: fc.boolean() }),
  fc.record({ kind: fc.constant('invoice' as const), ref, invoiceNo: fc.constantFrom('RE-1', 'RE-2', 'RE-3'), amount: small }),
  fc.record({ kind: fc.constant('release' as const), ref }),
  fc.record({ kind: fc.constant('approval' as const), ref, decision: fc.constantFrom('approve' as const, 'reject' as const) }),
  fc.record({ kind: fc.constant('spending' as const), amount: small, reuse }),
  fc.record({ kind: fc.constant('reversal' as const), ref }),
)

/** Half of the commands aim inside the lead's scope, the rest anywhere (the ghost included). */
const step: fc.Arbitrary<Step> = fc.constantFrom(...(Object.keys(LEADS) as Lead[])).chain((lead) =>
  fc.record({
    lead: fc.constant(lead),
    target: fc.oneof(fc.constantFrom(...(LEADS[lead] as readonly Target[])), fc.constantFrom(...TARGETS)),
    command,
    malformed: fc.integer({ min: 0, max: 9 }).map((n) => n === 0),
    // Keys are made unique per run below: within a run a retry replays, another body is refused.
    idempotencyKey: fc.oneof({ weight: 4, arbitrary: fc.constant(null) }, { weight: 1, arbitrary: fc.constantFrom('key-1', 'key-2') }),
  }),
)

/** A commitment as the run's write answers left it: enough to know what the four-eyes rules say. */
interface Tracked {
  status: string
  overBudget: boolean
  /** Who asked for what waits: the actor of the write that made it `requested`. */
  requestedBy: string | undefined
}

/** What a run knows about one budget: the ids a command can refer to. */
interface Known {
  commitments: string[]
  /** Commitments last seen waiting for approval. */
  requested: string[]
  spendings: string[]
  /** Every known commitment's state, updated from each (not replayed) write answer. */
  state: Map<string, Tracked>
}

const COMMITMENT_COMMANDS: ReadonlySet<Command['kind']> = new Set(['create', 'amend', 'invoice', 'release', 'approval'])

/** The commitment a command refers to (not for `create`: its id may be fresh). */
function commitmentIdOf(path: string): string | undefined {
  return /^\/commitments\/([^/]+)\//.exec(path)?.[1]
}

/**
 * What the four-eyes rules make of an in-scope approval decision, from the tracked state:
 * undefined where they do not decide (the ledger's other rules may).
 */
function expectedDecision(
  tracked: Tracked | undefined,
  lead: Lead,
  decision: 'approve' | 'reject',
): { status: 201 | 403 | 404 | 409; code?: string } {
  if (tracked === undefined) return { status: 404, code: 'not-found' }
  if (tracked.status !== 'requested') return { status: 409, code: 'conflict' }
  // The requester withdraws their own request by rejecting it; approving it needs a second person.
  if (tracked.requestedBy === lead) return decision === 'reject' ? { status: 201 } : { status: 403, code: 'forbidden' }
  // Over budget: finance decides, never a team lead who did not ask.
  if (tracked.overBudget) return { status: 403, code: 'forbidden' }
  return { status: 201 }
}

const pick = (ids: readonly string[], index: number): string => ids[index % ids.length] ?? uuid()

function request(step: Step, known: Known): { path: string; body: Record<string, unknown> } {
  const c = step.command
  switch (c.kind) {
    case 'create':
      return {
        path: '/commitments',
        body: commitmentBody({
          id: c.reuse === null ? uuid() : pick(known.commitments, c.reuse),
          line: c.line,
          amount: c.amount,
          ...(c.overBudget ? { overBudget: { justification: 'Rechtsanspruch § 27 SGB VIII' } } : {}),
        }),
      }
    case 'amend':
      return {
        path: `/commitments/${pick(known.commitments, c.ref)}/amendments`,
        body: {
          amount: c.amount,
          reason: 'Bedarf geändert',
          ...(c.overBudget ? { overBudget: { justification: 'Rechtsanspruch § 27 SGB VIII' } } : {}),
        },
      }
    case 'invoice':
      return {
        path: `/commitments/${pick(known.commitments, c.ref)}/invoices`,
        body: { invoiceNo: c.invoiceNo, amount: c.amount, invoiceDate: '2025-03-01' },
      }
    case 'release':
      return { path: `/commitments/${pick(known.commitments, c.ref)}/release`, body: { reason: 'Hilfe beendet' } }
    case 'approval': {
      const ids = known.requested.length > 0 ? known.requested : known.commitments
      return { path: `/commitments/${pick(ids, c.ref)}/approval`, body: { decision: c.decision } }
    }
    case 'spending':
      return {
        path: '/spending',
        body: spendingBody({ id: c.reuse === null ? uuid() : pick(known.spendings, c.reuse), amount: c.amount }),
      }
    case 'reversal':
      return { path: `/spending/${pick(known.spendings, c.ref)}/reversal`, body: { reason: 'Fehlbuchung' } }
  }
}

/** A body the schema refuses: an amount as a JSON number if there is one, else an unknown field. */
function malformed(body: Record<string, unknown>): Record<string, unknown> {
  return 'amount' in body ? { ...body, amount: 100 } : { ...body, unexpected: true }
}

/** Statuses an in-scope command may get from the ledger rules (403 only from the four-eyes rule). */
const IN_SCOPE_STATUSES = new Set([201, 400, 404, 409, 422])

class PropertyViolation extends Error {
  override name = 'PropertyViolation'
}

function check(condition: boolean, message: () => string): asserts condition {
  if (!condition) throw new PropertyViolation(message())
}

const describe = (s: Step, response: ApiResponse): string =>
  `${s.lead} (scope ${LEADS[s.lead].join(', ')}) ${s.command.kind} on ${s.target}` +
  `${s.malformed ? ' (malformed)' : ''}${s.idempotencyKey === null ? '' : ` key ${s.idempotencyKey}`}: ` +
  `${response.status} ${response.text.slice(0, 300)}`

t.test('no sequence of team-lead commands changes a budget outside the lead\'s scope', async (t) => {
  const service = await startTestService(t)
  const { app, store } = service
  for (const sozialraum of FUNDED) await seed(app, sozialraum, { ambulatory: '100000000.00', flexible: '10000000.00' })
  const tokens = Object.fromEntries(
    await Promise.all(
      (Object.keys(LEADS) as Lead[]).map(async (lead) => [lead, await bearer({ sub: lead, role: 'teamlead', sozialraeume: [...LEADS[lead]] })]),
    ),
  ) as Record<Lead, Headers>

  const readBudget = (sozialraum: string): Promise<RecordedEvent[]> =>
    store.readStream(budgetStreamId(YEAR, sozialraum), { maxCount: MAX_READ_COUNT })

  const tally = {
    outOfScope: 0,
    inScope: 0,
    inScopeWritten: 0,
    approvalsWritten: 0,
    decisionsChecked: 0,
    requesterApprovalsRefused: 0,
    requesterWithdrawals: 0,
    requestedAmendmentsRefused: 0,
  }

  /**
   * Finance prepares each budget: an open and a requested commitment, a spending; and a lead of
   * the budget (if it has one) asks for a commitment of its own.
   */
  async function prepare(): Promise<Record<Target, Known>> {
    const known = {} as Record<Target, Known>
    for (const target of TARGETS) {
      known[target] = { commitments: [], requested: [], spendings: [], state: new Map() }
      if (target === GHOST) continue
      const url = budgetUrl(YEAR, target)
      for (const value of ['1200.00', '12000.00']) {
        const created = await post(app, `${url}/commitments`, commitmentBody({ amount: value }))
        if (created.status !== 201) throw new Error(`preparing a commitment: ${created.text}`)
        known[target].commitments.push(created.body.id)
        if (created.body.status === 'requested') known[target].requested.push(created.body.id)
        known[target].state.set(created.body.id, {
          status: created.body.status,
          overBudget: created.body.overBudget === true,
          requestedBy: created.body.status === 'requested' ? DEFAULT_ACTOR.sub : undefined,
        })
      }
      // And one requested by a lead of the budget, so that its requester's decisions come up too.
      const requester = PREPARED_REQUESTER[target]
      if (requester !== undefined) {
        const asked = await post(app, `${url}/commitments`, commitmentBody({ amount: '15000.00' }), tokens[requester])
        if (asked.status !== 201 || asked.body.status !== 'requested') throw new Error(`preparing a lead's request: ${asked.text}`)
        known[target].commitments.push(asked.body.id)
        known[target].requested.push(asked.body.id)
        known[target].state.set(asked.body.id, { status: 'requested', overBudget: false, requestedBy: requester })
      }
      const spent = await post(app, `${url}/spending`, spendingBody())
      if (spent.status !== 201) throw new Error(`preparing a spending: ${spent.text}`)
      known[target].spendings.push(spent.body.id)
    }
    return known
  }

  let run = 0
  const property = fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 15, size: 'max' }), async (steps) => {
    run++
    const known = await prepare()
    const before = new Map<string, RecordedEvent[]>()
    for (const target of TARGETS) before.set(target, await readBudget(target))

    for (const s of steps) {
      const { path, body } = request(s, known[s.target])
      const referred = commitmentIdOf(path)
      const trackedBefore = referred === undefined ? undefined : known[s.target].state.get(referred)
      const headers: Headers = {
        ...tokens[s.lead],
        ...(s.idempotencyKey === null ? {} : { 'idempotency-key': `run-${run}-${s.idempotencyKey}` }),
      }
      const head = await store.headPosition()
      const response = await post(app, `${budgetUrl(YEAR, s.target)}${path}`, s.malformed ? malformed(body) : body, headers)

      if (!inScope(s.lead, s.target)) {
        tally.outOfScope++
        check(response.status === 403 && String(response.body?.type).endsWith('forbidden'), () => `out of scope, not 403 forbidden: ${describe(s, response)}`)
        const after = await store.headPosition()
        check(after === head, () => `out of scope, but the log moved from ${head} to ${after}: ${describe(s, response)}`)
        continue
      }
      tally.inScope++
      const fourEyes = s.command.kind === 'approval' && response.status === 403
      check(IN_SCOPE_STATUSES.has(response.status) || fourEyes, () => `in scope, unexpected status: ${describe(s, response)}`)
      // Where the four-eyes rules decide, the answer is theirs. Only for well-formed requests
      // without a key: a malformed body is 400 first, a reused key 422 first.
      const plain = !s.malformed && s.idempotencyKey === null
      if (plain && s.command.kind === 'approval') {
        const decision = s.command.decision
        const expected = expectedDecision(trackedBefore, s.lead, decision)
        tally.decisionsChecked++
        check(
          response.status === expected.status && (expected.code === undefined || String(response.body?.type).endsWith(expected.code)),
          () => `the four-eyes rules say ${expected.status} ${expected.code ?? ''} (tracked ${JSON.stringify(trackedBefore)}): ${describe(s, response)}`,
        )
        if (trackedBefore?.status === 'requested' && trackedBefore.requestedBy === s.lead) {
          if (decision === 'approve') tally.requesterApprovalsRefused++
          else tally.requesterWithdrawals++
        }
      }
      if (plain && s.command.kind === 'amend' && trackedBefore?.status === 'requested') {
        tally.requestedAmendmentsRefused++
        check(
          response.status === 409 && String(response.body?.type).endsWith('approval-required'),
          () => `a requested commitment was not refused an amendment with 409 approval-required: ${describe(s, response)}`,
        )
      }
      if (response.status !== 201) {
        const after = await store.headPosition()
        check(after === head, () => `refused (${response.status}), but the log moved from ${head} to ${after}: ${describe(s, response)}`)
        continue
      }
      tally.inScopeWritten++
      if (s.command.kind === 'approval') tally.approvalsWritten++
      // Remember what the write created, so that later commands can refer to it.
      const resource = response.body as { id: string; status?: string; overBudget?: boolean }
      const k = known[s.target]
      if (s.command.kind === 'create' && !k.commitments.includes(resource.id)) k.commitments.push(resource.id)
      if (s.command.kind === 'spending' && !k.spendings.includes(resource.id)) k.spendings.push(resource.id)
      if (resource.status === 'requested' && !k.requested.includes(resource.id)) k.requested.push(resource.id)
      // A replayed answer tells of an earlier write, not of the commitment as it is now.
      if (COMMITMENT_COMMANDS.has(s.command.kind) && response.headers['idempotent-replayed'] !== 'true') {
        const previous = k.state.get(resource.id)
        const status = String(resource.status)
        k.state.set(resource.id, {
          status,
          overBudget: resource.overBudget === true,
          requestedBy: status !== 'requested' ? undefined : previous?.status === 'requested' ? previous.requestedBy : s.lead,
        })
      }
    }

    for (const target of TARGETS) {
      const old = before.get(target) ?? []
      const now = await readBudget(target)
      const same = (a: RecordedEvent | undefined, b: RecordedEvent | undefined) =>
        a !== undefined && b !== undefined && a.id === b.id && a.revision === b.revision && a.position === b.position
      check(
        now.length >= old.length && old.every((event, index) => same(event, now[index])),
        () => `budget ${target}: its earlier events changed (${old.length} before, ${now.length} now)`,
      )
      const writers = writersOf(target)
      for (const event of now.slice(old.length)) {
        const actor = (event.metadata as { actor?: { sub?: string; role?: string } }).actor
        check(
          actor?.role === 'teamlead' && writers.includes(actor.sub ?? ''),
          () => `budget ${target} (writers: ${writers.join(', ') || 'none'}) got ${event.type} at revision ${event.revision} from ${JSON.stringify(actor)}`,
        )
      }
      if (writers.length === 0) {
        check(
          now.length === old.length && now.at(-1)?.revision === old.at(-1)?.revision,
          () => `budget ${target} is outside every lead's scope, but went from ${old.length} to ${now.length} events`,
        )
      }
    }
  })

  try {
    await fc.assert(property, { numRuns: 25 })
    t.pass('every out-of-scope command was refused with 403 and wrote nothing; every budget grew only by its own leads')
  } catch (error) {
    // fast-check's message names the seed, the path and the shrunk counterexample; the cause says what broke.
    const cause = error instanceof Error && error.cause instanceof Error ? ` Cause: ${error.cause.message}` : ''
    t.fail(`${error instanceof Error ? error.message : String(error)}${cause}`)
  }
  // The property is only worth something if the sequences did both kinds of thing.
  t.ok(tally.outOfScope > 0, `out-of-scope commands were sent (${tally.outOfScope})`)
  t.ok(tally.inScopeWritten > 0, `in-scope commands were written (${tally.inScopeWritten} of ${tally.inScope})`)
  t.ok(tally.approvalsWritten > 0, `in-scope approval decisions were written (${tally.approvalsWritten})`)
  t.ok(tally.decisionsChecked > 0, `in-scope approval decisions were checked against the four-eyes rules (${tally.decisionsChecked})`)
  t.comment(
    `requester approvals refused: ${tally.requesterApprovalsRefused}, requester withdrawals: ${tally.requesterWithdrawals}, ` +
      `amendments of requested commitments refused: ${tally.requestedAmendmentsRefused}`,
  )
})
