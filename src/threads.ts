import { Worker } from 'node:worker_threads'

/**
 * Starts a worker thread on the module `name` beside the module at `besides` (the caller's
 * import.meta.url). Built, that is the .js file. Run from source (tsx, in tests and `npm run
 * dev`), it is the .ts file, which a worker thread loads only once tsx's loader is registered in it.
 */
export function startWorker(besides: string, name: string, workerData: unknown): Worker {
  if (!besides.endsWith('.ts')) return new Worker(new URL(`./${name}.js`, besides), { workerData })
  const source = new URL(`./${name}.ts`, besides).href
  const bootstrap = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(source)}) })`
  return new Worker(bootstrap, { eval: true, workerData })
}
