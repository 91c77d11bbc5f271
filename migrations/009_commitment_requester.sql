-- Who asked for what waits for approval (docs/domain.md rule 6: they may not approve it
-- themselves): the requester of a `requested` commitment, NULL otherwise. Not always who created
-- it: an increase asked for by another team lead, or a commitment carried in by a year close.

-- projection: commitments
ALTER TABLE commitments ADD COLUMN requested_by TEXT;
-- The rows written before know no requester: the projection replays from the start and fills it
-- (as `rebuild commitments` would; projections/runner.ts, resetProjection).
UPDATE projection_checkpoints SET position = 0 WHERE name = 'commitments';
DELETE FROM commitment_invoices;
DELETE FROM commitments;
