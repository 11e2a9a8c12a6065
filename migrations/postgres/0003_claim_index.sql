-- The claim walks pending operations in id order (see migrations/sqlite/0003_claim_index.sql).
CREATE INDEX operations_claim ON operations (state, id);
DROP INDEX operations_due;
DROP INDEX operations_resource;
