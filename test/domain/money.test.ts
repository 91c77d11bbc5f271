import t from 'tap'
import { formatCents, parseAmount } from '../../src/domain/money.js'

t.test('parses', async (t) => {
  t.same(parseAmount('1250.5'), { ok: true, cents: 125050n })
  t.equal(formatCents(125050n), '1250.50')
})
