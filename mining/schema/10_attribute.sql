-- Stage: attribute (mining/attribute.py). Evidence of AI tools in commit metadata.
-- One row per piece of evidence; `evidence` is the matched identity or trailer key/value,
-- never the message.

CREATE TABLE IF NOT EXISTS attributions (
    repo     VARCHAR NOT NULL,
    sha      VARCHAR NOT NULL,
    tool     VARCHAR NOT NULL,   -- catalog id, e.g. claude-code, copilot-agent, aider
    channel  VARCHAR NOT NULL,   -- one of attribution_channels.channel (mining/channels.toml)
    field    VARCHAR NOT NULL,   -- where it was found: author, committer, trailer:<key>, line, subject, merge:<sha>
    evidence VARCHAR NOT NULL
);

-- The channels of `attributions.channel`, strongest first. A lookup table, not data: the store
-- refills it from mining/channels.toml (the one definition) on every writable connect, so the
-- views below rank and group channels exactly as mining/attribute.py names them.
CREATE TABLE IF NOT EXISTS attribution_channels (
    channel        VARCHAR PRIMARY KEY,
    strength_order INTEGER NOT NULL,  -- 1 = strongest evidence
    ai             BOOLEAN NOT NULL,  -- a tool wrote the change (false: a review suggestion)
    direct         BOOLEAN NOT NULL,  -- commit-level evidence (false: pull-request-level branch)
    description    VARCHAR NOT NULL
);

-- Who authored each commit, by kind: human | ai_agent | automation (non-AI bots, bot
-- committers acting for a person, tool auto-commits and reviewed automation templates).
CREATE TABLE IF NOT EXISTS commit_authors (
    repo        VARCHAR NOT NULL,
    sha         VARCHAR NOT NULL,
    author_kind VARCHAR NOT NULL,
    automation  VARCHAR,          -- which non-AI automation matched (catalog name), if any
    PRIMARY KEY (repo, sha)
);
-- Added after the first release: ADD COLUMN IF NOT EXISTS keeps older databases usable.
-- automation_via: author | committer | subject (mining.attribute.AUTOMATION_VIA)
ALTER TABLE commit_authors ADD COLUMN IF NOT EXISTS automation_via VARCHAR;
-- scripted: the masked subject repeats >= scripted.min_commits times in the repository
ALTER TABLE commit_authors ADD COLUMN IF NOT EXISTS scripted BOOLEAN;
-- template_id: the detected template the commit belongs to (NULL unless scripted)
ALTER TABLE commit_authors ADD COLUMN IF NOT EXISTS template_id VARCHAR;

-- Subject templates repeated in a repository (mining/subject_templates.py): one row per
-- detected template. `template` is masked subject text: local only, never released.
CREATE TABLE IF NOT EXISTS commit_templates (
    repo        VARCHAR NOT NULL,
    template_id VARCHAR NOT NULL,  -- first 16 hex of sha256 of the template text
    n_commits   INTEGER NOT NULL,  -- non-merge commits with this template
    n_human     INTEGER NOT NULL,  -- of which human by identity (author and committer)
    n_authors   INTEGER NOT NULL,  -- distinct author emails
    first_at    TIMESTAMPTZ,       -- first and last author date
    last_at     TIMESTAMPTZ,
    kind        VARCHAR,           -- reviewed: automation | chore; NULL = not reviewed
    rule        VARCHAR,           -- catalog [[templates]] rule that decided it
    template    VARCHAR,           -- the masked subject (local only; NULL when loaded from a release)
    PRIMARY KEY (repo, template_id)
);

CREATE TABLE IF NOT EXISTS adoption_markers (
    repo       VARCHAR NOT NULL,
    path       VARCHAR NOT NULL,
    tool       VARCHAR NOT NULL,
    added_sha  VARCHAR NOT NULL,
    added_at   TIMESTAMPTZ,
    removed_at TIMESTAMPTZ
);
