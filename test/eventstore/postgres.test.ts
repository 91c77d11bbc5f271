import t from 'tap'
import { openTestStore, skipWithoutPostgres } from '../helpers/postgres.js'
import { eventStoreContract } from './contract.js'

const skip = await skipWithoutPostgres()

if (skip) t.test("postgres event store", { skip }, () => {})
else {
  await eventStoreContract(t, { name: 'postgres', open: () => openTestStore() })
}
