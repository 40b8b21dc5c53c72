-- Stage: crawl (mining/crawl.py). One streamed `git log` per repository.
-- Every table is keyed by (repo, sha); a repository's rows are replaced in one transaction,
-- so readers see a repository either as before a crawl or fully updated.

CREATE TABLE IF NOT EXISTS repos (
    repo            VARCHAR PRIMARY KEY,  -- owner/name for hosted repos, folder name otherwise
    source          VARCHAR NOT NULL,     -- what the user named: path or clone URL
    git_dir         VARCHAR,              -- local git directory read (mirror, clone or work tree)
    rev             VARCHAR NOT NULL,     -- revision asked for (HEAD unless --rev / corpus pin)
    head_sha        VARCHAR,              -- commit the revision resolved to when crawled
    crawled_at      TIMESTAMPTZ NOT NULL,
    n_commits       INTEGER NOT NULL,
    n_file_changes  BIGINT NOT NULL,
    n_missing_blobs INTEGER NOT NULL,     -- file rows whose line counts are unknown (partial clone)
    tags            VARCHAR[],            -- free tags from the corpus manifest
    language        VARCHAR,              -- main language (corpus manifest), NULL if not given
    role            VARCHAR,              -- study | control (corpus manifest), NULL if not given
    strata_version  VARCHAR NOT NULL
);

CREATE TABLE IF NOT EXISTS commits (
    repo               VARCHAR NOT NULL,
    sha                VARCHAR NOT NULL,
    parents            VARCHAR[] NOT NULL,
    is_merge           BOOLEAN NOT NULL,   -- two or more parents
    author_id          VARCHAR NOT NULL,   -- pseudonymous: hash of the mailmapped, lowercased email
    committer_id       VARCHAR NOT NULL,
    authored_at        TIMESTAMPTZ,        -- instant; NULL when git's date is outside 0001-9999
    author_tz_offset   INTEGER,            -- minutes east of UTC as recorded by git
    committed_at       TIMESTAMPTZ,
    committer_tz_offset INTEGER,
    authored_epoch     BIGINT,             -- raw seconds as stored in the commit (any range)
    committed_epoch    BIGINT,
    files_changed      INTEGER NOT NULL,   -- file rows (merges: 0, git log's default)
    lines_added        BIGINT NOT NULL,    -- text files only; binary and unreadable rows count 0
    lines_deleted      BIGINT NOT NULL,
    n_binary           INTEGER NOT NULL,
    n_missing_blobs    INTEGER NOT NULL,
    topo_index         INTEGER NOT NULL,   -- 0 = newest, in `git rev-list` order at crawl time
    on_first_parent    BOOLEAN NOT NULL,   -- on HEAD's first-parent chain (else inside a merged branch)
    integration_mode   VARCHAR NOT NULL,   -- squash_pr | merged_branch | merge | direct
    pr_number          INTEGER,            -- from a subject ending "(#123)" or "Merge pull request #123"
    PRIMARY KEY (repo, sha)
);

CREATE TABLE IF NOT EXISTS file_changes (
    repo          VARCHAR NOT NULL,
    sha           VARCHAR NOT NULL,
    path          VARCHAR NOT NULL,   -- new path (old path for deletions); undecodable bytes as \xNN
    old_path      VARCHAR,            -- set for renames and copies
    change_type   VARCHAR NOT NULL,   -- A, M, D, R, C, T (git's raw status letter)
    similarity    SMALLINT,           -- rename/copy score (0-100)
    lines_added   INTEGER,            -- NULL for binary files and missing blobs
    lines_deleted INTEGER,
    is_binary     BOOLEAN NOT NULL,
    blob_missing  BOOLEAN NOT NULL,   -- a blob this row needs is absent (partial clone)
    old_mode      VARCHAR,
    new_mode      VARCHAR,
    old_blob      VARCHAR,
    new_blob      VARCHAR
);

-- Identities and messages: kept locally so that attribution and features can read them;
-- a release leaves both tables out.
CREATE TABLE IF NOT EXISTS identities (
    repo           VARCHAR NOT NULL,
    sha            VARCHAR NOT NULL,
    author_name    VARCHAR NOT NULL,
    author_email   VARCHAR NOT NULL,
    committer_name VARCHAR NOT NULL,
    committer_email VARCHAR NOT NULL,
    mailmap_author_name  VARCHAR NOT NULL,  -- after the repository's .mailmap
    mailmap_author_email VARCHAR NOT NULL,
    PRIMARY KEY (repo, sha)
);

CREATE TABLE IF NOT EXISTS messages (
    repo        VARCHAR NOT NULL,
    sha         VARCHAR NOT NULL,
    message     VARCHAR NOT NULL,   -- full text; invalid UTF-8 bytes replaced by U+FFFD
    bad_utf8    BOOLEAN NOT NULL,   -- the raw bytes were not valid UTF-8
    PRIMARY KEY (repo, sha)
);

-- Provenance: one row per stage run.
CREATE TABLE IF NOT EXISTS runs (
    run_id      VARCHAR PRIMARY KEY,
    stage       VARCHAR NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    strata_version VARCHAR NOT NULL,
    args        VARCHAR
);
