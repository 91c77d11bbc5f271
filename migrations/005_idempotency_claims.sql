-- Idempotency keys claimed with the events they wrote (src/eventstore/port.ts, AppendOptions).
-- The SQLite and PostgreSQL event stores keep this table beside their events and fill it in the
-- append's own transaction (they create it themselves; here it already exists). With KurrentDB,
-- which appends to one stream at a time, the claim is taken here, in the read models' database,
-- before the append (src/eventstore/sql-claims.ts).
CREATE TABLE IF NOT EXISTS idempotency_claims (
  scope        TEXT NOT NULL,
  key          TEXT NOT NULL,
  stream_id    TEXT NOT NULL,
  request_hash TEXT,
  PRIMARY KEY (scope, key)
);
