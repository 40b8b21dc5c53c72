-- Dataset views (documented in README "Querying the dataset" and the release's DATASET.md).
-- Built on commit_facts, so they work the same on a crawled database and on one loaded from a
-- release (where messages and identities exist but are empty).

-- Share of each layer among non-merge, classified commits, by repository role (study |
-- control) and AI evidence. Automation (non-AI bots) is left out; `ai` excludes suggestions.
CREATE OR REPLACE VIEW layer_shares AS
SELECT
    coalesce(r.role, 'unknown')                       AS role,
    f.ai,
    f.layer,
    count(*)                                          AS commits,
    count(*) / sum(count(*)) OVER (PARTITION BY coalesce(r.role, 'unknown'), f.ai) AS share
FROM commit_facts f
LEFT JOIN repos r USING (repo)
WHERE NOT f.is_merge AND f.layer IS NOT NULL AND f.author_kind <> 'automation'
GROUP BY 1, 2, 3;

-- Non-merge commits per calendar month (UTC, author date) and how many carry AI evidence.
CREATE OR REPLACE VIEW ai_by_month AS
SELECT
    date_trunc('month', authored_at)::DATE            AS month,
    count(*)                                          AS commits,
    count(*) FILTER (WHERE ai)                        AS ai_commits,
    count(*) FILTER (WHERE ai_direct)                 AS ai_direct_commits,
    count(DISTINCT repo) FILTER (WHERE ai)            AS repos_with_ai,
    count(*) FILTER (WHERE ai) / count(*)             AS ai_share
FROM commit_facts
WHERE NOT is_merge AND authored_at IS NOT NULL
GROUP BY 1;

-- One row per tool: commits and repositories with its evidence, the channels it was seen in,
-- first and last author date, and the layer mix of its (non-merge, classified) commits.
CREATE OR REPLACE VIEW tool_summary AS
WITH t AS (
    -- a channel that is not AI evidence (attribution_channels.ai, from mining/channels.toml)
    SELECT DISTINCT a.repo, a.sha, a.tool, coalesce(NOT c.ai, false) AS suggestion_only
    FROM attributions a
    LEFT JOIN attribution_channels c USING (channel)
),
per AS (
    SELECT t.tool, t.repo, t.sha, bool_and(t.suggestion_only) AS suggestion_only
    FROM t GROUP BY ALL
),
ch AS (
    SELECT tool, list_sort(list(DISTINCT channel)) AS channels FROM attributions GROUP BY tool
)
SELECT
    p.tool,
    count(*)                                          AS commits,
    count(*) FILTER (WHERE NOT p.suggestion_only)     AS ai_commits,
    count(DISTINCT p.repo)                            AS repos,
    any_value(ch.channels)                            AS channels,
    min(f.authored_at)                                AS first_seen,
    max(f.authored_at)                                AS last_seen,
    count(f.layer)                                    AS classified,
    count(*) FILTER (WHERE f.layer = 'boilerplate') / nullif(count(f.layer), 0)   AS share_boilerplate,
    count(*) FILTER (WHERE f.layer = 'refactor') / nullif(count(f.layer), 0)      AS share_refactor,
    count(*) FILTER (WHERE f.layer = 'feature') / nullif(count(f.layer), 0)       AS share_feature,
    count(*) FILTER (WHERE f.layer = 'architectural') / nullif(count(f.layer), 0) AS share_architectural
FROM per p
JOIN commit_facts f USING (repo, sha)
JOIN ch USING (tool)
GROUP BY p.tool;
