-- Views over the stage tables. `commit_facts` is the one row per commit that analyses read;
-- each stage adds its columns here. Re-created on every connect, so it always matches the tables.

CREATE OR REPLACE VIEW commit_evidence AS
SELECT
    repo,
    sha,
    bool_or(channel <> 'suggestion')                         AS ai,
    bool_or(channel NOT IN ('suggestion', 'branch'))         AS ai_direct,
    bool_or(channel = 'suggestion')                          AS ai_suggestion,
    list_sort(list_distinct(list(tool) FILTER (WHERE channel <> 'suggestion'))) AS ai_tools,
    -- strongest channel first: the author is the tool > a co-author trailer names it > ...
    arg_min(channel, CASE channel
        WHEN 'identity'   THEN 1 WHEN 'co-author' THEN 2 WHEN 'session' THEN 3
        WHEN 'disclosure' THEN 4 WHEN 'marker'    THEN 5 WHEN 'prefix'  THEN 6
        WHEN 'branch'     THEN 7 ELSE 8 END)                 AS ai_channel,
    list_sort(list_distinct(list(channel)))                  AS ai_channels
FROM attributions
GROUP BY repo, sha;

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
