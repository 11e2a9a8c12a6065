-- Whether a pending operation waits on an Identity Center task it started or follows (the
-- status page's "waiting" bucket), recorded by the engine instead of read from the wording of
-- its note. Operations already waiting when this runs are recognised by that wording once.
ALTER TABLE operations ADD COLUMN waiting_on_task BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE operations SET waiting_on_task = TRUE
 WHERE state = 'pending'
   AND (result LIKE 'waiting for task%' OR result LIKE 'following running task%'
        OR result LIKE 'started task%' OR result LIKE 'started % assignment tasks');
