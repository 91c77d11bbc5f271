import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

/**
 * The README's commands are real: every `npm run <script>` it shows is a script of package.json,
 * and every command of the tool it shows (`sojus-ledger <command>`, `npm run cli -- <command>`,
 * `node dist/src/cli/main.js <command>`) is one the tool lists in `--help`. test/cli/main.test.ts
 * runs each command's `--help`; the commands themselves are run by the tests of their parts.
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const readme = readFileSync(join(ROOT, 'README.md'), 'utf8')
const scripts = Object.keys((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts)

t.test('every npm script the README runs exists', async (t) => {
  const named = new Set([...readme.matchAll(/npm run (?:-s )?([a-z][a-z:-]*)/g)].map((match) => match[1] ?? ''))
  for (const bare of readme.matchAll(/\bnpm (start|test)\b/g)) named.add(bare[1] ?? '')
  t.ok(named.size >= 10, `the README names ${named.size} scripts`)
  for (const script of named) t.ok(scripts.includes(script), `npm run ${script} is a script of package.json`)
})

t.test("every command of the tool the README shows is one the tool has", { timeout: 60_000 }, async (t) => {
  const help = execFileSync(process.execPath, ['--import', 'tsx', 'src/cli/main.ts', '--help'], { cwd: ROOT, encoding: 'utf8' })
  const commands = new Set([...help.matchAll(/^ {2}([a-z-]+) {2,}/gm)].map((match) => match[1]))
  t.ok(commands.size >= 10, `the tool lists ${commands.size} commands`)
  const shown = [...readme.matchAll(/(?:sojus-ledger|cli --|cli\/main\.js) ([a-z][a-z-]*)/g)]
    .map((match) => match[1] ?? '')
    // `docker run … sojus-ledger node dist/…`: the image's name, then the program it runs.
    .filter((word) => word !== 'node')
  t.ok(shown.length >= 5, `the README shows ${shown.length} uses of the tool`)
  for (const command of new Set(shown)) t.ok(commands.has(command), `${command} is a command of sojus-ledger`)
})
