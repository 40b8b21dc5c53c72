-- Stage: build (mining/build.py). One row per repository that `strata build` finished, so that a
-- killed build resumes where it stopped: a repository is skipped when its pinned head, the
-- features version and the classifier version all match. Local bookkeeping; not released.

CREATE TABLE IF NOT EXISTS build_state (
    repo             VARCHAR PRIMARY KEY,
    rev              VARCHAR NOT NULL,   -- revision the corpus asked for
    head_sha         VARCHAR NOT NULL,   -- commit it resolved to
    features_version VARCHAR NOT NULL,
    model_version    VARCHAR,            -- NULL: classify skipped (no model); rerun fills it
    n_commits        BIGINT NOT NULL,
    n_featured       BIGINT NOT NULL,
    n_classified     BIGINT NOT NULL,
    n_ai_commits     BIGINT NOT NULL,
    crawl_seconds    DOUBLE NOT NULL,    -- crawl + attribution (attribution runs inside crawl)
    features_seconds DOUBLE NOT NULL,
    classify_seconds DOUBLE NOT NULL,
    peak_rss_mb      DOUBLE,             -- of the process that built the repository
    skipped          VARCHAR,            -- JSON {reason: commits}
    finished_at      TIMESTAMPTZ NOT NULL
);
