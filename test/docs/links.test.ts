import { existsSync, readdirSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { dirname, isAbsolute, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import t from 'tap'

/**
 * The documentation ships with the code: every relative link in README.md and docs/*.md must
 * lead to a file of this repository, and every #anchor to a heading of that file, as GitHub
 * renders it. A newcomer who clones the repository has nothing outside it.
 */

const ROOT = realpathSync(resolve(dirname(fileURLToPath(import.meta.url)), '../..'))

/** The documents whose links are checked, relative to the root. */
function documents(): string[] {
  const docs = readdirSync(join(ROOT, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`)
  return ['README.md', ...docs]
}

/** The lines of a Markdown file that are prose, not code: fenced blocks become empty lines. */
function proseLines(markdown: string): string[] {
  let fence: string | undefined
  return markdown.split(/\r?\n/).map((line) => {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1]
    if (fence === undefined) {
      if (marker !== undefined) {
        fence = marker
        return ''
      }
      return line
    }
    if (marker !== undefined && marker[0] === fence[0] && marker.length >= fence.length && line.trim() === marker) {
      fence = undefined
    }
    return ''
  })
}

/** Inline code spans hold no links: `[x](y)` inside backticks is text. */
const withoutCodeSpans = (line: string): string => line.replace(/(`+)(?:(?!\1)[\s\S])*?\1/g, (span) => ' '.repeat(span.length))

/** The text GitHub shows for a heading: links keep their text, markup characters go. */
function headingText(raw: string): string {
  return raw
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1')
    .replace(/<[^>]+>/g, '')
    .trim()
}

/**
 * GitHub's heading anchors (github-slugger): lower case; every character that is not a letter,
 * a number, a combining mark, a connector (`_`), a hyphen or a space is dropped; each space
 * becomes a hyphen. Umlauts are letters and stay. A repeated slug gets -1, -2, … appended.
 */
function githubSlug(text: string): string {
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-')
}

/** Every anchor a Markdown file offers: its headings' slugs and explicit HTML ids. */
function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>()
  const seen = new Map<string, number>()
  const add = (text: string) => {
    const base = githubSlug(headingText(text))
    const count = seen.get(base) ?? 0
    seen.set(base, count + 1)
    anchors.add(count === 0 ? base : `${base}-${count}`)
  }
  const lines = proseLines(markdown)
  for (const [index, line] of lines.entries()) {
    const atx = /^ {0,3}#{1,6}(?:\s+(.*?))?(?:\s+#+)?\s*$/.exec(line)
    if (atx) {
      add(atx[1] ?? '')
      continue
    }
    // A setext heading: a paragraph line underlined with = or - (not a table, list or rule).
    const previous = lines[index - 1]
    if (
      /^ {0,3}(=+|-+)\s*$/.test(line) &&
      previous !== undefined &&
      previous.trim() !== '' &&
      !/^ {0,3}(#|[-*+] |\d+[.)] |>|\|)/.test(previous) &&
      !previous.includes('|')
    ) {
      add(previous)
    }
    for (const match of line.matchAll(/<a\s[^>]*\b(?:id|name)="([^"]+)"/gi)) anchors.add(match[1] ?? '')
  }
  return anchors
}

interface Link {
  line: number
  target: string
}

/** Inline links and images `[text](target "title")` and reference definitions `[label]: target`. */
function linksOf(markdown: string): Link[] {
  const links: Link[] = []
  for (const [index, raw] of proseLines(markdown).entries()) {
    const line = withoutCodeSpans(raw)
    for (const match of line.matchAll(/\]\(\s*(<[^>]*>|[^\s)]*)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g)) {
      const target = match[1] ?? ''
      links.push({ line: index + 1, target: target.startsWith('<') ? target.slice(1, -1) : target })
    }
    const definition = /^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(line)
    if (definition?.[1] !== undefined) {
      const target = definition[1]
      links.push({ line: index + 1, target: target.startsWith('<') ? target.slice(1, -1) : target })
    }
  }
  return links
}

const isAbsoluteUrl = (target: string): boolean => /^(https?:\/\/|mailto:)/i.test(target)

/** Why a link is broken, or undefined when it leads to an existing file (and heading). */
function brokenReason(document: string, target: string): string | undefined {
  if (isAbsoluteUrl(target)) return undefined
  if (target === '') return 'the link has no target'
  if (/^[a-z][a-z0-9+.-]*:/i.test(target)) return 'only http(s):// and mailto: may leave the repository'
  const hash = target.indexOf('#')
  const pathPart = hash === -1 ? target : target.slice(0, hash)
  const anchorPart = hash === -1 ? undefined : target.slice(hash + 1)
  let path: string
  let anchor: string | undefined
  try {
    path = decodeURIComponent(pathPart)
    anchor = anchorPart === undefined ? undefined : decodeURIComponent(anchorPart)
  } catch {
    return 'the link is not valid percent-encoding'
  }
  if (path.includes('?')) return 'a link to a file takes no query'
  if (path.startsWith('/') || isAbsolute(path)) return 'use a path relative to the document, not an absolute one'

  const file = path === '' ? join(ROOT, document) : resolve(ROOT, dirname(document), path)
  const inside = (candidate: string) => {
    const fromRoot = relative(ROOT, candidate)
    return fromRoot !== '..' && !fromRoot.startsWith(`..${sep}`) && !isAbsolute(fromRoot)
  }
  if (!inside(file)) return 'the path leaves the repository'
  if (!existsSync(file)) return `${relative(ROOT, file)} does not exist`
  if (!inside(realpathSync(file))) return 'the path leads out of the repository through a link'
  if (!statSync(file).isFile()) return `${relative(ROOT, file)} is not a file`
  if (anchor === undefined) return undefined
  if (!file.endsWith('.md')) return `#${anchor}: anchors are checked in Markdown files only; link the file without one`
  if (anchor === '') return 'the anchor is empty'
  const anchors = anchorsOf(readFileSync(file, 'utf8'))
  if (!anchors.has(anchor)) return `${relative(ROOT, file)} has no heading with the anchor #${anchor}`
  return undefined
}

t.test('slugs follow GitHub', async (t) => {
  t.equal(githubSlug('Differences from the original contract'), 'differences-from-the-original-contract')
  t.equal(githubSlug('Sozialräume'), 'sozialräume', 'umlauts are kept')
  t.equal(githubSlug('Money and balances (Haushalt)'), 'money-and-balances-haushalt', 'punctuation is dropped')
  t.equal(githubSlug('GET /v1/budgets/{year}'), 'get-v1budgetsyear')
  t.equal(githubSlug('Rule 8: year close'), 'rule-8-year-close')
  t.equal(githubSlug('Two  spaces - and a dash'), 'two--spaces---and-a-dash', 'every space becomes a hyphen')
  t.equal(githubSlug('snake_case stays'), 'snake_case-stays')
  t.same([...anchorsOf('# A\n\n## A\n\n```\n# not a heading\n```\n\nB\n---\n')], ['a', 'a-1', 'b'])
  t.equal(headingText('The [event store](x.md) and `code`'), 'The event store and `code`')
})

t.test('links are found in prose, not in code', async (t) => {
  const markdown = [
    'See [one](a.md) and ![two](img/b.png "title") and [three](<c d.md#x>).',
    'Not `[code](nope.md)`.',
    '```',
    '[fenced](nope.md)',
    '```',
    '[ref]: ./e.md#y',
  ].join('\n')
  t.same(
    linksOf(markdown).map((link) => link.target),
    ['a.md', 'img/b.png', 'c d.md#x', './e.md#y'],
  )
})

t.test('the check refuses what a newcomer could not follow', async (t) => {
  t.equal(brokenReason('README.md', 'docs/api.md'), undefined)
  t.equal(brokenReason('README.md', 'https://example.org/x'), undefined)
  t.match(brokenReason('README.md', '../shared/API.md'), /leaves the repository/)
  t.match(brokenReason('docs/api.md', '../../x.md'), /leaves the repository/)
  t.match(brokenReason('README.md', '/etc/passwd'), /relative/)
  t.match(brokenReason('README.md', 'docs/nothing-here.md'), /does not exist/)
  t.match(brokenReason('README.md', 'docs'), /not a file/)
  t.match(brokenReason('README.md', '#no-such-heading-anywhere'), /no heading/)
  t.match(brokenReason('README.md', 'file:///etc/passwd'), /only http/)
})

t.test('the documentation ships with the code', async (t) => {
  for (const required of ['docs/domain.md', 'docs/api.md', 'docs/architecture.md']) {
    t.ok(existsSync(join(ROOT, required)), `${required} exists`)
  }
})

for (const document of documents()) {
  t.test(`${document}: every relative link resolves inside the repository`, async (t) => {
    const links = linksOf(readFileSync(join(ROOT, document), 'utf8'))
    let checked = 0
    for (const link of links) {
      if (isAbsoluteUrl(link.target)) continue
      checked += 1
      const reason = brokenReason(document, link.target)
      t.equal(reason, undefined, `${document}:${link.line} (${link.target})${reason === undefined ? '' : `: ${reason}`}`)
    }
    if (document !== 'README.md' || checked > 0) t.pass(`${checked} relative links checked`)
    else t.fail('README.md links to nothing in the repository: where did the documentation go?')
  })
}
