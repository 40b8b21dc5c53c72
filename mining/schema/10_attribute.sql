-- Stage: attribute (mining/attribute.py). Evidence of AI tools in commit metadata.
-- One row per piece of evidence; `evidence` is the matched identity or trailer key/value,
-- never the message.

CREATE TABLE IF NOT EXISTS attributions (
    repo     VARCHAR NOT NULL,
    sha      VARCHAR NOT NULL,
    tool     VARCHAR NOT NULL,   -- catalog id, e.g. claude-code, copilot-agent, aider
    channel  VARCHAR NOT NULL,   -- identity | co-author | disclosure | session | marker | prefix | branch | suggestion
    field    VARCHAR NOT NULL,   -- where it was found: author, committer, trailer:<key>, line, subject, merge:<sha>
    evidence VARCHAR NOT NULL
);

-- Who authored each commit, by kind: human | ai_agent | automation (non-AI bots).
CREATE TABLE IF NOT EXISTS commit_authors (
    repo        VARCHAR NOT NULL,
    sha         VARCHAR NOT NULL,
    author_kind VARCHAR NOT NULL,
    automation  VARCHAR,          -- which non-AI automation matched, if any
    PRIMARY KEY (repo, sha)
);

CREATE TABLE IF NOT EXISTS adoption_markers (
    repo       VARCHAR NOT NULL,
    path       VARCHAR NOT NULL,
    tool       VARCHAR NOT NULL,
    added_sha  VARCHAR NOT NULL,
    added_at   TIMESTAMPTZ,
    removed_at TIMESTAMPTZ
);
