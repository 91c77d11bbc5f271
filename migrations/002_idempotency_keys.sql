-- projection: idempotency-keys
-- Which write each idempotency key was used for, per actor, so that a key reused for another
-- request on another stream is refused. (Reuse on the same stream is caught from the stream itself.)
CREATE TABLE idempotency_keys (
  actor_sub       TEXT   NOT NULL,
  idempotency_key TEXT   NOT NULL,
  stream_id       TEXT   NOT NULL,
  request_hash    TEXT,
  position        BIGINT NOT NULL,
  PRIMARY KEY (actor_sub, idempotency_key)
);
