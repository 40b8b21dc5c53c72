-- Views over the stage tables. `commit_facts` is the one row per commit that analyses read;
-- each stage adds its columns here. Re-created on every connect, so it always matches the tables.

CREATE OR REPLACE VIEW commit_evidence AS
SELECT
    a.repo,
    a.sha,
    bool_or(c.ai)                                            AS ai,
    bool_or(c.direct)                                        AS ai_direct,
    bool_or(NOT c.ai)                                        AS ai_suggestion,
    list_sort(list_distinct(list(a.tool) FILTER (WHERE c.ai))) AS ai_tools,
    -- strongest channel first (attribution_channels, from mining/channels.toml): the author is
    -- the tool > a co-author trailer names it > ...
    arg_min(a.channel, c.strength_order)                     AS ai_channel,
    list_sort(list_distinct(list(a.channel)))                AS ai_channels
FROM attributions a
LEFT JOIN attribution_channels c USING (channel)
GROUP BY a.repo, a.sha;

CREATE OR REPLACE VIEW commit_facts AS
SELECT
    c.repo,
    c.sha,
    c.authored_at,
    c.committed_at,
    c.is_merge,
    c.author_id,
    coalesce(k.author_kind, 'human')                AS author_kind,
    k.automation,
    k.automation_via,
    coalesce(k.scripted, false)                     AS scripted,
    k.template_id,
    coalesce(e.ai, false)                           AS ai,
    coalesce(e.ai_direct, false)                    AS ai_direct,
    coalesce(e.ai_suggestion, false)                AS ai_suggestion,
    coalesce(e.ai_tools, []::VARCHAR[])             AS ai_tools,
    CASE WHEN coalesce(e.ai, false) THEN e.ai_channel END AS ai_channel,
    coalesce(e.ai_channels, []::VARCHAR[])          AS ai_channels,
    c.files_changed,
    c.lines_added,
    c.lines_deleted,
    c.lines_added + c.lines_deleted                 AS churn,
    l.layer,
    l.p_boilerplate,
    l.p_refactor,
    l.p_feature,
    l.p_architectural,
    l.is_fix,
    l.model_version
FROM commits c
LEFT JOIN commit_evidence e USING (repo, sha)
LEFT JOIN commit_authors k USING (repo, sha)
LEFT JOIN commit_layers l USING (repo, sha);
