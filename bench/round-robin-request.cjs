'use strict'
/**
 * autocannon's setupRequest for bench/http.ts. A CommonJS file because autocannon's worker
 * threads load it with require(). The template path holds `{sozialraum}`, replaced round-robin
 * from context.sozialraeume; a POST gets a fresh spending body each time.
 */
const { randomUUID } = require('node:crypto')

let next = 0

module.exports = function roundRobinRequest(request, context) {
  const sozialraeume = context.sozialraeume
  const sequence = next++
  const sozialraum = sozialraeume[sequence % sozialraeume.length]
  const path = request.path.replace('{sozialraum}', sozialraum)
  if (request.method !== 'POST') return { ...request, path }
  const cents = 100 + ((sequence * 7919) % 9900) // 1.00 … 99.99
  const body = JSON.stringify({
    amount: `${Math.floor(cents / 100)}.${String(cents % 100).padStart(2, '0')}`,
    purpose: 'Bench: Ferienfreizeit Zuschuss',
    category: 'freizeit',
    receiptRef: `B-${sequence}`,
    date: '2025-06-15',
  })
  return {
    ...request,
    path,
    body,
    headers: { ...request.headers, 'content-type': 'application/json', 'idempotency-key': randomUUID() },
  }
}
