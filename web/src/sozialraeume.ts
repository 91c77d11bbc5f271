import { useMemo } from 'preact/hooks'
import { useApp } from './app'
import { useLoad, type Loaded } from './components'
import type { Sozialraum } from './types'

/** Sozialraum id → its name, for labels. */
export type Names = ReadonlyMap<string, string>

/** A Sozialraum's name; its id while the names load, or when it is not registered. */
export const nameOf = (names: Names, sozialraum: string): string => names.get(sozialraum) ?? sozialraum

/** The registered Sozialräume (every role may read them) and their names. */
export function useSozialraeume(): { loaded: Loaded<{ items: Sozialraum[] }>; names: Names } {
  const { api } = useApp()
  const loaded = useLoad(() => api.get<{ items: Sozialraum[] }>('/v1/sozialraeume'), [])
  const names = useMemo(() => new Map((loaded.data?.items ?? []).map((s) => [s.id, s.name])), [loaded.data])
  return { loaded, names }
}
