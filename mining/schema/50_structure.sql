-- Stage: structure (mining/structure.py). One row per non-merge commit: structural-change events
-- read from the commit's file list, the trees of the commit and its first parent, and a few
-- blobs, never from a model or from authorship. Definitions: mining/structure_events.toml;
-- precision and recall against the labelled set: docs/structure.md.

CREATE TABLE IF NOT EXISTS commit_structure (
    repo VARCHAR NOT NULL,
    sha VARCHAR NOT NULL,
    structure_version VARCHAR NOT NULL,
    module_added BOOLEAN NOT NULL,      -- a new folder holding >= 2 added source files
    module_removed BOOLEAN NOT NULL,    -- a folder emptied of >= 2 source files
    code_moved BOOLEAN NOT NULL,        -- >= 3 source files renamed into another folder
    public_interface BOOLEAN NOT NULL,  -- a public definition added, removed or re-signed
    contract_changed BOOLEAN NOT NULL,  -- migration, schema, .proto, OpenAPI, GraphQL, ... touched
    dependency_added BOOLEAN NOT NULL,  -- a new runtime dependency name in a manifest
    topology_changed BOOLEAN NOT NULL,  -- a new container, service, CI workflow or job
    n_events BIGINT NOT NULL,           -- how many of the seven events hold
    PRIMARY KEY (repo, sha)
);
