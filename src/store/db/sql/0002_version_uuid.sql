-- 0002: every version gets a uuid, so the API can address one version directly
-- (`GET /api/v1/versions/{uuid}`), as units, assets and links already are.
-- Existing rows get random (v4-shaped) uuids; new rows get v7 from the code.
ALTER TABLE version ADD COLUMN uuid TEXT;
UPDATE version SET uuid = lower(
    hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' || substr(hex(randomblob(2)), 2) || '-'
    || substr('89ab', 1 + abs(random() % 4), 1) || substr(hex(randomblob(2)), 2) || '-'
    || hex(randomblob(6)));
CREATE UNIQUE INDEX version_uuid ON version (uuid);
