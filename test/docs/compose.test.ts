import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { parse, parseDocument } from 'yaml'
import { parseConfig } from '../../src/config.js'
import { ROOT } from '../helpers/cli.js'

/**
 * compose.yaml and compose.cluster.yaml, checked without Docker (none runs here): valid YAML, the
 * shape Compose reads, images named by version, health checks, named volumes, and the ledger's
 * environment one that the service itself accepts.
 */

type Service = {
  image?: string
  build?: unknown
  environment?: Record<string, string>
  volumes?: string[]
  healthcheck?: { test: unknown }
  depends_on?: Record<string, { condition: string }>
}
type ComposeFile = { services: Record<string, Service>; volumes?: Record<string, unknown> }

function load(name: string): ComposeFile {
  const text = readFileSync(join(ROOT, name), 'utf8')
  const document = parseDocument(text, { merge: true })
  t.same(document.errors, [], `${name} is valid YAML`)
  return parse(text, { merge: true }) as ComposeFile
}

/** ${VAR:?message} as Compose interpolates it, with the given values. */
function interpolate(value: string, variables: Record<string, string>): string {
  return value.replace(/\$\{([A-Z_]+)(:\?[^}]*)?\}/g, (_, name: string) => {
    const found = variables[name]
    if (found === undefined) throw new Error(`${name} is not set`)
    return found
  })
}

const base = load('compose.yaml')
const cluster = load('compose.cluster.yaml')

t.test('every image is named by a version, never latest', async (t) => {
  for (const [file, compose] of [['compose.yaml', base], ['compose.cluster.yaml', cluster]] as const) {
    for (const [name, service] of Object.entries(compose.services)) {
      if (service.image === undefined) {
        t.ok(file === 'compose.cluster.yaml' && name in base.services, `${file}: ${name} extends a service of compose.yaml`)
        continue
      }
      t.match(service.image, /:\d+(\.\d+)*(-[a-z0-9]+)?$/, `${file}: ${name} names a version (${service.image})`)
      t.notMatch(service.image, /:latest$/)
    }
  }
})

t.test('compose.yaml: KurrentDB, PostgreSQL and the ledger, with health checks and named volumes', async (t) => {
  t.same(Object.keys(base.services).sort(), ['kurrentdb', 'ledger', 'postgres'])
  for (const [name, service] of Object.entries(base.services)) t.ok(service.healthcheck?.test, `${name} has a health check`)
  for (const [name, service] of Object.entries(base.services)) {
    for (const volume of service.volumes ?? []) {
      const source = volume.split(':')[0] ?? ''
      t.ok(base.volumes && source in base.volumes, `${name}: ${source} is a named volume`)
    }
  }
  const ledger = base.services.ledger
  t.ok(ledger?.build, 'the ledger is built from the Dockerfile')
  t.same(ledger?.depends_on, { kurrentdb: { condition: 'service_healthy' }, postgres: { condition: 'service_healthy' } })
  t.match(JSON.stringify(ledger?.healthcheck?.test), /\/ready/, 'the ledger is healthy when /ready says so')
})

t.test('the ledger\'s environment is a configuration the service accepts, on one node and on the cluster', async (t) => {
  const secrets = { POSTGRES_PASSWORD: 'pw', JWT_SECRET: 'j'.repeat(32), AUDIT_SEAL_KEY: 'a'.repeat(32) }
  const single = Object.fromEntries(Object.entries(base.services.ledger?.environment ?? {}).map(([k, v]) => [k, interpolate(String(v), secrets)]))
  const config = parseConfig(single)
  t.match(config, { database: { kind: 'postgres' }, eventStoreUrl: 'kurrentdb://kurrentdb:2113?tls=false', auditSealKey: { kind: 'key' } })
  t.throws(() => interpolate(String(base.services.ledger?.environment?.JWT_SECRET), {}), /JWT_SECRET is not set/, 'a missing secret stops compose')

  const merged = { ...single, ...cluster.services.ledger?.environment }
  const clustered = parseConfig(merged)
  for (const node of ['kurrentdb', 'kurrentdb2', 'kurrentdb3']) t.match(clustered.eventStoreUrl, new RegExp(`${node}:2113`), `the ledger knows ${node}`)
})

t.test('compose.cluster.yaml: three KurrentDB nodes that gossip with each other', async (t) => {
  const nodes = ['kurrentdb', 'kurrentdb2', 'kurrentdb3']
  for (const node of nodes) {
    const service = cluster.services[node]
    t.equal(service?.environment?.KURRENTDB_CLUSTER_SIZE, '3', `${node}: cluster size 3`)
    const seeds = String(service?.environment?.KURRENTDB_GOSSIP_SEED).split(',').map((seed) => seed.split(':')[0])
    t.same(seeds.sort(), nodes.filter((other) => other !== node), `${node} gossips with the two others`)
    t.ok(service?.healthcheck?.test, `${node} has a health check`)
    for (const volume of service?.volumes ?? []) {
      const source = volume.split(':')[0] ?? ''
      t.ok((cluster.volumes && source in cluster.volumes) || (base.volumes && source in base.volumes), `${node}: ${source} is a named volume`)
    }
  }
  t.same(Object.keys(cluster.services.ledger?.depends_on ?? {}).sort(), [...nodes, 'postgres'].sort(), 'the ledger waits for every node')
})
