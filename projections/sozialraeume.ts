import { sql, type Projection } from './projection.js'

export const sozialraeumeProjection: Projection = {
  name: 'sozialraeume',
  tables: ['sozialraeume'],
  project({ event, metadata }) {
    switch (event.type) {
      case 'SozialraumRegistered':
        return [
          sql(
            'INSERT INTO sozialraeume (id, name, status, opened_at) VALUES (?, ?, ?, ?)',
            event.data.sozialraumId,
            event.data.name,
            event.data.status,
            metadata.recordedAt,
          ),
        ]
      case 'SozialraumStatusChanged':
        return [sql('UPDATE sozialraeume SET status = ? WHERE id = ?', event.data.status, event.data.sozialraumId)]
      default:
        return []
    }
  },
}
