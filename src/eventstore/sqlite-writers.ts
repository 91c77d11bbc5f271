import type Database from 'better-sqlite3'
import type { Worker } from 'node:worker_threads'
import { startWorker } from '../threads.js'
import { MAX_GROUP_COMMIT, SqliteAppender, fromWire, type AppendRequest } from './sqlite-appender.js'
import { SQLITE_STORE } from './sqlite-errors.js'
import type { AppendResult } from './port.js'
import type { WriterData, WriterReply, WriterRequest } from './sqlite-writer.js'

/** What the SQLite event store writes through: a worker thread of its own, or the event loop. */
export interface SqliteWriter {
  /** Resolves once the append is committed (fsync'd); `written` is false for a retried append. */
  append(append: AppendRequest): Promise<{ result: AppendResult; written: boolean }>
  /** A PRAGMA on the write connection (tests fill the disk with `max_page_count`). */
  pragma(pragma: string): Promise<unknown>
  /** Commits what was accepted, then lets go of the connection. */
  close(): Promise<void>
}

interface Waiting {
  resolve: (value: { result: AppendResult; written: boolean }) => void
  reject: (error: unknown) => void
}

/**
 * The writer on a worker thread (src/eventstore/sqlite-writer.ts): appends go over as messages and
 * are committed there in groups, while this thread serves requests. The worker holds the process
 * open only while appends wait for it.
 */
export class ThreadWriter implements SqliteWriter {
  private readonly worker: Worker
  private readonly waiting = new Map<number, Waiting>()
  private readonly pragmas = new Map<number, Waiting>()
  private nextId = 1
  /** Appends of this turn of the event loop: they go over as one message, and commit as one group. */
  private outbox: Array<{ id: number; append: AppendRequest }> = []
  private stopped: Error | undefined
  private closing = false
  private readonly exited: Promise<void>

  constructor(path: string) {
    this.worker = startWorker(import.meta.url, 'sqlite-writer', { path } satisfies WriterData)
    this.worker.unref()
    this.worker.on('message', (reply: WriterReply) => this.receive(reply))
    this.worker.on('error', (error) => this.stop(new Error(`the SQLite writer thread failed: ${error.message}`, { cause: error })))
    this.exited = new Promise((resolve) => this.worker.once('exit', () => resolve()))
    void this.exited.then(() => this.stop(new Error('the SQLite writer thread has stopped')))
  }

  append(append: AppendRequest): Promise<{ result: AppendResult; written: boolean }> {
    if (this.stopped) return Promise.reject(this.stopped)
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      if (this.waiting.size === 0) this.worker.ref()
      this.waiting.set(id, { resolve, reject })
      this.outbox.push({ id, append })
      if (this.outbox.length === 1) setImmediate(this.send)
    })
  }

  private readonly send = (): void => {
    const appends = this.outbox
    this.outbox = []
    if (appends.length > 0) this.worker.postMessage({ type: 'append', appends } satisfies WriterRequest)
  }

  pragma(pragma: string): Promise<unknown> {
    if (this.stopped) return Promise.reject(this.stopped)
    const id = this.nextId++
    return new Promise((resolve, reject) => {
      this.worker.ref()
      this.pragmas.set(id, { resolve: resolve as Waiting['resolve'], reject })
      this.send()
      this.worker.postMessage({ type: 'pragma', id, pragma } satisfies WriterRequest)
    })
  }

  async close(): Promise<void> {
    if (!this.stopped && !this.closing) {
      this.closing = true
      this.send()
      this.worker.ref()
      this.worker.postMessage({ type: 'close' } satisfies WriterRequest)
    }
    await this.exited
  }

  private receive(reply: WriterReply): void {
    if (reply.type === 'appended') {
      for (const outcome of reply.outcomes) {
        const waiting = this.waiting.get(outcome.id)
        this.waiting.delete(outcome.id)
        if ('error' in outcome) waiting?.reject(fromWire(outcome.error, SQLITE_STORE))
        else waiting?.resolve({ result: outcome.result, written: outcome.written })
      }
    } else if (reply.type === 'pragma') {
      const waiting = this.pragmas.get(reply.id)
      this.pragmas.delete(reply.id)
      if (reply.error) waiting?.reject(fromWire(reply.error, SQLITE_STORE))
      else waiting?.resolve(reply.value as never)
    } else if (reply.type === 'failed-to-open') {
      this.stop(fromWire(reply.error, SQLITE_STORE))
    }
    if (this.waiting.size === 0 && this.pragmas.size === 0 && !this.closing) this.worker.unref()
  }

  /** The thread is gone: every append waiting fails, and so does every later one. */
  private stop(error: Error): void {
    this.stopped ??= error
    for (const waiting of [...this.waiting.values(), ...this.pragmas.values()]) waiting.reject(this.stopped)
    this.waiting.clear()
    this.pragmas.clear()
  }
}

/**
 * The writer on the event loop, for a database in memory (which another thread cannot open):
 * appends that arrive during one turn commit together in the next.
 */
export class InlineWriter implements SqliteWriter {
  private readonly appender: SqliteAppender
  private pending: Array<{ append: AppendRequest } & Waiting> = []
  private flushScheduled = false

  constructor(private readonly db: Database.Database) {
    this.appender = new SqliteAppender(db)
  }

  append(append: AppendRequest): Promise<{ result: AppendResult; written: boolean }> {
    return new Promise((resolve, reject) => {
      this.pending.push({ append, resolve, reject })
      if (!this.flushScheduled) {
        this.flushScheduled = true
        setImmediate(this.flush)
      }
    })
  }

  async pragma(pragma: string): Promise<unknown> {
    return this.db.pragma(pragma)
  }

  async close(): Promise<void> {
    while (this.pending.length > 0) this.flush()
  }

  private readonly flush = (): void => {
    this.flushScheduled = false
    const group = this.pending.splice(0, MAX_GROUP_COMMIT)
    if (this.pending.length > 0) {
      this.flushScheduled = true
      setImmediate(this.flush)
    }
    if (group.length === 0) return
    // The appender answers every append of the group, in order (SqliteAppender.commit).
    for (const [index, outcome] of this.appender.commit(group.map((item) => item.append)).entries()) {
      const item = group[index]!
      if (outcome.ok) item.resolve({ result: outcome.result, written: outcome.written })
      else item.reject(outcome.error)
    }
  }
}
