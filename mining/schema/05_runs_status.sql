-- runs: how each stage run ended. Added after the first release, so as ALTERs: an existing
-- database gains the columns on its next writable connect (NULL for runs recorded before).
-- status: 'running' until the run ends, then 'finished' | 'failed' | 'interrupted';
-- error: the first line of what failed (a crawl that stored some repositories and not others
-- is 'failed', with each failed repository named).
ALTER TABLE runs ADD COLUMN IF NOT EXISTS status VARCHAR;
ALTER TABLE runs ADD COLUMN IF NOT EXISTS error VARCHAR;
