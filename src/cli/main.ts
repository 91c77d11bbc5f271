#!/usr/bin/env node
import { projections } from '../../projections/index.js'
import { runCommand } from './run.js'

/**
 * `sojus-ledger <command> [options]`: the one command-line tool (package.json "bin"; in a checkout
 * `npm run cli -- <command>`, in the Docker image `node dist/src/cli/main.js <command>`). Each
 * command lives in a module of its own, loaded only when chosen, so that `token` does not load the
 * HTTP service and `--help` loads nothing. `<command> --help` prints the command's help and exits 0;
 * a wrong command line exits 2 with the usage; a failure is one line on stderr and exit 1.
 */

interface Command {
  summary: string
  help: string
  run: (args: readonly string[]) => Promise<void>
}

const ENVIRONMENT = 'Configuration from the environment (DATABASE_URL, JWT_SECRET, …): see sojus-ledger check-config.'

const COMMANDS: Readonly<Record<string, Command>> = {
  serve: {
    summary: 'run the HTTP service (what npm start runs); SIGTERM stops it cleanly',
    help: `usage: sojus-ledger serve
  Runs the HTTP service on HOST:PORT with the store in DATABASE_URL, applying migrations first.
  On SQLite it takes the store's lock for as long as it runs. SIGTERM or SIGINT finish the
  requests in flight and stop it.`,
    run: async () => {
      // src/main.ts is the service's process: it starts on import and stays up until a signal.
      await import('../main.js')
    },
  },
  migrate: {
    summary: 'apply the read-model migrations and exit',
    help: `usage: sojus-ledger migrate
  Applies the read-model migrations in migrations/ to DATABASE_URL and exits (start-up does this
  too). On SQLite refused while the service holds the store; on PostgreSQL safe beside it.`,
    run: async () => (await import('./migrate.js')).migrateCommand(),
  },
  token: {
    summary: 'print a token signed with JWT_SECRET or the generated secret',
    help: `usage: sojus-ledger token --role finance|teamlead|auditor --sub <user id> [--sozialraum <id>]... [--name <name>] [--expires-in 8h]
  Prints a bearer token signed with JWT_SECRET, or with the embedded default's secret in the
  data folder. A teamlead token needs at least one --sozialraum; tokens live at most 24h.`,
    run: async (args) => (await import('./token.js')).tokenCommand(args),
  },
  rebuild: {
    summary: 'reset projections; the service replays them (on SQLite at its next start)',
    help: `usage: sojus-ledger rebuild <${projections.map((projection) => projection.name).join('|')}|all> …
  Empties the named projections' tables and resets their checkpoints; the projector replays them
  from the event log. On SQLite only while the service is stopped (it takes the store's lock);
  on PostgreSQL beside the service. (npm run rebuild-projections is the same command.)`,
    run: async (args) => (await import('./rebuild-projections.js')).rebuildCommand(args),
  },
  verify: {
    summary: 'verify the hash chains, the read models and optionally a seal',
    help: `usage: sojus-ledger verify [--seal <file>]
  Verifies the log as POST /v1/audit/verify does: the hash chains, the read models against a
  replay, and a seal saved from GET /v1/audit/seal. On SQLite it takes the store's lock. The JSON
  report goes to stdout, progress to stderr on a terminal. Exit 0 when the log verifies, 1 when
  it does not or the seal is forged, 2 for a wrong command line.`,
    run: async (args) => (await import('./verify.js')).verifyCommand(args),
  },
  export: {
    summary: 'write a year’s events as CSV or JSON Lines to a file or stdout',
    help: '',
    run: async (args) => (await import('./export.js')).exportCommand(args),
  },
  seed: {
    summary: 'write a realistic, deterministic history into an empty store',
    help: `usage: sojus-ledger seed [--sozialraeume 20] [--years 10] [--first-year 2016] [--seed sojus]
                        [--commitments 370] [--spendings 1000] [--prefix <slug>] [--append] [--full]
  Writes a realistic history into DATABASE_URL (about 5,000 events per Sozialraum and year)
  through the real deciders. It takes the store's lock and refuses a store with events unless
  --append; progress on a terminal.
  --commitments, --spendings  per budget (Sozialraum and year)
  --prefix  put before every Sozialraum id, to seed a second history beside a first
  --append  write also when the store holds events already; every stream the seed writes must be new
  --full    decide every command on the whole budget, as the service does (slow: O(n²) per budget)`,
    run: async (args) => (await import('./seed.js')).seedCommand(args),
  },
  backup: {
    summary: 'copy the running SQLite store to a file, online and consistent',
    help: '',
    run: async (args) => (await import('./backup.js')).backupCommand(args),
  },
  restore: {
    summary: 'check a backup and put it in place of the stopped SQLite store',
    help: '',
    run: async (args) => (await import('./restore.js')).restoreCommand(args),
  },
  'check-config': {
    summary: 'parse the configuration and print it with secrets masked',
    help: `usage: sojus-ledger check-config
  Parses the configuration from the environment as the service does at start-up and prints it
  as JSON, with secrets (JWT_SECRET, AUDIT_SEAL_KEY, passwords in URLs) masked. Exit 0 when it is
  valid, 1 with the message when it is not.`,
    run: async () => (await import('./check-config.js')).checkConfigCommand(),
  },
}

/** Help texts that live beside their commands (the modules are small and have no side effects). */
async function helpOf(name: string, command: Command): Promise<string> {
  if (command.help !== '') return command.help
  if (name === 'export') return (await import('./export.js')).EXPORT_USAGE
  if (name === 'backup') return (await import('./backup.js')).BACKUP_USAGE
  if (name === 'restore') return (await import('./restore.js')).RESTORE_USAGE
  return `usage: sojus-ledger ${name}`
}

export function overview(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((name) => name.length))
  const lines = Object.entries(COMMANDS).map(([name, command]) => `  ${name.padEnd(width)}  ${command.summary}`)
  return [
    'usage: sojus-ledger <command> [options]',
    '',
    'commands:',
    ...lines,
    '',
    'sojus-ledger <command> --help shows the options of a command.',
    ENVIRONMENT,
  ].join('\n')
}

const WITHOUT_OPTIONS = new Set(['serve', 'migrate', 'check-config'])

async function main(argv: readonly string[]): Promise<void> {
  const [name, ...args] = argv
  if (name === undefined || name === '--help' || name === '-h' || name === 'help') {
    const topic = name === 'help' ? args[0] : undefined
    const command = topic === undefined ? undefined : COMMANDS[topic]
    const text = `${command && topic ? await helpOf(topic, command) : overview()}\n`
    if (name === undefined) {
      process.stderr.write(text)
      process.exit(2)
    }
    process.stdout.write(text)
    process.exit(0)
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined
  if (command === undefined) {
    process.stderr.write(`unknown command: ${name}\n${overview()}\n`)
    process.exit(2)
  }
  if (args.includes('--help') || args.includes('-h')) {
    process.stdout.write(`${await helpOf(name, command)}\n`)
    process.exit(0)
  }
  if (WITHOUT_OPTIONS.has(name) && args.length > 0) {
    process.stderr.write(`${name} takes no options: ${args.join(' ')}\n${await helpOf(name, command)}\n`)
    process.exit(2)
  }
  if (name === 'serve') return void (await command.run(args))
  runCommand(name, () => command.run(args))
}

await main(process.argv.slice(2))
